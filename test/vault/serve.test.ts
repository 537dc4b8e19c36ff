import { mkdirSync, writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DevTokenIssuer } from "../../src/authn/index.js";
import { IstioCaClient } from "../../src/csr-service/client.js";
import { decodePemAll, parseCertificate } from "../../src/pki/index.js";
import { buildCsr, generateKeySync } from "../../src/pki/keys.js";
import { ServeProcess } from "../lib/meshsign-process.js";
import { opensslVerify } from "../lib/openssl.js";
import { TempDir } from "../lib/temp-dir.js";
import { SIGN_POLICY, VaultServer } from "./harness.js";

/*
 * `meshsign serve` with two CreateCertificate workers and `--issuer-name`
 * naming a Vault ClusterIssuer loaded from `--manifests`: each worker calls
 * Vault itself with the token the primary holds, the start-up self-test and meshsign's
 * own serving certificate go through Vault, and every response is
 * [leaf, intermediate, Vault's root].
 */

const SVID = "spiffe://cluster.local/ns/default/sa/web";
const OWN_CONNECTION = { "grpc.use_local_subchannel_pool": 1 };

let vault: VaultServer;
let tmp: TempDir;
let serve: ServeProcess;
let address = "";
let vaultToken = "";

function b64(s: string): string {
  return Buffer.from(s).toString("base64");
}

/** The token Secret and the ClusterIssuer that reads it, in the folder `--manifests` follows. */
function writeManifests(token: string): void {
  writeFileSync(
    tmp.path("manifests/vault.yaml"),
    `apiVersion: v1
kind: Secret
metadata: {name: vault-token, namespace: meshsign-system}
data: {token: ${b64(token)}}
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
      tokenSecretRef: {name: vault-token, key: token}
`,
  );
}

beforeAll(async () => {
  vault = new VaultServer();
  await vault.start();
  await vault.configure();
  tmp = new TempDir("meshsign-vault-serve-");
  // Its own folder: --manifests follows every file below it, and the data dir is no manifest.
  mkdirSync(tmp.path("manifests"));
  const token = await vault.token([SIGN_POLICY], "4h");
  vaultToken = token;
  writeManifests(token);
  serve = ServeProcess.start(
    [
      "--data-dir",
      tmp.path("data"),
      "--manifests",
      tmp.path("manifests"),
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
  const banner = await serve.banner(90_000);
  address = `localhost:${banner.grpcPort}`;
}, 180_000);

afterAll(async () => {
  await serve?.stop();
  await vault?.stop();
  tmp?.remove();
});

async function createCertificate(
  identity = { namespace: "default", serviceAccount: "web" },
): Promise<string[]> {
  const token = await DevTokenIssuer.loadOrCreate(tmp.path("data"), { enabled: true }).mintToken(identity);
  const key = generateKeySync({ type: "ec", curve: "P-256" });
  const client = new IstioCaClient({ address, rootsPem: vault.rootPem }, OWN_CONNECTION);
  try {
    return await client.createCertificate({
      csr: buildCsr(key, {
        uris: [`spiffe://cluster.local/ns/${identity.namespace}/sa/${identity.serviceAccount}`],
      }),
      token,
      deadlineMs: 30_000,
    });
  } finally {
    client.close();
  }
}

describe("meshsign serve signing workload certificates through a Vault ClusterIssuer", () => {
  it("answers [leaf, intermediate, root] with two workers, which openssl verifies against Vault's root", async () => {
    // The serving certificate itself came from Vault: the client above trusts only Vault's root.
    expect(serve.stderr).toMatch(/workload certificates are signed by a remote issuer/);
    const chains = await Promise.all(Array.from({ length: 8 }, () => createCertificate()));
    for (const chain of chains) {
      expect(chain).toHaveLength(3);
      const [leaf, intermediate, root] = chain as [string, string, string];
      expect(root.trim()).toBe(vault.rootPem.trim());
      expect(intermediate.trim()).toBe(vault.intermediatePem.trim());
      const parsed = parseCertificate(decodePemAll(leaf, "CERTIFICATE")[0] as Uint8Array);
      expect(parsed.uris).toEqual([SVID]);
      expect(parsed.issuer).toEqual(
        parseCertificate(decodePemAll(intermediate, "CERTIFICATE")[0] as Uint8Array).subject,
      );
      const verified = opensslVerify(root, leaf, [intermediate]);
      expect(verified.ok, verified.output).toBe(true);
    }
    // The token travels from the primary to the workers, never into a log line.
    expect(serve.stderr).not.toContain(vaultToken);
    expect(serve.stdout).not.toContain(vaultToken);
  });

  it("follows a new token in the issuer's Secret: once the old one is revoked, both workers sign with the new one, without a restart", async () => {
    const next = await vault.token([SIGN_POLICY], "4h");
    writeManifests(next);
    const deadline = Date.now() + 40_000;
    const tail = () => serve.stderr.split("\n").slice(-15).join("\n");
    while (!/workload issuer rebuilt after a change/.test(serve.stderr)) {
      if (Date.now() > deadline) throw new Error(`the primary did not rebuild the workload issuer:\n${tail()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    // A static token cannot be re-obtained: a worker still holding the old one could not sign at all.
    await vault.must("POST", "auth/token/revoke", { token: vaultToken });
    let chains: unknown[] = [];
    for (;;) {
      chains = await Promise.all(
        Array.from({ length: 8 }, () => createCertificate().catch((err: { code?: number }) => err.code)),
      );
      if (chains.every((c) => Array.isArray(c) && c.length === 3) || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(chains.map((c) => (Array.isArray(c) ? c.length : `status ${c}`)), tail()).toEqual(Array(8).fill(3));
    expect(serve.stderr).not.toContain(next);
    vaultToken = next;
  });

  it("answers UNAVAILABLE while Vault is sealed and signs again after unseal, without a restart", async () => {
    await vault.seal();
    try {
      const started = process.hrtime.bigint();
      const err = (await createCertificate().then(
        () => undefined,
        (e: unknown) => e,
      )) as { code?: number; details?: string };
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      // The time is recorded, not asserted (a loaded machine decides it); docs/benchmarks.md has the figure.
      console.log(`vault sealed: CreateCertificate answered ${err?.code} in ${ms.toFixed(0)} ms`);
      expect(err?.code).toBe(14);
    } finally {
      await vault.unseal();
    }
    // Vault's PKI mount needs a moment after unseal; istio-agent retries the same way.
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        expect(await createCertificate()).toHaveLength(3);
        break;
      } catch (err) {
        if (Date.now() > deadline || (err as { code?: number }).code !== 14) throw err;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  });

  it("answers every call OK or UNAVAILABLE when Vault is killed mid-load, with two workers calling Vault", async () => {
    const calls = Array.from({ length: 40 }, (_, i) =>
      new Promise((r) => setTimeout(r, i * 10)).then(() =>
        createCertificate().then(
          (chain) => (chain.length === 3 ? "ok" : `short chain ${chain.length}`),
          (err: unknown) =>
            (err as { code?: number }).code === 14
              ? "unavailable"
              : `status ${(err as { code?: number }).code}`,
        ),
      ),
    );
    await new Promise((r) => setTimeout(r, 150));
    await vault.stop();
    const outcomes = await Promise.all(calls);
    expect(outcomes).toHaveLength(40);
    expect(outcomes.filter((o) => o !== "ok" && o !== "unavailable")).toEqual([]);
    expect(outcomes).toContain("unavailable");
    // meshsign itself keeps running and answers.
    expect(serve.running).toBe(true);
  });
});
