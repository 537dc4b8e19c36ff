/**
 * An in-process stand-in for Vault's HTTP API (plain HTTP on loopback) for the
 * unit tests: sys/health with a settable code, AppRole login, token
 * renew-self and a PKI sign endpoint that signs with a test CA, or misbehaves
 * on purpose (wrong key, another root, another SAN, too long). Like Vault's
 * `sign/<role>`, it writes the role's key usages and extended key usages into
 * every leaf whatever the CSR asked for (Vault's role defaults unless a test
 * sets others). It records every request. The real-Vault suite is test/vault.
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { KeyObject } from "node:crypto";
import {
  type CertificateTemplate,
  type ExtKeyUsage,
  encodePem,
  type KeyUsage,
  generateKeySync,
  parseCsr,
  publicKeySpki,
  selfSignedSigner,
  signCertificate,
  signerFromCertificate,
} from "../../../../src/pki/index.js";

export interface Recorded {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingMessage["headers"];
  // biome-ignore lint/suspicious/noExplicitAny: request bodies are read ad hoc in tests.
  readonly body: any;
}

export type Misbehaviour = "none" | "wrong-key" | "other-root" | "other-san" | "too-long";

interface Ca {
  readonly key: KeyObject;
  readonly der: Uint8Array;
}

function makeCa(name: string, parent?: Ca): Ca {
  const key = generateKeySync({ type: "ec", curve: "P-256" });
  const now = Date.now();
  const t: CertificateTemplate = {
    publicKeySpki: publicKeySpki(key),
    subject: [[{ type: "2.5.4.3", value: name }]],
    isCA: true,
    keyUsage: ["keyCertSign", "cRLSign"],
    extKeyUsage: [],
    notBefore: new Date(now - 3_600_000),
    notAfter: new Date(now + 30 * 86_400_000),
  };
  const der = signCertificate(t, parent === undefined ? selfSignedSigner(t, key) : signerFromCertificate(parent.der, parent.key));
  return { key, der };
}

const pem = (der: Uint8Array) => encodePem("CERTIFICATE", der);

/** What a Vault PKI role puts in every leaf by default (`key_usage`, `server_flag`, `client_flag`). */
export const VAULT_ROLE_KEY_USAGE: readonly KeyUsage[] = ["digitalSignature", "keyEncipherment", "keyAgreement"];
export const VAULT_ROLE_EXT_KEY_USAGE: readonly ExtKeyUsage[] = ["serverAuth", "clientAuth"];

export class FakeVault {
  readonly requests: Recorded[] = [];
  readonly root = makeCa("fake root");
  readonly intermediate = makeCa("fake intermediate", this.root);
  readonly otherRoot = makeCa("other root");
  healthCode = 200;
  /** Status code the sign endpoint answers with instead of signing (e.g. 503, 403). */
  signStatus = 200;
  misbehave: Misbehaviour = "none";
  /** The role's `key_usage` (Vault's default: DigitalSignature, KeyAgreement, KeyEncipherment); empty: no extension. */
  roleKeyUsage: KeyUsage[] = [...VAULT_ROLE_KEY_USAGE];
  /** The role's `server_flag`/`client_flag`/`ext_key_usage` (default server and client auth); empty: no extension. */
  roleExtKeyUsage: ExtKeyUsage[] = [...VAULT_ROLE_EXT_KEY_USAGE];
  /** Tokens Vault currently accepts. */
  readonly valid = new Set<string>(["static-token"]);
  tokenTtlS = 3600;
  /** What renew-self grants; undefined means tokenTtlS (a token at its max TTL gets less). */
  renewTtlS: number | undefined;
  #n = 0;
  #server: Server | undefined;
  port = 0;

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  count(path: string): number {
    return this.requests.filter((r) => r.path === path).length;
  }

  async start(): Promise<void> {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (d: Buffer) => chunks.push(d));
      req.on("end", () => {
        const text = Buffer.concat(chunks).toString();
        const body = text === "" ? undefined : JSON.parse(text);
        const path = (req.url ?? "").replace(/^\/v1\//, "");
        this.requests.push({ method: req.method ?? "", path, headers: req.headers, body });
        const [status, json] = this.#answer(path, req.headers["x-vault-token"] as string | undefined, body);
        res.writeHead(status, { "content-type": "application/json" });
        res.end(json === undefined ? "" : JSON.stringify(json));
      });
    });
    await new Promise<void>((r) => this.#server?.listen(0, "127.0.0.1", r));
    const a = this.#server.address();
    this.port = typeof a === "object" && a !== null ? a.port : 0;
  }

  async stop(): Promise<void> {
    await new Promise((r) => this.#server?.close(r));
    this.#server?.closeAllConnections();
  }

  // biome-ignore lint/suspicious/noExplicitAny: fake JSON bodies.
  #answer(path: string, token: string | undefined, body: any): [number, unknown] {
    if (path === "sys/health") return [this.healthCode, { initialized: this.healthCode !== 501, sealed: this.healthCode === 503 }];
    if (path === "auth/approle/login") {
      if (body?.role_id !== "role" || body?.secret_id !== "secret") return [400, { errors: ["invalid role or secret ID"] }];
      const t = `hvs.login-${++this.#n}`;
      this.valid.add(t);
      return [200, { auth: { client_token: t, lease_duration: this.tokenTtlS, renewable: true } }];
    }
    if (path === "auth/k8s/login") {
      if (body?.role !== "meshsign" || body?.jwt !== "sa-jwt") return [403, { errors: ["permission denied"] }];
      const t = `hvs.k8s-${++this.#n}`;
      this.valid.add(t);
      return [200, { auth: { client_token: t, lease_duration: this.tokenTtlS, renewable: true } }];
    }
    if (token === undefined || !this.valid.has(token)) return [403, { errors: ["permission denied"] }];
    if (path === "auth/token/renew-self") return [200, { auth: { client_token: token, lease_duration: this.renewTtlS ?? this.tokenTtlS, renewable: true } }];
    if (path.startsWith("pki_int/sign/")) {
      if (this.signStatus !== 200) return [this.signStatus, { errors: [`fake error ${this.signStatus}`] }];
      return [200, { data: this.#sign(body.csr as string, body.ttl as string) }];
    }
    return [404, { errors: ["no handler for route"] }];
  }

  #sign(csrPem: string, ttl: string): Record<string, unknown> {
    const csr = parseCsr(csrPem);
    const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(ttl);
    const ttlMs = ((Number(m?.[1] ?? 0) * 60 + Number(m?.[2] ?? 0)) * 60 + Number(m?.[3] ?? 0)) * 1000;
    const now = Date.now();
    const key = this.misbehave === "wrong-key" ? publicKeySpki(generateKeySync({ type: "ec", curve: "P-256" })) : csr.publicKeySpki;
    const t: CertificateTemplate = {
      publicKeySpki: key,
      subject: [],
      uris: this.misbehave === "other-san" ? ["spiffe://cluster.local/ns/kube-system/sa/admin"] : csr.uris,
      dnsNames: csr.dnsNames,
      isCA: false,
      keyUsage: this.roleKeyUsage,
      extKeyUsage: this.roleExtKeyUsage,
      notBefore: new Date(now - 30_000),
      notAfter: new Date(now + ttlMs + (this.misbehave === "too-long" ? 86_400_000 : 0)),
    };
    if (this.misbehave === "other-root") {
      const der = signCertificate(t, signerFromCertificate(this.otherRoot.der, this.otherRoot.key));
      return { certificate: pem(der), issuing_ca: pem(this.intermediate.der), ca_chain: [pem(this.intermediate.der), pem(this.root.der)] };
    }
    const der = signCertificate(t, signerFromCertificate(this.intermediate.der, this.intermediate.key));
    return { certificate: pem(der), issuing_ca: pem(this.intermediate.der), ca_chain: [pem(this.intermediate.der), pem(this.root.der)] };
  }
}
