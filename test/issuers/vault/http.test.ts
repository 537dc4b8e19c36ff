import type { IncomingMessage, ServerResponse } from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { VaultTransport } from "../../../src/issuers/vault/lib/http.js";
import {
  type CertificateTemplate,
  encodePem,
  generateKeySync,
  publicKeySpki,
  selfSignedSigner,
  signCertificate,
} from "../../../src/pki/index.js";

const TOKEN = "hvs.secret-token-value";

/** A self-signed serving certificate for 127.0.0.1 (and the name "vault.test" for the SNI override). */
function servingCert(name: string): { cert: string; key: string } {
  const key = generateKeySync({ type: "ec", curve: "P-256" });
  const now = Date.now();
  const t: CertificateTemplate = {
    publicKeySpki: publicKeySpki(key),
    subject: [[{ type: "2.5.4.3", value: name }]],
    dnsNames: ["vault.test"],
    ipAddresses: ["127.0.0.1"],
    isCA: false,
    keyUsage: ["digitalSignature"],
    extKeyUsage: ["serverAuth"],
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 3_600_000),
  };
  return {
    cert: encodePem("CERTIFICATE", signCertificate(t, selfSignedSigner(t, key))),
    key: key.export({ type: "pkcs8", format: "pem" }) as string,
  };
}

interface Seen {
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** What the fake answers; `undefined` never answers. */
type Answer = (path: string) => { status: number; body: string } | undefined;

function handler(seen: Seen[], answer: () => Answer) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      seen.push({
        method: req.method ?? "",
        path: req.url ?? "",
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
      });
      const a = answer()(req.url ?? "");
      if (a === undefined) return;
      res.writeHead(a.status, { "content-type": "application/json" }).end(a.body);
    });
  };
}

describe("VaultTransport", () => {
  const tls = servingCert("vault");
  const otherTls = servingCert("someone else");
  const seen: Seen[] = [];
  let answer: Answer = () => ({ status: 200, body: '{"data":{"ok":true}}' });
  let server: https.Server;
  let port = 0;
  const transports: VaultTransport[] = [];
  const transport = (o: Partial<ConstructorParameters<typeof VaultTransport>[0]> & { server: string }) => {
    const t = new VaultTransport({ ca: tls.cert, timeoutMs: 5_000, ...o });
    transports.push(t);
    return t;
  };

  beforeAll(async () => {
    server = https.createServer(
      tls,
      handler(seen, () => answer),
    );
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as AddressInfo).port;
  });
  afterEach(() => {
    for (const t of transports.splice(0)) t.close();
    seen.length = 0;
    answer = () => ({ status: 200, body: '{"data":{"ok":true}}' });
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it("calls an https:// Vault with the token, the namespace and a JSON body, below the server URL's path", async () => {
    const t = transport({ server: `https://127.0.0.1:${port}/prefix/` });
    const answers = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        t.call({
          method: "POST",
          path: "pki_int/sign/mesh",
          body: { csr: `csr-${i}` },
          token: TOKEN,
          namespace: "team-a",
        }),
      ),
    );
    for (const a of answers)
      expect(a).toEqual({ kind: "response", status: 200, json: { data: { ok: true } } });
    expect(seen).toHaveLength(8);
    for (const s of seen) {
      expect(s.method).toBe("POST");
      expect(s.path).toBe("/prefix/v1/pki_int/sign/mesh");
      expect(s.headers["x-vault-token"]).toBe(TOKEN);
      expect(s.headers["x-vault-namespace"]).toBe("team-a");
      expect(s.headers["content-type"]).toBe("application/json");
    }
    expect(seen.map((s) => JSON.parse(s.body).csr).sort()).toEqual(
      Array.from({ length: 8 }, (_, i) => `csr-${i}`).sort(),
    );
  });

  it("sends a GET without a body or token, and gives back the status and JSON of an error answer", async () => {
    answer = () => ({ status: 503, body: '{"errors":["Vault is sealed"]}' });
    const t = transport({ server: `https://127.0.0.1:${port}` });
    const r = await t.call({ method: "GET", path: "sys/health" });
    expect(r).toEqual({ kind: "response", status: 503, json: { errors: ["Vault is sealed"] } });
    expect(seen[0]?.headers["x-vault-token"]).toBeUndefined();
    expect(seen[0]?.body).toBe("");
  });

  it("verifies the server against caBundle and serverName, and never puts the token into a failure", async () => {
    const named = transport({ server: `https://127.0.0.1:${port}`, serverName: "vault.test" });
    expect(await named.call({ method: "GET", path: "sys/health" })).toMatchObject({
      kind: "response",
      status: 200,
    });
    const wrongName = transport({ server: `https://127.0.0.1:${port}`, serverName: "other.test" });
    const r1 = await wrongName.call({ method: "GET", path: "sys/health", token: TOKEN });
    expect(r1).toMatchObject({
      kind: "transport",
      reason: expect.stringMatching(/^TLS handshake with Vault failed/),
    });
    const wrongCa = transport({ server: `https://127.0.0.1:${port}`, ca: otherTls.cert });
    const r2 = await wrongCa.call({ method: "POST", path: "pki_int/sign/mesh", body: {}, token: TOKEN });
    expect(r2).toMatchObject({
      kind: "transport",
      reason: expect.stringMatching(/^TLS handshake with Vault failed/),
    });
    expect(JSON.stringify([r1, r2])).not.toContain(TOKEN);
  });

  it("answers a refused connection, a missed deadline, a cancelled call and an oversized body as transport failures", async () => {
    const closed = https.createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const refused = transport({ server: `https://127.0.0.1:${closedPort}` });
    expect(await refused.call({ method: "GET", path: "sys/health" })).toEqual({
      kind: "transport",
      reason: "connection to Vault refused",
    });

    answer = () => undefined;
    const slow = transport({ server: `https://127.0.0.1:${port}`, timeoutMs: 300 });
    expect(await slow.call({ method: "GET", path: "sys/health" })).toEqual({
      kind: "transport",
      reason: "Vault did not answer within 300 ms",
    });

    const t = transport({ server: `https://127.0.0.1:${port}` });
    const abort = new AbortController();
    const pending = t.call({ method: "GET", path: "sys/health", signal: abort.signal });
    setTimeout(() => abort.abort(), 50);
    expect(await pending).toEqual({ kind: "transport", reason: "the call to Vault was cancelled" });

    answer = () => ({ status: 200, body: `"${"x".repeat(1 << 20)}"` });
    expect(await t.call({ method: "GET", path: "sys/health" })).toEqual({
      kind: "transport",
      reason: "Vault's response is larger than 1 MiB",
    });
    // The connection still serves the next call.
    answer = () => ({ status: 200, body: "{}" });
    expect(await t.call({ method: "GET", path: "sys/health" })).toEqual({
      kind: "response",
      status: 200,
      json: {},
    });
  });
});
