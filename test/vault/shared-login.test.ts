import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DevTokenIssuer } from "../../src/authn/index.js";
import { IstioCaClient } from "../../src/csr-service/client.js";
import { buildCsr, generateKeySync } from "../../src/pki/keys.js";
import { ServeProcess } from "../lib/meshsign-process.js";
import { TempDir } from "../lib/temp-dir.js";
import { SIGN_POLICY, VaultServer } from "./harness.js";

/*
 * One Vault login per Issuer resource in a `meshsign serve` process tree: the
 * engine signing Certificates in the primary and the two workers calling
 * Vault themselves for CreateCertificate (with the primary's token) go
 * through the same ClusterIssuer with AppRole auth, and Vault's audit log
 * shows one login for all of them, and one more after Vault revokes it.
 */

const CERTIFICATES = 3;
const CALLS = 6;
const OWN_CONNECTION = { "grpc.use_local_subchannel_pool": 1 };

let vault: VaultServer;
let tmp: TempDir;
let serve: ServeProcess;

function b64(s: string): string {
  return Buffer.from(s).toString("base64");
}

beforeAll(async () => {
  vault = new VaultServer();
  await vault.start();
  await vault.configure();
  tmp = new TempDir("meshsign-vault-shared-");
  const approle = await vault.appRole("shared", [SIGN_POLICY], "1h");
  const certificates = Array.from(
    { length: CERTIFICATES },
    (_, i) => `---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: app-${i}, namespace: default}
spec:
  secretName: app-${i}-tls
  issuerRef: {name: vault, kind: ClusterIssuer}
  duration: 24h
  dnsNames: [app-${i}.default.svc.cluster.local]
  privateKey: {algorithm: ECDSA, size: 256}
`,
  );
  mkdirSync(tmp.path("manifests"));
  writeFileSync(
    tmp.path("manifests/vault.yaml"),
    `apiVersion: v1
kind: Secret
metadata: {name: vault-approle, namespace: meshsign-system}
data: {secretId: ${b64(approle.secretId)}}
---
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: vault}
spec:
  vault:
    server: ${vault.url}
    path: pki_int/sign/mesh
    caBundle: ${b64(vault.caPem)}
    auth:
      appRole: {path: approle, roleId: ${approle.roleId}, secretRef: {name: vault-approle, key: secretId}}
${certificates.join("")}`,
  );
  serve = ServeProcess.start(
    [
      "--data-dir",
      tmp.path("data"),
      "--manifests",
      tmp.path("manifests"),
      "--output-dir",
      tmp.path("out"),
      "--issuer-name",
      "vault",
      "--issuer-kind",
      "ClusterIssuer",
      "--workers",
      "2",
      "--serving-certificate-dns-names",
      "localhost",
      "--identity-rate-limit",
      "0",
    ],
    { cwd: tmp.path(".") },
  );
  await serve.banner(90_000);
}, 180_000);

afterAll(async () => {
  await serve?.stop();
  await vault?.stop();
  tmp?.remove();
});

async function createCertificate(address: string): Promise<string[]> {
  const token = await DevTokenIssuer.loadOrCreate(tmp.path("data"), { enabled: true }).mintToken({
    namespace: "default",
    serviceAccount: "web",
  });
  const key = generateKeySync({ type: "ec", curve: "P-256" });
  const client = new IstioCaClient({ address, rootsPem: vault.rootPem }, OWN_CONNECTION);
  try {
    return await client.createCertificate({
      csr: buildCsr(key, { uris: ["spiffe://cluster.local/ns/default/sa/web"] }),
      token,
      deadlineMs: 30_000,
    });
  } finally {
    client.close();
  }
}

describe("one Vault issuer per ClusterIssuer in meshsign serve", () => {
  it(`logs in once for ${CERTIFICATES} engine Certificates and ${CALLS} CreateCertificate calls through two workers (Vault's audit log)`, async () => {
    const deadline = Date.now() + 120_000;
    const issued = () =>
      Array.from({ length: CERTIFICATES }, (_, i) => tmp.path(`out/default/app-${i}-tls/tls.crt`)).every(
        (f) => existsSync(f),
      );
    while (!issued()) {
      if (Date.now() > deadline) throw new Error(`the engine did not issue the ${CERTIFICATES} Certificates`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const address = `localhost:${(await serve.banner()).grpcPort}`;
    for (const chain of await Promise.all(Array.from({ length: CALLS }, () => createCertificate(address))))
      expect(chain).toHaveLength(3);
    // Engine signatures: the serving certificate and the Certificates; CreateCertificate: the self-test and the calls.
    expect(vault.auditCount("pki_int/sign/mesh")).toBeGreaterThanOrEqual(CERTIFICATES + CALLS);
    expect(vault.auditCount("auth/approle/login")).toBe(1);
  }, 180_000);

  it("logs in once more when Vault revokes the token, however many calls in both workers it refuses, and every call succeeds", async () => {
    const address = `localhost:${(await serve.banner()).grpcPort}`;
    const before = vault.auditCount("auth/approle/login");
    const signedBefore = vault.auditCount("pki_int/sign/mesh");
    await vault.must("PUT", "sys/leases/revoke-prefix/auth/approle/login");
    for (const chain of await Promise.all(Array.from({ length: CALLS * 2 }, () => createCertificate(address))))
      expect(chain).toHaveLength(3);
    expect(vault.auditCount("auth/approle/login") - before).toBe(1);
    // The workers called Vault themselves: each call is at least one signature (a refused one, then one with the new token).
    expect(vault.auditCount("pki_int/sign/mesh") - signedBefore).toBeGreaterThanOrEqual(CALLS * 2);
    for (const chain of await Promise.all(Array.from({ length: CALLS }, () => createCertificate(address))))
      expect(chain).toHaveLength(3);
    expect(vault.auditCount("auth/approle/login") - before).toBe(1);
  }, 180_000);
});
