/**
 * A real HashiCorp Vault for the Vault suite: `vault server -dev -dev-tls` on
 * loopback on a free port (built by test/vault/setup.sh), configured through
 * its HTTP API the way a platform team would: a root PKI mount, an
 * intermediate mount signed by it, a role allowing only
 * `spiffe://cluster.local/*` URI SANs and `*.svc.cluster.local` names, a
 * policy allowing only `update` on that role's sign path, AppRole and cert
 * auth, and a file audit device (to count logins).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import https from "node:https";
import { homedir, tmpdir } from "node:os";
import path from "node:path";
import { freePort } from "../lib/ports.js";

export function vaultBinary(): string {
  const fromEnv = process.env.MESHSIGN_VAULT;
  if (fromEnv !== undefined && fromEnv !== "") return fromEnv;
  const cache = process.env.MESHSIGN_CACHE ?? path.join(homedir(), ".cache", "meshsign");
  const envFile = path.join(cache, "bin", "harness.env");
  if (existsSync(envFile)) {
    const line = readFileSync(envFile, "utf8").split("\n").find((l) => l.startsWith("MESHSIGN_VAULT="));
    if (line !== undefined) return line.slice("MESHSIGN_VAULT=".length).trim();
  }
  throw new Error("no vault binary: run `bash test/vault/setup.sh` (npm run test:vault does) or set MESHSIGN_VAULT");
}

export interface ApiResult {
  readonly status: number;
  // biome-ignore lint/suspicious/noExplicitAny: Vault's JSON answers, read ad hoc in tests.
  readonly json: any;
}

export const SIGN_POLICY = "meshsign-sign";
export const NARROW_POLICY = "meshsign-sign-narrow";

export class VaultServer {
  readonly dir: string;
  readonly auditLog: string;
  #proc: ChildProcess | undefined;
  #stdout = "";
  port = 0;
  readonly rootToken = `root-${randomBytes(8).toString("hex")}`;
  caPem = "";
  unsealKey = "";
  /** The root CA of the PKI hierarchy (PEM). */
  rootPem = "";
  intermediatePem = "";

  constructor() {
    this.dir = mkdtempSync(path.join(tmpdir(), "meshsign-vault-"));
    this.auditLog = path.join(this.dir, "audit.log");
  }

  /** The vault server process id while it runs (the bench reads its CPU time from /proc). */
  get pid(): number | undefined {
    return this.#proc?.pid;
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  /** Starts the server and waits until it answers sys/health. */
  async start(): Promise<void> {
    this.port = await freePort();
    const proc = spawn(
      vaultBinary(),
      ["server", "-dev", "-dev-tls", `-dev-tls-cert-dir=${this.dir}`, `-dev-listen-address=127.0.0.1:${this.port}`, `-dev-root-token-id=${this.rootToken}`, "-dev-no-store-token"],
      { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, HOME: this.dir, VAULT_LOG_LEVEL: "warn" } },
    );
    this.#proc = proc;
    proc.stdout?.on("data", (d: Buffer) => {
      this.#stdout += d.toString();
    });
    proc.stderr?.on("data", (d: Buffer) => {
      this.#stdout += d.toString();
    });
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`vault exited with ${proc.exitCode}: ${this.#stdout.slice(-2000)}`);
      const caFile = path.join(this.dir, "vault-ca.pem");
      if (existsSync(caFile)) {
        this.caPem = readFileSync(caFile, "utf8");
        const r = await this.api("GET", "sys/health").catch(() => undefined);
        // Dev mode prints its unseal key in a banner that may come after the listener is up.
        if (r?.status === 200 && /Unseal Key: \S+/.test(this.#stdout)) break;
      }
      if (Date.now() > deadline) throw new Error(`vault did not become healthy: ${this.#stdout.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const m = /Unseal Key: (\S+)/.exec(this.#stdout);
    this.unsealKey = m?.[1] ?? "";
  }

  async stop(): Promise<void> {
    const p = this.#proc;
    this.#proc = undefined;
    if (p !== undefined && p.exitCode === null) {
      const exited = new Promise((r) => p.once("exit", r));
      p.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (p.exitCode === null) p.kill("SIGKILL");
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** One call to Vault's HTTP API (root token unless another is given). */
  api(method: "GET" | "POST" | "PUT" | "DELETE" | "LIST", p: string, body?: unknown, token: string | null = this.rootToken): Promise<ApiResult> {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const req = https.request(
        {
          host: "127.0.0.1",
          port: this.port,
          path: `/v1/${p}`,
          method,
          ca: this.caPem,
          headers: { ...(token !== null ? { "x-vault-token": token } : {}), ...(payload ? { "content-type": "application/json" } : {}) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (d: Buffer) => chunks.push(d));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString();
            resolve({ status: res.statusCode ?? 0, json: text === "" ? undefined : JSON.parse(text) });
          });
        },
      );
      req.on("error", reject);
      req.end(payload);
    });
  }

  async must(method: "GET" | "POST" | "PUT" | "DELETE" | "LIST", p: string, body?: unknown): Promise<ApiResult> {
    const r = await this.api(method, p, body);
    if (r.status >= 300) throw new Error(`vault ${method} ${p}: HTTP ${r.status} ${JSON.stringify(r.json)}`);
    return r;
  }

  /** Root and intermediate PKI, roles, policies, AppRole, cert auth, audit device. */
  async configure(): Promise<void> {
    await this.must("POST", "sys/audit/file", { type: "file", options: { file_path: this.auditLog } });
    await this.must("POST", "sys/mounts/pki", { type: "pki", config: { max_lease_ttl: "87600h" } });
    const root = await this.must("POST", "pki/root/generate/internal", { common_name: "meshsign test root", ttl: "87600h", key_type: "ec", key_bits: 256 });
    this.rootPem = `${root.json.data.certificate.trim()}\n`;
    await this.must("POST", "sys/mounts/pki_int", { type: "pki", config: { max_lease_ttl: "43800h" } });
    const csr = await this.must("POST", "pki_int/intermediate/generate/internal", { common_name: "meshsign test intermediate", key_type: "ec", key_bits: 256 });
    const signed = await this.must("POST", "pki/root/sign-intermediate", { csr: csr.json.data.csr, format: "pem", ttl: "43800h", common_name: "meshsign test intermediate" });
    this.intermediatePem = `${signed.json.data.certificate.trim()}\n`;
    // Import the intermediate with its root so Vault's ca_chain reaches the root.
    await this.must("POST", "pki_int/intermediate/set-signed", { certificate: `${this.intermediatePem}${this.rootPem}` });
    const role = {
      allowed_uri_sans: ["spiffe://cluster.local/*"],
      allowed_domains: ["svc.cluster.local"],
      allow_subdomains: true,
      allow_ip_sans: true,
      require_cn: false,
      key_type: "any",
      max_ttl: "72h",
      server_flag: true,
      client_flag: true,
    };
    await this.must("POST", "pki_int/roles/mesh", role);
    await this.must("POST", "pki_int/roles/narrow", { ...role, allowed_uri_sans: ["spiffe://other.example/*"] });
    await this.must("PUT", `sys/policies/acl/${SIGN_POLICY}`, { policy: 'path "pki_int/sign/mesh" { capabilities = ["update"] }' });
    await this.must("PUT", `sys/policies/acl/${NARROW_POLICY}`, { policy: 'path "pki_int/sign/narrow" { capabilities = ["update"] }' });
    await this.must("POST", "sys/auth/approle", { type: "approle" });
    await this.must("POST", "sys/auth/cert", { type: "cert" });
  }

  /** A token with `policies` (plus Vault's default policy, which allows renew-self). */
  async token(policies: string[], ttl = "1h"): Promise<string> {
    const r = await this.must("POST", "auth/token/create", { policies, ttl });
    return r.json.auth.client_token as string;
  }

  /** An AppRole whose tokens carry `policies`; returns its role_id and a fresh secret_id. */
  async appRole(name: string, policies: string[], tokenTtl = "1h"): Promise<{ roleId: string; secretId: string }> {
    await this.must("POST", `auth/approle/role/${name}`, { token_policies: policies, token_ttl: tokenTtl, token_max_ttl: "4h" });
    const id = await this.must("GET", `auth/approle/role/${name}/role-id`);
    const secret = await this.must("POST", `auth/approle/role/${name}/secret-id`, {});
    return { roleId: id.json.data.role_id as string, secretId: secret.json.data.secret_id as string };
  }

  /** Audit entries of type response for a path (e.g. "auth/approle/login"). */
  auditCount(requestPath: string): number {
    if (!existsSync(this.auditLog)) return 0;
    let n = 0;
    for (const line of readFileSync(this.auditLog, "utf8").split("\n")) {
      if (line === "") continue;
      const e = JSON.parse(line) as { type?: string; request?: { path?: string } };
      if (e.type === "response" && e.request?.path === requestPath) n++;
    }
    return n;
  }

  async seal(): Promise<void> {
    await this.must("PUT", "sys/seal");
  }

  async unseal(): Promise<void> {
    const r = await this.api("PUT", "sys/unseal", { key: this.unsealKey }, null);
    if (r.status !== 200 || r.json.sealed !== false) throw new Error(`unseal failed: ${JSON.stringify(r.json)}`);
  }
}
