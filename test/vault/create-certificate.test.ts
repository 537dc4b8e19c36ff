import { Writable } from "node:stream";
import { pino } from "pino";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLUSTER_ISSUERS, SECRETS } from "../../src/api/types.js";
import { IstioCaClient } from "../../src/csr-service/client.js";
import { systemClock } from "../../src/engine/clock.js";
import { IssuerController } from "../../src/engine/issuer-controller.js";
import type { IssuerResource } from "../../src/engine/lib/api.js";
import { createDefaultIssuerRegistry } from "../../src/issuers/registry.js";
import { buildCsr, generateKeySync } from "../../src/pki/keys.js";
import { buildRemoteWorkloadIssuer, type RemoteWorkloadIssuer } from "../../src/server/workload-issuer.js";
import { MemoryStore } from "../../src/store/memory/index.js";
import type { KubeObject } from "../../src/store/types.js";
import { type InProcessServer, startInProcessServer } from "../lib/inprocess-server.js";
import { opensslVerify } from "../lib/openssl.js";
import { VaultServer } from "./harness.js";

/*
 * CreateCertificate through a Vault ClusterIssuer, wired as `meshsign serve`
 * wires it (the workload issuer built from the store, guarded, checked
 * against the mesh roots), with meshsign's own CA only for the TLS listener.
 * The Issuer's Ready condition comes from an IssuerController on the same
 * store, as the engine runs it.
 */

const NS = "meshsign-system";
const OWN_CONNECTION = { "grpc.use_local_subchannel_pool": 1 };
/** Only meshsign's own namespace (the self-test identity) may be signed through this role. */
const SYSTEM_ONLY_POLICY = "meshsign-sign-system-only";

let vault: VaultServer;
let server: InProcessServer;
let store: MemoryStore;
let controller: IssuerController;
const logLines: string[] = [];
const log = pino(
  { level: "info" },
  new Writable({
    write(chunk: Buffer, _enc, done) {
      logLines.push(chunk.toString());
      done();
    },
  }),
);

function b64(s: string): string {
  return Buffer.from(s).toString("base64");
}

/** A ClusterIssuer `name` on `path` whose auth reads Secret `name` (data `secret`). */
async function clusterIssuer(
  name: string,
  path: string,
  auth: Record<string, unknown>,
  secret: Record<string, string>,
): Promise<void> {
  await store.create(SECRETS, {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name, namespace: NS },
    data: Object.fromEntries(Object.entries(secret).map(([k, v]) => [k, b64(v)])),
  } as KubeObject);
  await store.create(CLUSTER_ISSUERS, {
    apiVersion: "cert-manager.io/v1",
    kind: "ClusterIssuer",
    metadata: { name },
    spec: { vault: { server: vault.url, path, caBundle: b64(vault.caPem), auth } },
  } as KubeObject);
}

async function useIssuer(name: string): Promise<RemoteWorkloadIssuer> {
  const remote = await buildRemoteWorkloadIssuer({
    store,
    ref: { name, kind: "ClusterIssuer", group: "cert-manager.io", namespace: "" },
    config: server.config,
    log,
    metrics: new Registry(),
  });
  await server.stack.setRemote(remote);
  return remote;
}

/** The status details of the last refused call. */
let lastDetails = "";

/** One CreateCertificate as istio-agent sends it; resolves to the chain or the gRPC status code. */
async function createCertificate(namespace = "default", serviceAccount = "web"): Promise<string[] | number> {
  const token = await server.devIssuer.mintToken({ namespace, serviceAccount });
  const key = generateKeySync({ type: "ec", curve: "P-256" });
  const client = new IstioCaClient({ address: server.address, rootsPem: server.rootsPem }, OWN_CONNECTION);
  try {
    return await client.createCertificate({
      csr: buildCsr(key, { uris: [`spiffe://cluster.local/ns/${namespace}/sa/${serviceAccount}`] }),
      token,
      deadlineMs: 30_000,
    });
  } catch (err) {
    const { code, details } = err as { code?: number; details?: string };
    if (typeof code !== "number") throw err;
    lastDetails = details ?? "";
    return code;
  } finally {
    client.close();
  }
}

/** The Ready condition the controller wrote on ClusterIssuer `name`. */
async function readyCondition(name: string): Promise<{ status?: string; message?: string } | undefined> {
  const o = await store.get<IssuerResource>(CLUSTER_ISSUERS, undefined, name);
  return o?.status?.conditions?.find((c) => c.type === "Ready");
}

/** Polls `probe` until it returns true (event-driven enough for a loaded machine; generous deadline). */
async function until(what: string, probe: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

beforeAll(async () => {
  vault = new VaultServer();
  await vault.start();
  await vault.configure();
  server = await startInProcessServer();
  store = new MemoryStore();
  await vault.must("POST", "pki_int/roles/system-only", {
    allowed_uri_sans: ["spiffe://cluster.local/ns/meshsign-system/*"],
    require_cn: false,
    key_type: "any",
    max_ttl: "72h",
  });
  await vault.must("PUT", `sys/policies/acl/${SYSTEM_ONLY_POLICY}`, {
    policy: 'path "pki_int/sign/system-only" { capabilities = ["update"] }',
  });
  const approle = await vault.appRole("workloads", ["meshsign-sign"], "1h");
  await clusterIssuer(
    "vault",
    "pki_int/sign/mesh",
    { appRole: { path: "approle", roleId: approle.roleId, secretRef: { name: "vault", key: "secretId" } } },
    { secretId: approle.secretId },
  );
  await clusterIssuer(
    "vault-system-only",
    "pki_int/sign/system-only",
    { tokenSecretRef: { name: "vault-system-only", key: "token" } },
    { token: await vault.token([SYSTEM_ONLY_POLICY], "4h") },
  );
  controller = new IssuerController({
    store,
    registry: createDefaultIssuerRegistry({ clusterResourceNamespace: NS }),
    clock: systemClock,
  });
  await controller.start();
}, 120_000);

afterAll(async () => {
  controller?.stop();
  await server?.close();
  await vault?.stop();
});

describe("CreateCertificate through a Vault ClusterIssuer", () => {
  it("returns [leaf, intermediate, root] that openssl verifies against Vault's root", async () => {
    const remote = await useIssuer("vault");
    expect(remote.rootsPem.trim()).toBe(vault.rootPem.trim());
    const chain = await createCertificate();
    expect(Array.isArray(chain)).toBe(true);
    const [leaf, intermediate, root] = chain as string[];
    expect(chain).toHaveLength(3);
    expect(intermediate?.trim()).toBe(vault.intermediatePem.trim());
    expect(root?.trim()).toBe(vault.rootPem.trim());
    const verified = opensslVerify(root as string, leaf as string, [intermediate as string]);
    expect(verified.ok, verified.output).toBe(true);
  });

  it("answers INTERNAL with Vault's reason when the role forbids the workload's SAN", async () => {
    await useIssuer("vault-system-only");
    try {
      expect(await createCertificate()).toBe(13);
      expect(lastDetails).toMatch(
        /pki_int\/sign\/system-only failed to sign the certificate \(HTTP 400\): URI Subject Alternative Names were provided via CSR which are not valid for this role/,
      );
      // The role does allow meshsign's own namespace.
      expect(await createCertificate("meshsign-system", "istiod")).toHaveLength(3);
    } finally {
      await useIssuer("vault");
    }
  });

  it("logs in again exactly once when the token expires, however many calls come after (Vault's audit log)", async () => {
    await vault.must("POST", "auth/approle/role/expiring", {
      token_policies: ["meshsign-sign"],
      token_ttl: "4s",
      token_max_ttl: "4s",
    });
    const roleId = (await vault.must("GET", "auth/approle/role/expiring/role-id")).json.data
      .role_id as string;
    const secretId = (await vault.must("POST", "auth/approle/role/expiring/secret-id", {})).json.data
      .secret_id as string;
    await clusterIssuer(
      "vault-expiring",
      "pki_int/sign/mesh",
      { appRole: { path: "approle", roleId, secretRef: { name: "vault-expiring", key: "secretId" } } },
      { secretId },
    );
    await controller.settled();
    try {
      const before = vault.auditCount("auth/approle/login");
      await useIssuer("vault-expiring");
      for (const chain of await Promise.all(Array.from({ length: 10 }, () => createCertificate())))
        expect(chain).toHaveLength(3);
      expect(vault.auditCount("auth/approle/login") - before).toBe(1);
      // Past the token's maximum TTL: the next calls share one fresh login.
      await new Promise((r) => setTimeout(r, 4_500));
      for (const chain of await Promise.all(Array.from({ length: 10 }, () => createCertificate())))
        expect(chain).toHaveLength(3);
      expect(vault.auditCount("auth/approle/login") - before).toBe(2);
    } finally {
      await useIssuer("vault");
    }
  });

  it("answers UNAVAILABLE while Vault is sealed, the Issuer says 'Vault is sealed', and unsealing recovers both without a restart", async () => {
    await until(
      "the vault ClusterIssuer Ready",
      async () => (await readyCondition("vault"))?.status === "True",
    );
    await vault.seal();
    try {
      for (let i = 0; i < 3; i++) {
        const started = process.hrtime.bigint();
        expect(await createCertificate()).toBe(14);
        // Recorded, not asserted: how fast depends on the machine's load.
        console.log(
          `vault sealed: CreateCertificate UNAVAILABLE in ${(Number(process.hrtime.bigint() - started) / 1e6).toFixed(0)} ms`,
        );
      }
      await until(
        "the condition 'Vault is sealed'",
        async () => (await readyCondition("vault"))?.message === "Vault is sealed",
      );
      expect(await readyCondition("vault")).toMatchObject({ status: "False", message: "Vault is sealed" });
    } finally {
      await vault.unseal();
    }
    await until(
      "the vault ClusterIssuer Ready again",
      async () => (await readyCondition("vault"))?.status === "True",
    );
    await until("CreateCertificate through Vault again", async () =>
      Array.isArray(await createCertificate()),
    );
  }, 120_000);

  it("answers every call OK or UNAVAILABLE when Vault is killed mid-load, and no call is lost", async () => {
    const calls = Array.from({ length: 60 }, (_, i) =>
      new Promise((r) => setTimeout(r, i * 10)).then(() => createCertificate()),
    );
    await new Promise((r) => setTimeout(r, 200));
    await vault.stop();
    const outcomes = (await Promise.all(calls)).map((r) =>
      Array.isArray(r) ? (r.length === 3 ? "ok" : "short chain") : r === 14 ? "unavailable" : `status ${r}`,
    );
    expect(outcomes).toHaveLength(60);
    expect(outcomes.filter((o) => o !== "ok" && o !== "unavailable")).toEqual([]);
    expect(outcomes).toContain("unavailable");
    // The circuit is open now: the next call is refused without waiting on a dead Vault.
    expect(await createCertificate()).toBe(14);
    expect(logLines.join("")).toMatch(/remote issuer failing: answering UNAVAILABLE without calling it/);
  });
});
