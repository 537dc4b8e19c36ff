/**
 * The whole ACME issuance flow the engine will drive step by step, written
 * out once for the Pebble tests: order, HTTP-01 through meshsign's solver
 * listener (self-checked first), finalize with a CSR from src/pki, download,
 * and check what came back before returning it.
 */
import { type KeyObject, X509Certificate } from "node:crypto";
import {
  type AcmeClient,
  type AcmeOrder,
  acceptChallenge,
  type DownloadedChain,
  downloadCertificate,
  finalizeOrder,
  getAuthorization,
  type IssuedCertificate,
  keyAuthorization,
  newOrder,
  orderIdentifiers,
  selfCheck,
  verifyIssued,
  waitAuthorization,
  waitOrder,
} from "../../../src/acme/index.js";
import { buildCsrDer, decodePemAll, generateKeySync, publicKeySpki } from "../../../src/pki/index.js";

/** Token -> the challenge's name and key authorization: what the solver listener serves. */
export const challenges = new Map<string, { readonly dnsName: string; readonly keyAuthorization: string }>();

/** The solver's lookup: answers only when the Host is the challenge's own name (as Pebble's VA sends it). */
export function lookupChallenge(token: string, host: string | undefined): string | undefined {
  const c = challenges.get(token);
  return c !== undefined && c.dnsName === host ? c.keyAuthorization : undefined;
}

export interface Issued {
  readonly order: AcmeOrder;
  readonly chain: DownloadedChain;
  readonly checked: IssuedCertificate;
  readonly leafKey: KeyObject;
  readonly leafDer: Uint8Array;
}

export interface IssueOptions {
  readonly solverPort: number;
  readonly roots: readonly string[];
  readonly profile?: string;
  readonly preferredChain?: string;
  readonly replaces?: string;
}

const DEADLINE_MS = 30_000;

/** Solves every pending authorization of `order` over HTTP-01; rejects with the first failure. */
export async function solveAuthorizations(
  client: AcmeClient,
  order: AcmeOrder,
  solverPort: number,
): Promise<void> {
  await Promise.all(
    order.authorizations.map(async (url) => {
      const authz = await getAuthorization(client, url);
      if (authz.status === "valid") return;
      const challenge = authz.challenges.find((c) => c.type === "http-01");
      if (challenge?.token === undefined)
        throw new Error(`no http-01 challenge for ${authz.identifier.value}`);
      const ka = await keyAuthorization(challenge.token, client.accountKey);
      challenges.set(challenge.token, { dnsName: authz.identifier.value, keyAuthorization: ka });
      try {
        // The names resolve to 127.0.0.1 only inside Pebble's DNS: connect there directly.
        await selfCheck({
          dnsName: authz.identifier.value,
          token: challenge.token,
          keyAuthorization: ka,
          port: solverPort,
          connectAddress: "127.0.0.1",
        });
        await acceptChallenge(client, challenge);
        await waitAuthorization(client, url, client.now() + DEADLINE_MS);
      } finally {
        challenges.delete(challenge.token);
      }
    }),
  );
}

export async function issue(client: AcmeClient, dnsNames: string[], options: IssueOptions): Promise<Issued> {
  const identifiers = orderIdentifiers({ dnsNames });
  const order = await newOrder(client, {
    identifiers,
    ...(options.profile === undefined ? {} : { profile: options.profile }),
    ...(options.replaces === undefined ? {} : { replaces: options.replaces }),
  });
  await solveAuthorizations(client, order, options.solverPort);
  const ready = await waitOrder(client, order.url, ["ready", "valid"], client.now() + DEADLINE_MS);
  const leafKey = generateKeySync({ type: "ec", curve: "P-256" });
  const csr = buildCsrDer(leafKey, { subject: [], dnsNames });
  const valid = await finalizeOrder(client, ready, csr, client.now() + DEADLINE_MS);
  const chain = await downloadCertificate(client, valid.certificate as string, options.preferredChain);
  const checked = verifyIssued({
    chainPem: chain.pem,
    csrPublicKeySpki: publicKeySpki(leafKey),
    identifiers,
    at: new Date(),
    roots: options.roots.flatMap((r) => decodePemAll(r, "CERTIFICATE")),
  });
  return { order: valid, chain, checked, leafKey, leafDer: checked.leaf.der };
}

/** node:crypto's own view of the chain: each certificate verifies with the next one's key. */
export function verifiesWithNodeCrypto(chainPem: string, rootPem: string): boolean {
  const certs = [...decodePemAll(chainPem, "CERTIFICATE"), ...decodePemAll(rootPem, "CERTIFICATE")].map(
    (der) => new X509Certificate(der),
  );
  for (let i = 0; i + 1 < certs.length; i++) {
    const child = certs[i] as X509Certificate;
    const parent = certs[i + 1] as X509Certificate;
    if (!child.checkIssued(parent) || !child.verify(parent.publicKey)) return false;
  }
  return true;
}
