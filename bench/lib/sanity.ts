/**
 * One CreateCertificate before timing, checked end to end, so a benchmark of
 * a server that answers wrongly (or refuses everything) says so up front.
 */
import { X509Certificate } from "node:crypto";
import { IstioCaClient } from "../../src/csr-service/client.js";
import type { LoadItem, LoadTarget } from "./load-protocol.js";

export async function checkOneIssuance(target: LoadTarget, item: LoadItem): Promise<void> {
  const client = new IstioCaClient({
    address: target.address,
    rootsPem: target.rootsPem,
    serverName: target.serverName,
  });
  try {
    const chain = await client.createCertificate({ csr: item.csr, token: item.token, deadlineMs: 10_000 });
    const leafPem = chain[0];
    const rootPem = chain[chain.length - 1];
    if (chain.length < 2 || leafPem === undefined || rootPem === undefined)
      throw new Error(`chain of ${chain.length} elements`);
    const leaf = new X509Certificate(leafPem);
    const root = new X509Certificate(target.rootsPem);
    if (!new X509Certificate(rootPem).raw.equals(root.raw))
      throw new Error("the chain does not end with the data dir's root");
    if (!leaf.checkIssued(root) || !leaf.verify(root.publicKey))
      throw new Error("the leaf does not verify against the root");
    if (!leaf.subjectAltName?.includes("URI:spiffe://"))
      throw new Error(`the leaf has no SPIFFE URI SAN (${leaf.subjectAltName})`);
  } finally {
    client.close();
  }
}
