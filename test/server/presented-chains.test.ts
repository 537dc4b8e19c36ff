/**
 * PresentedChains over real TLS connections: the chain a client sends is
 * found by its leaf while a connection that sent it is open, and gone after.
 */
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { connect, createServer, type TLSSocket } from "node:tls";
import { afterEach, describe, expect, it } from "vitest";
import { IstioCaClient } from "../../src/csr-service/client.js";
import { buildCsr, generateKeySync, privateKeyToPem } from "../../src/pki/keys.js";
import { decodePemAll } from "../../src/pki/pem.js";
import { PresentedChains } from "../../src/server/tls/presented-chains.js";
import { type InProcessServer, startInProcessServer } from "../lib/inprocess-server.js";

const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

describe("PresentedChains", () => {
  it("keeps what a client sent above its leaf while a connection is open, and forgets it after the last closes", async () => {
    // A mesh leaf from an intermediate CA ([leaf, intermediate, root]) and the serving pair.
    const mesh = await startInProcessServer({}, { intermediateCa: true });
    closers.push(() => mesh.close());
    const pair = await mesh.newServingPair();
    const chains = new PresentedChains();
    const tracked: TLSSocket[] = [];
    const server = createServer(
      {
        cert: pair.certificateChainPem,
        key: pair.privateKeyPem,
        ca: mesh.rootsPem,
        requestCert: true,
        rejectUnauthorized: false,
      },
      (s) => {
        chains.track(s);
        tracked.push(s);
        s.on("error", () => {});
      },
    );
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    closers.push(() => new Promise<void>((r) => server.close(() => r())));
    const { port } = server.address() as AddressInfo;
    const client = await meshClient(mesh);
    const [leaf, intermediate] = decodePemAll(client.chainPem, "CERTIFICATE") as [Uint8Array, Uint8Array];

    const open = async (chainPem: string) => {
      const s = connect({
        port,
        host: "127.0.0.1",
        ca: mesh.rootsPem,
        cert: chainPem,
        key: client.keyPem,
        servername: "localhost",
      });
      s.on("error", () => {});
      await once(s, "secureConnect");
      await until(() => tracked.length > 0);
      return s;
    };
    const first = await open(client.chainPem);
    const second = await open(client.chainPem);
    const above = chains.above(leaf);
    expect(above.map((d) => Buffer.from(d).toString("hex"))).toContain(
      Buffer.from(intermediate).toString("hex"),
    );
    expect(chains.above(intermediate)).toEqual([]);
    first.destroy();
    await until(() => tracked.filter((t) => !t.destroyed).length <= 1);
    expect(chains.above(leaf).length).toBeGreaterThan(0);
    second.destroy();
    await until(() => chains.size === 0);
    expect(chains.above(leaf)).toEqual([]);
  });
});

/** A mesh certificate from `mesh` and its key: the chain as istio-agent writes cert-chain.pem. */
async function meshClient(mesh: InProcessServer) {
  const key = generateKeySync({ type: "ec", curve: "P-256" });
  const identity = "spiffe://cluster.local/ns/default/sa/web";
  const c = new IstioCaClient({ address: mesh.address, rootsPem: mesh.rootsPem });
  try {
    const chain = await c.createCertificate({
      csr: buildCsr(key, { uris: [identity] }),
      token: await mesh.devIssuer.mintToken({ namespace: "default", serviceAccount: "web" }),
    });
    return { chainPem: chain.join(""), keyPem: privateKeyToPem(key) };
  } finally {
    c.close();
  }
}

async function until(check: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 10));
  }
}
