import http from "node:http";
import type { AddressInfo } from "node:net";
import type { CryptoKey, JSONWebKeySet, JWK, JWTPayload, KeyObject } from "jose";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import type { AuthnInput } from "../../src/authn/index.js";

/** A frozen instant for token tests: 2025-06-15T16:26:40Z. */
export const NOW_SECONDS = 1_750_004_800;
export const ISSUER = "https://issuer.test.local";

export interface TestKey {
  readonly alg: string;
  readonly kid: string;
  readonly privateKey: CryptoKey | KeyObject;
  readonly publicJwk: JWK;
}

export async function makeKey(alg: string, kid: string): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, use: "sig", alg };
  return { alg, kid, privateKey, publicJwk };
}

export function jwksOf(...keys: TestKey[]): JSONWebKeySet {
  return { keys: keys.map((k) => k.publicJwk) };
}

/** Claims of a bound Kubernetes token for `ns`/`sa`, valid for an hour from NOW_SECONDS. */
export function kubeClaims(ns = "foo", sa = "bar"): JWTPayload {
  return {
    iss: ISSUER,
    aud: ["istio-ca"],
    sub: `system:serviceaccount:${ns}:${sa}`,
    iat: NOW_SECONDS,
    nbf: NOW_SECONDS,
    exp: NOW_SECONDS + 3600,
    "kubernetes.io": {
      namespace: ns,
      serviceaccount: { name: sa, uid: "7b3c2c0e-6d0e-4d53-9a6e-5a8f3b1e0c11" },
      pod: { name: `${sa}-5d9c7`, uid: "0f7e4a1c-1111-4c2b-8a77-123456789abc" },
    },
  };
}

export async function sign(
  key: TestKey,
  claims: JWTPayload,
  header: Record<string, unknown> = {},
): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: key.alg, kid: key.kid, ...header })
    .sign(key.privateKey);
}

export function base64url(value: string | Uint8Array): string {
  return Buffer.from(value).toString("base64url");
}

export function bearer(token: string, clusterId: readonly string[] = []): AuthnInput {
  return { authorization: [`Bearer ${token}`], clusterId };
}

/** A loopback HTTP server whose routes can be changed while it runs; counts hits per path. */
export class TestServer {
  readonly hits = new Map<string, number>();
  readonly authorizations: (string | undefined)[] = [];
  readonly requests: { method: string; path: string; body: string }[] = [];
  routes = new Map<string, (body: string) => { status: number; body: unknown }>();
  private server: http.Server | undefined;
  url = "";

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        const path = (req.url ?? "/").split("?")[0] ?? "/";
        const requestBody = Buffer.concat(chunks).toString("utf8");
        this.hits.set(path, (this.hits.get(path) ?? 0) + 1);
        this.authorizations.push(req.headers.authorization);
        this.requests.push({ method: req.method ?? "", path, body: requestBody });
        const route = this.routes.get(path);
        const { status, body } =
          route === undefined ? { status: 404, body: { error: "not found" } } : route(requestBody);
        res.writeHead(status, { "content-type": "application/json" });
        res.end(typeof body === "string" ? body : JSON.stringify(body));
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  hitsOf(path: string): number {
    return this.hits.get(path) ?? 0;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) =>
      this.server === undefined ? resolve() : this.server.close(() => resolve()),
    );
  }
}
