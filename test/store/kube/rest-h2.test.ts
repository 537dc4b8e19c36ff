import "reflect-metadata";
import { webcrypto } from "node:crypto";
import http2 from "node:http2";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { KubeConfig } from "@kubernetes/client-node";
import * as x509 from "@peculiar/x509";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { MeshsignError } from "../../../src/errors/index.js";
import { Http2RestClient } from "../../../src/store/kube/index.js";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };

/** A self-signed serving certificate for 127.0.0.1, standing in for the cluster CA + API server. */
async function servingCert(): Promise<{ certPem: string; keyPem: string }> {
  const keys = (await webcrypto.subtle.generateKey(alg, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "03",
    name: "CN=kubernetes",
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 3_600_000),
    keys: keys as unknown as Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]["keys"],
    signingAlgorithm: alg,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: "ip", value: "127.0.0.1" }])],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey)).toString("base64");
  return {
    certPem: cert.toString("pem"),
    keyPem: `-----BEGIN PRIVATE KEY-----\n${pkcs8.replace(/.{64}/g, "$&\n")}\n-----END PRIVATE KEY-----\n`,
  };
}

interface Seen {
  readonly path: string;
  readonly authorization: string | undefined;
  readonly body: unknown;
}

/** What the fake API server answers for a path; `undefined` means never answer. */
type Answer = (path: string) => { status: number; body: string } | undefined;

describe("Http2RestClient", () => {
  let tls: { certPem: string; keyPem: string };
  let server: http2.Http2SecureServer;
  let port = 0;
  let sessions = 0;
  let seen: Seen[] = [];
  let answer: Answer = () => ({ status: 201, body: "{}" });
  const clients: Http2RestClient[] = [];
  const openSessions = new Set<http2.ServerHttp2Session>();

  beforeAll(async () => {
    tls = await servingCert();
    server = http2.createSecureServer({ cert: tls.certPem, key: tls.keyPem }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const raw = Buffer.concat(chunks).toString("utf8");
        seen.push({
          path: req.url,
          authorization: req.headers.authorization,
          body: raw ? JSON.parse(raw) : undefined,
        });
        const a = answer(req.url);
        if (a === undefined) return;
        res.writeHead(a.status, { "content-type": "application/json" }).end(a.body);
      });
    });
    server.on("session", (session: http2.ServerHttp2Session) => {
      sessions++;
      openSessions.add(session);
      session.on("close", () => openSessions.delete(session));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
    seen = [];
    answer = () => ({ status: 201, body: "{}" });
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  function client(url: string, timeoutMs = 5_000): Http2RestClient {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: "test", server: url, caData: Buffer.from(tls.certPem).toString("base64") }],
      users: [{ name: "meshsign", token: "meshsign-sa-token" }],
      contexts: [{ name: "test", cluster: "test", user: "meshsign" }],
      currentContext: "test",
    });
    const c = new Http2RestClient(kc, timeoutMs);
    clients.push(c);
    return c;
  }

  it("sends concurrent and later calls as streams of one HTTP/2 connection, with the kubeconfig's credentials", async () => {
    answer = (path) => ({ status: 201, body: JSON.stringify({ path }) });
    const c = client(`https://127.0.0.1:${port}/prefix/`);
    const before = sessions;
    const first = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        c.request<{ path: string }>({ method: "POST", path: "/apis/x/v1/things", body: { i } }),
      ),
    );
    const later = await c.request<{ path: string }>({
      method: "GET",
      path: "/api/v1/things",
      query: { labelSelector: "a=b", limit: undefined },
    });
    expect(sessions - before).toBe(1);
    expect(c.protocol).toBe("h2");
    expect(first.map((r) => r.path)).toEqual(Array(8).fill("/prefix/apis/x/v1/things"));
    expect(later.path).toBe("/prefix/api/v1/things?labelSelector=a%3Db");
    expect(seen.map((s) => s.authorization)).toEqual(Array(9).fill("Bearer meshsign-sa-token"));
    expect(
      seen
        .slice(0, 8)
        .map((s) => (s.body as { i: number }).i)
        .sort(),
    ).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it("maps answers as the store's client does: a Status to its error, a malformed 2xx to a transient one", async () => {
    const c = client(`https://127.0.0.1:${port}`);
    answer = () => ({ status: 404, body: JSON.stringify({ kind: "Status", reason: "NotFound", code: 404 }) });
    await expect(c.request({ method: "GET", path: "/api/v1/x" })).rejects.toMatchObject({
      code: "ERR_NOT_FOUND",
      detail: { status: 404, method: "GET", path: "/api/v1/x" },
    });
    answer = () => ({ status: 200, body: "{not json" });
    await expect(c.request({ method: "GET", path: "/api/v1/x" })).rejects.toMatchObject({
      code: "ERR_STORE_UNAVAILABLE",
      retry: "transient",
    });
  });

  it("fails a call the server never answers as transient, and serves the next one", async () => {
    const c = client(`https://127.0.0.1:${port}`, 300);
    answer = (path) => (path === "/hang" ? undefined : { status: 200, body: '{"ok":true}' });
    const err = await c.request({ method: "GET", path: "/hang" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MeshsignError);
    expect(err).toMatchObject({ code: "ERR_STORE_UNAVAILABLE", retry: "transient" });
    expect(await c.request({ method: "GET", path: "/next" })).toEqual({ ok: true });
  });

  it("opens a new connection once the server has closed the last one", async () => {
    const c = client(`https://127.0.0.1:${port}`);
    const before = sessions;
    await c.request({ method: "GET", path: "/one" });
    const closed = new Promise<void>((resolve) => {
      server.once("session", () => resolve());
    });
    // Close every server-side session: GOAWAY, then the connection ends.
    for (const s of openSessions) s.close();
    await c.request({ method: "GET", path: "/two" });
    await closed;
    expect(sessions - before).toBe(2);
  });

  it("falls back to HTTP/1.1 against a server that does not offer h2", async () => {
    const h1 = https.createServer({ cert: tls.certPem, key: tls.keyPem }, (req, res) => {
      res
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify({ via: req.httpVersion }));
    });
    await new Promise<void>((resolve) => h1.listen(0, "127.0.0.1", resolve));
    try {
      const c = client(`https://127.0.0.1:${(h1.address() as AddressInfo).port}`);
      expect(await c.request({ method: "GET", path: "/api" })).toEqual({ via: "1.1" });
      expect(c.protocol).toBe("http/1.1");
      expect(await c.request({ method: "GET", path: "/api" })).toEqual({ via: "1.1" });
    } finally {
      h1.closeAllConnections();
      await new Promise<void>((resolve) => h1.close(() => resolve()));
    }
  });

  it("fails as transient when the server cannot be reached", async () => {
    const closed = https.createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const unused = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    await expect(
      client(`https://127.0.0.1:${unused}`).request({ method: "GET", path: "/" }),
    ).rejects.toMatchObject({
      code: "ERR_STORE_UNAVAILABLE",
      retry: "transient",
    });
  });
});
