import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isMeshsignError } from "../../src/errors/index.js";
import type { Issuer, SignRequest, SignResult } from "../../src/issuers/issuer.js";
import { type VaultIssuer, vaultIssuerFactory } from "../../src/issuers/vault/index.js";
import {
  buildCsr,
  type CertificateTemplate,
  decodePemAll,
  generateKeySync,
  parseCertificate,
  publicKeySpki,
} from "../../src/pki/index.js";
import { NARROW_POLICY, SIGN_POLICY, VaultServer } from "./harness.js";
import { rejection } from "../lib/rejection.js";
import { tempDirs } from "../lib/temp-dir.js";

/** Scratch directories of this file, removed after its tests. */
const tempDir = tempDirs();

const NS = "meshsign-system";
const SVID = "spiffe://cluster.local/ns/default/sa/web";

let vault: VaultServer;

beforeAll(async () => {
  vault = new VaultServer();
  await vault.start();
  await vault.configure();
});

afterAll(async () => {
  await vault?.stop();
});

function b64(s: string): string {
  return Buffer.from(s).toString("base64");
}

/** Builds a Vault issuer through the registry's factory with in-memory Secrets. */
async function build(
  spec: Record<string, unknown>,
  secrets: Record<string, Record<string, string>> = {},
): Promise<{ issuer: Issuer; secretNames: readonly string[] }> {
  return vaultIssuerFactory(
    { server: vault.url, caBundle: b64(vault.caPem), ...spec },
    { secretNamespace: NS, readSecret: async (name) => secrets[name] },
  );
}

/** A CSR for `uris`/`dnsNames` and the template the engine would build for it. */
function request(
  opts: { uris?: string[]; dnsNames?: string[]; hours?: number } = { uris: [SVID] },
): SignRequest {
  const key = generateKeySync({ type: "ec", curve: "P-256" });
  const uris = opts.uris ?? [];
  const dnsNames = opts.dnsNames ?? [];
  const now = Date.now();
  const template: CertificateTemplate = {
    publicKeySpki: publicKeySpki(key),
    subject: [],
    uris,
    dnsNames,
    isCA: false,
    keyUsage: ["digitalSignature", "keyEncipherment"],
    extKeyUsage: ["serverAuth", "clientAuth"],
    notBefore: new Date(now),
    notAfter: new Date(now + (opts.hours ?? 1) * 3_600_000),
  };
  return { requestId: `test/${now}`, csrPem: buildCsr(key, { subject: [], uris, dnsNames }), template };
}

function issued(r: SignResult): { chain: readonly string[]; ca: string } {
  if (r.status !== "issued") throw new Error(`not issued: ${r.status}`);
  return { chain: r.chain, ca: r.ca ?? "" };
}


function opensslVerify(rootPem: string, chain: readonly string[]): string {
  const dir = tempDir("meshsign-vault-verify-");
  writeFileSync(path.join(dir, "root.pem"), rootPem);
  writeFileSync(path.join(dir, "leaf.pem"), chain[0] ?? "");
  writeFileSync(path.join(dir, "untrusted.pem"), chain.slice(1).join(""));
  return execFileSync(
    "openssl",
    [
      "verify",
      "-CAfile",
      path.join(dir, "root.pem"),
      "-untrusted",
      path.join(dir, "untrusted.pem"),
      path.join(dir, "leaf.pem"),
    ],
    { encoding: "utf8" },
  );
}

describe("Vault issuer against a real Vault", () => {
  it("signs an SVID with token auth: leaf then intermediate, ca.crt is Vault's root, and openssl verifies it", async () => {
    const token = await vault.token([SIGN_POLICY]);
    const { issuer, secretNames } = await build(
      { path: "pki_int/sign/mesh", auth: { tokenSecretRef: { name: "vault-token" } } },
      { "vault-token": { token: `${token}\n` } },
    );
    expect(secretNames).toEqual(["vault-token"]);
    expect(issuer.status()).toEqual({ ready: true, reason: "VaultVerified", message: "Vault verified" });
    const req = request();
    const { chain, ca } = issued(await issuer.sign(req));
    expect(chain).toHaveLength(2);
    expect(ca.trim()).toBe(vault.rootPem.trim());
    expect(chain[1]?.trim()).toBe(vault.intermediatePem.trim());
    const leaf = parseCertificate(decodePemAll(chain[0] ?? "", "CERTIFICATE")[0] as Uint8Array);
    expect(leaf.uris).toEqual([SVID]);
    expect(Buffer.from(leaf.publicKeySpki).equals(Buffer.from(req.template.publicKeySpki))).toBe(true);
    expect(leaf.notAfter.getTime()).toBeLessThanOrEqual(req.template.notAfter.getTime() + 60_000);
    expect(opensslVerify(ca, chain)).toMatch(/leaf\.pem: OK/);
  });

  it("logs in with AppRole once for many signatures, concurrent and sequential (counted in Vault's audit log)", async () => {
    const { roleId, secretId } = await vault.appRole("once", [SIGN_POLICY]);
    const before = vault.auditCount("auth/approle/login");
    const { issuer } = await build(
      {
        path: "pki_int/sign/mesh",
        auth: { appRole: { path: "approle", roleId, secretRef: { name: "approle", key: "secretId" } } },
      },
      { approle: { secretId } },
    );
    expect(issuer.status().ready).toBe(true);
    await Promise.all(Array.from({ length: 10 }, () => issuer.sign(request())));
    for (let i = 0; i < 10; i++)
      issued(await issuer.sign(request({ dnsNames: [`web-${i}.default.svc.cluster.local`] })));
    expect(vault.auditCount("auth/approle/login") - before).toBe(1);
    expect((issuer as VaultIssuer).tokenStats.logins).toBe(1);
  });

  it("re-obtains a revoked AppRole token once and signs; a revoked static token is reported with Vault's reason", async () => {
    const { roleId, secretId } = await vault.appRole("revoked", [SIGN_POLICY]);
    const { issuer } = await build(
      {
        path: "pki_int/sign/mesh",
        auth: { appRole: { path: "approle", roleId, secretRef: { name: "approle", key: "secretId" } } },
      },
      { approle: { secretId } },
    );
    issued(await issuer.sign(request()));
    await vault.must("PUT", "sys/leases/revoke-prefix/auth/approle/login");
    issued(await issuer.sign(request()));
    expect((issuer as VaultIssuer).tokenStats.logins).toBe(2);

    const token = await vault.token([SIGN_POLICY]);
    const stat = await build(
      { path: "pki_int/sign/mesh", auth: { tokenSecretRef: { name: "t" } } },
      { t: { token } },
    );
    await vault.must("POST", "auth/token/revoke", { token });
    const err = await rejection(stat.issuer.sign(request()));
    expect(err.code).toBe("ERR_ISSUER_REJECTED");
    expect(err.retry).toBe("terminal");
    expect(err.message).toMatch(/HTTP 403/);
    expect(err.message).not.toContain(token);
  });

  it("renews a renewable token before its TTL ends and logs in again when the max TTL is reached", async () => {
    const renewable = await vault.appRole("short", [SIGN_POLICY], "3s");
    const a = await build(
      {
        path: "pki_int/sign/mesh",
        auth: { appRole: { path: "approle", roleId: renewable.roleId, secretRef: { name: "s", key: "id" } } },
      },
      { s: { id: renewable.secretId } },
    );
    await new Promise((r) => setTimeout(r, 2_300));
    issued(await a.issuer.sign(request()));
    expect((a.issuer as VaultIssuer).tokenStats).toEqual({ logins: 1, renewals: 1 });

    await vault.must("POST", "auth/approle/role/capped", {
      token_policies: [SIGN_POLICY],
      token_ttl: "3s",
      token_max_ttl: "3s",
    });
    const roleId = (await vault.must("GET", "auth/approle/role/capped/role-id")).json.data.role_id as string;
    const secretId = (await vault.must("POST", "auth/approle/role/capped/secret-id", {})).json.data
      .secret_id as string;
    const b = await build(
      {
        path: "pki_int/sign/mesh",
        auth: { appRole: { path: "approle", roleId, secretRef: { name: "s", key: "id" } } },
      },
      { s: { id: secretId } },
    );
    await new Promise((r) => setTimeout(r, 2_300));
    issued(await b.issuer.sign(request()));
    expect((b.issuer as VaultIssuer).tokenStats.logins).toBe(2);
  });

  it("fails terminally with Vault's text when the role forbids the SAN or the policy does not cover the role", async () => {
    const narrow = await vault.token([NARROW_POLICY]);
    const n = await build(
      { path: "pki_int/sign/narrow", auth: { tokenSecretRef: { name: "t" } } },
      { t: { token: narrow } },
    );
    const forbidden = await rejection(n.issuer.sign(request()));
    expect(forbidden).toMatchObject({ code: "ERR_ISSUER_REJECTED", retry: "terminal" });
    expect(forbidden.message).toMatch(
      /HTTP 400\): URI Subject Alternative Names were provided via CSR which are not valid for this role/,
    );

    const mesh = await vault.token([SIGN_POLICY]);
    const wrongRole = await build(
      { path: "pki_int/sign/narrow", auth: { tokenSecretRef: { name: "t" } } },
      { t: { token: mesh } },
    );
    const denied = await rejection(wrongRole.issuer.sign(request()));
    expect(denied).toMatchObject({ code: "ERR_ISSUER_REJECTED", retry: "terminal" });
    expect(denied.message).toMatch(/pki_int\/sign\/narrow.*HTTP 403.*permission denied/);
  });

  it("refuses an issue path and a missing Secret with a precise not-ready condition", async () => {
    const issue = await build(
      { path: "pki_int/issue/mesh", auth: { tokenSecretRef: { name: "t" } } },
      { t: { token: "x" } },
    );
    expect(issue.issuer.status()).toMatchObject({ ready: false, reason: "VaultError" });
    expect(issue.issuer.status().message).toMatch(/issue endpoint, which generates its own private key/);
    const missing = await build({
      path: "pki_int/sign/mesh",
      auth: { appRole: { path: "approle", roleId: "r", secretRef: { name: "nope", key: "id" } } },
    });
    expect(missing.issuer.status().message).toBe(`secret "${NS}/nope" not found`);
    expect(missing.secretNames).toEqual(["nope"]);
  });

  it("logs in with a client certificate (cert auth)", async () => {
    const dir = tempDir("meshsign-vault-client-");
    const key = path.join(dir, "tls.key");
    const crt = path.join(dir, "tls.crt");
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        key,
        "-out",
        crt,
        "-days",
        "1",
        "-subj",
        "/CN=meshsign",
        "-addext",
        "extendedKeyUsage=clientAuth",
      ],
      { stdio: "ignore" },
    );
    const crtPem = execFileSync("cat", [crt], { encoding: "utf8" });
    const keyPem = execFileSync("cat", [key], { encoding: "utf8" });
    await vault.must("POST", "auth/cert/certs/meshsign", {
      certificate: crtPem,
      token_policies: [SIGN_POLICY],
    });
    const { issuer } = await build(
      { path: "pki_int/sign/mesh", auth: { clientCertificate: { secretName: "client", name: "meshsign" } } },
      { client: { "tls.crt": crtPem, "tls.key": keyPem } },
    );
    expect(issuer.status()).toMatchObject({ ready: true });
    issued(await issuer.sign(request()));
    expect(vault.auditCount("auth/cert/login")).toBeGreaterThanOrEqual(1);
  });

  it("answers UNAVAILABLE-class errors fast while Vault is sealed, reports 'Vault is sealed', and recovers after unseal without a rebuild", async () => {
    const token = await vault.token([SIGN_POLICY]);
    const { issuer } = await build(
      { path: "pki_int/sign/mesh", auth: { tokenSecretRef: { name: "t" } } },
      { t: { token } },
    );
    await vault.seal();
    const t0 = performance.now();
    const err = await rejection(issuer.sign(request()));
    expect(performance.now() - t0).toBeLessThan(1_000);
    expect(err).toMatchObject({ code: "ERR_ISSUER_UNAVAILABLE", retry: "transient" });
    expect(await (issuer as VaultIssuer).refresh()).toEqual({
      ready: false,
      reason: "VaultError",
      message: "Vault is sealed",
    });
    await vault.unseal();
    expect((await (issuer as VaultIssuer).refresh()).ready).toBe(true);
    issued(await issuer.sign(request()));
  });

  it("answers every signature OK or transient-unavailable when Vault is killed mid-load", async () => {
    const token = await vault.token([SIGN_POLICY]);
    const { issuer } = await build(
      { path: "pki_int/sign/mesh", auth: { tokenSecretRef: { name: "t" } } },
      { t: { token } },
    );
    const calls = Array.from({ length: 40 }, (_, i) =>
      new Promise((r) => setTimeout(r, i * 10)).then(() =>
        issuer.sign(request()).then(
          () => "ok",
          (e: unknown) =>
            isMeshsignError(e, "ERR_ISSUER_UNAVAILABLE") && e.retry === "transient"
              ? "unavailable"
              : `other: ${String(e)}`,
        ),
      ),
    );
    await new Promise((r) => setTimeout(r, 150));
    await vault.stop();
    const outcomes = await Promise.all(calls);
    expect(outcomes.filter((o) => o !== "ok" && o !== "unavailable")).toEqual([]);
    expect(outcomes).toContain("unavailable");
    // A kept-alive socket the client has not yet seen closed answers "reset" instead of "refused" (a loaded machine decides which).
    expect((await (issuer as VaultIssuer).refresh()).message).toMatch(
      /Vault health check failed: connection to Vault (refused|reset)/,
    );
  });
});
