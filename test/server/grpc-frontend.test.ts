import { X509Certificate } from "node:crypto";
import http2 from "node:http2";
import tls from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IstioCaClient } from "../../src/csr-service/client.js";
import { buildCsr, generateKeySync } from "../../src/pki/keys.js";
import { createRootCa } from "../../src/server/data-dir.js";
import { type InProcessServer, startInProcessServer } from "../lib/inprocess-server.js";
import { opensslVerify } from "../lib/openssl.js";

/*
 * The CreateCertificate frontend while it serves: the serving certificate and
 * the mesh roots change under it without a restart, and TLS stays what Istio's
 * agents expect (TLS >= 1.2, ALPN h2, a certificate from the mesh CA).
 */

const IDENTITY = "spiffe://cluster.local/ns/default/sa/demo";
let server: InProcessServer;

beforeAll(async () => {
  server = await startInProcessServer();
});
afterAll(async () => {
  await server?.close();
});

/** Connects with TLS like a gRPC client and reports what the server presented and agreed. */
function handshake(options: { maxVersion?: tls.SecureVersion; alpn?: string[] } = {}): Promise<{
  serial: string;
  protocol: string | null;
  alpn: string | false | null;
}> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect(
      {
        host: "127.0.0.1",
        port: server.port,
        servername: "localhost",
        ca: server.rootsPem,
        ALPNProtocols: options.alpn ?? ["h2"],
        ...(options.maxVersion ? { maxVersion: options.maxVersion } : {}),
      },
      () => {
        const result = {
          serial: socket.getPeerCertificate().serialNumber,
          protocol: socket.getProtocol(),
          alpn: socket.alpnProtocol,
        };
        socket.end();
        resolve(result);
      },
    );
    socket.on("error", reject);
  });
}

async function token(): Promise<string> {
  return server.devIssuer.mintToken({ namespace: "default", serviceAccount: "demo" });
}

function csr(): string {
  return buildCsr(generateKeySync({ type: "ec", curve: "P-256" }), { uris: [IDENTITY] });
}

describe("TLS on the CreateCertificate port", () => {
  it("negotiates h2 over TLS 1.3 with a certificate that verifies against the mesh root for localhost", async () => {
    const r = await handshake();
    expect(r.alpn).toBe("h2");
    expect(r.protocol).toBe("TLSv1.3");
  });

  it("still accepts a TLS 1.2 client", async () => {
    expect((await handshake({ maxVersion: "TLSv1.2" })).protocol).toBe("TLSv1.2");
  });

  it("refuses TLS 1.1", async () => {
    await expect(handshake({ maxVersion: "TLSv1.1" })).rejects.toThrow();
  });
});

describe("a renewed serving certificate", () => {
  it("is presented to new connections at once while a connected client keeps working", async () => {
    const connected = new IstioCaClient({ address: server.address, rootsPem: server.rootsPem });
    try {
      expect(await connected.createCertificate({ csr: csr(), token: await token() })).toHaveLength(2);
      const before = (await handshake()).serial;

      server.frontend.updateServing(await server.newServingPair());

      const after = (await handshake()).serial;
      expect(after).not.toBe(before);
      expect(await connected.createCertificate({ csr: csr(), token: await token() })).toHaveLength(2);
      const fresh = new IstioCaClient(
        { address: server.address, rootsPem: server.rootsPem },
        { "grpc.use_local_subchannel_pool": 1 },
      );
      try {
        expect(await fresh.createCertificate({ csr: csr(), token: await token() })).toHaveLength(2);
      } finally {
        fresh.close();
      }
    } finally {
      connected.close();
    }
  });
});

describe("rotated mesh roots", () => {
  it("end every response once set, and the leaf still verifies against the bundle", async () => {
    const current = server.stack.roots();
    const next = (
      await createRootCa({ algorithm: "ecdsa-p256", durationMs: 86_400_000, trustDomain: "cluster.local" })
    ).certificatePem;
    await server.stack.setRoots(`${current}${next}`);
    try {
      const c = new IstioCaClient({ address: server.address, rootsPem: server.rootsPem });
      try {
        const chain = await c.createCertificate({ csr: csr(), token: await token() });
        expect(chain).toHaveLength(2);
        const bundle = chain[1] as string;
        const fingerprints = (
          bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []
        ).map((p) => new X509Certificate(p).fingerprint256);
        expect(fingerprints).toEqual([
          new X509Certificate(current).fingerprint256,
          new X509Certificate(next).fingerprint256,
        ]);
        expect(opensslVerify(bundle, chain[0] as string).ok).toBe(true);
      } finally {
        c.close();
      }
    } finally {
      await server.stack.setRoots(current);
    }
  });

  it("are refused when the CA does not chain to them, keeping the last good roots", async () => {
    const before = server.stack.roots();
    const stranger = (
      await createRootCa({ algorithm: "ecdsa-p256", durationMs: 86_400_000, trustDomain: "cluster.local" })
    ).certificatePem;
    await expect(server.stack.setRoots(stranger)).rejects.toMatchObject({ code: "ERR_CHAIN_INVALID" });
    expect(server.stack.roots()).toBe(before);
  });
});

describe("connection limits longer than a timer can hold", () => {
  it.each(["h2", "grpc-js"] as const)(
    "(30 days of max age and idle time) do not close connections at once, under %s",
    async (implementation) => {
      const s = await startInProcessServer({
        grpcImplementation: implementation,
        grpcMaxConnectionAge: "720h",
        grpcMaxConnectionIdle: "720h",
      });
      try {
        const session = http2.connect(`https://localhost:${s.port}`, { ca: s.rootsPem });
        session.on("error", () => {});
        let goaway = false;
        session.once("goaway", () => {
          goaway = true;
        });
        await new Promise<void>((resolve, reject) => {
          session.once("remoteSettings", () => resolve());
          session.once("error", reject);
        });
        await new Promise((r) => setTimeout(r, 200));
        expect(goaway).toBe(false);
        expect(session.closed || session.destroyed).toBe(false);
        session.destroy();
      } finally {
        await s.close();
      }
    },
  );
});
