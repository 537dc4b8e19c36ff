import { existsSync, mkdirSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { CLUSTER_ISSUERS, ISSUERS, SECRETS } from "../../src/api/types.js";
import { isMeshsignError } from "../../src/errors/index.js";
import {
  isRemoteIssuer,
  refuseAcmeWorkloadIssuer,
  watchRemoteIssuer,
} from "../../src/server/workload-issuer.js";
import { MemoryStore } from "../../src/store/memory/index.js";
import type { KubeObject } from "../../src/store/types.js";
import { runMeshsign } from "../lib/meshsign-process.js";
import { TempDir } from "../lib/temp-dir.js";

const tmp = new TempDir("meshsign-workload-issuer-");
afterAll(() => tmp.remove());

/*
 * The remote workload issuer is rebuilt when its ClusterIssuer's spec or a
 * Secret it reads changes, and only then: not for its own status writes,
 * nor for the many other Secrets of its namespace (every issued
 * Certificate's).
 */

const REF = { name: "vault", kind: "ClusterIssuer", group: "cert-manager.io", namespace: "" } as const;

function secret(name: string, value: string): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name, namespace: "meshsign-system" },
    data: { token: Buffer.from(value).toString("base64") },
  } as KubeObject;
}

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

/** Waits (event-driven, generous) until `n` changes were reported. */
async function changesReach(get: () => number, n: number): Promise<void> {
  for (let i = 0; i < 2000 && get() < n; i++) await new Promise((r) => setTimeout(r, 5));
}

describe("following the remote workload issuer", () => {
  it("tells a Vault issuer from a CA issuer and a missing one", async () => {
    const store = new MemoryStore();
    await store.create(CLUSTER_ISSUERS, {
      apiVersion: "cert-manager.io/v1",
      kind: "ClusterIssuer",
      metadata: { name: "vault" },
      spec: { vault: { server: "https://v" } },
    } as KubeObject);
    await store.create(CLUSTER_ISSUERS, {
      apiVersion: "cert-manager.io/v1",
      kind: "ClusterIssuer",
      metadata: { name: "ca" },
      spec: { ca: { secretName: "x" } },
    } as KubeObject);
    expect(await isRemoteIssuer(store, REF)).toBe(true);
    expect(await isRemoteIssuer(store, { ...REF, name: "ca" })).toBe(false);
    expect(await isRemoteIssuer(store, { ...REF, name: "missing" })).toBeUndefined();
    expect(await isRemoteIssuer(store, { ...REF, group: "other.io" })).toBeUndefined();
  });

  it("calls back on a spec change and on a change to a Secret it reads, not on status writes or other Secrets", async () => {
    const store = new MemoryStore();
    await store.create(CLUSTER_ISSUERS, {
      apiVersion: "cert-manager.io/v1",
      kind: "ClusterIssuer",
      metadata: { name: "vault" },
      spec: { vault: { server: "https://v", path: "pki/sign/a" } },
    } as KubeObject);
    await store.create(SECRETS, secret("vault-token", "one"));
    await store.create(SECRETS, secret("some-certificate", "x"));
    let changes = 0;
    const watch = watchRemoteIssuer(
      store,
      REF,
      { secretNamespace: "meshsign-system", secretNames: ["vault-token"] },
      () => {
        changes++;
      },
    );
    await watch.synced;
    expect(changes).toBe(0);

    const issuer = (await store.get<KubeObject & { spec: unknown }>(
      CLUSTER_ISSUERS,
      undefined,
      "vault",
    )) as KubeObject & { spec: unknown };
    await store.updateStatus(CLUSTER_ISSUERS, {
      ...issuer,
      status: { conditions: [{ type: "Ready", status: "False" }] },
    } as KubeObject);
    const other = (await store.get<KubeObject>(SECRETS, "meshsign-system", "some-certificate")) as KubeObject;
    await store.update(SECRETS, { ...other, data: { token: "eQ==" } } as KubeObject);
    await settle();
    expect(changes).toBe(0);

    const token = (await store.get<KubeObject>(SECRETS, "meshsign-system", "vault-token")) as KubeObject;
    await store.update(SECRETS, {
      ...token,
      data: { token: Buffer.from("two").toString("base64") },
    } as KubeObject);
    await changesReach(() => changes, 1);
    expect(changes).toBe(1);

    const fresh = (await store.get<KubeObject & { spec: unknown }>(
      CLUSTER_ISSUERS,
      undefined,
      "vault",
    )) as KubeObject;
    await store.update(CLUSTER_ISSUERS, {
      ...fresh,
      spec: { vault: { server: "https://v", path: "pki/sign/b" } },
    } as KubeObject);
    await changesReach(() => changes, 2);
    await settle();
    expect(changes).toBe(2);
    watch.stop();
  });
});

describe("an ACME issuer is refused as the workload issuer", () => {
  const acme = (name: string, namespace?: string): KubeObject =>
    ({
      apiVersion: "cert-manager.io/v1",
      kind: namespace === undefined ? "ClusterIssuer" : "Issuer",
      metadata: { name, ...(namespace === undefined ? {} : { namespace }) },
      spec: {
        acme: {
          server: "https://acme.example/directory",
          privateKeySecretRef: { name: `${name}-account` },
          solvers: [{ http01: { ingress: {} } }],
        },
      },
    }) as KubeObject;

  it("refuses an ACME ClusterIssuer or Issuer, naming it, and lets a CA, a Vault or a missing issuer through", async () => {
    const store = new MemoryStore();
    await store.create(CLUSTER_ISSUERS, acme("public"));
    await store.create(ISSUERS, acme("le", "istio-system"));
    await store.create(CLUSTER_ISSUERS, {
      apiVersion: "cert-manager.io/v1",
      kind: "ClusterIssuer",
      metadata: { name: "ca" },
      spec: { ca: { secretName: "x" } },
    } as KubeObject);
    const cluster = await refuseAcmeWorkloadIssuer(store, { ...REF, name: "public" }).catch(
      (e: unknown) => e,
    );
    expect(isMeshsignError(cluster, "ERR_CONFIG_INVALID")).toBe(true);
    expect((cluster as Error).message).toMatch(
      /^ClusterIssuer public is an ACME issuer: .*cannot sign workload certificates/,
    );
    const namespaced = await refuseAcmeWorkloadIssuer(store, {
      name: "le",
      kind: "Issuer",
      group: "cert-manager.io",
      namespace: "istio-system",
    }).catch((e: unknown) => e);
    expect((namespaced as Error).message).toMatch(/^Issuer istio-system\/le is an ACME issuer/);
    await expect(refuseAcmeWorkloadIssuer(store, { ...REF, name: "ca" })).resolves.toBeUndefined();
    await expect(refuseAcmeWorkloadIssuer(store, { ...REF, name: "missing" })).resolves.toBeUndefined();
  });

  it("standalone meshsign serve with --issuer-name naming an ACME ClusterIssuer from --manifests exits 1 saying why, before serving", async () => {
    const cwd = tmp.path("standalone-acme");
    mkdirSync(`${cwd}/manifests`, { recursive: true });
    tmp.write(
      "standalone-acme/manifests/acme.yaml",
      [
        "apiVersion: cert-manager.io/v1",
        "kind: ClusterIssuer",
        "metadata:",
        "  name: public",
        "spec:",
        "  acme:",
        "    server: https://127.0.0.1:1/directory",
        "    privateKeySecretRef:",
        "      name: public-account",
        "    solvers:",
        "      - http01:",
        "          ingress: {}",
        "",
      ].join("\n"),
    );
    const r = await runMeshsign(
      [
        "serve",
        "--manifests=manifests",
        "--issuer-name=public",
        "--serving-address=127.0.0.1:0",
        "--admin-address=127.0.0.1:0",
        "--readiness-probe-port=0",
        "--metrics-port=0",
        "--acme-http01-solver-address=",
        "--workers=1",
      ],
      { cwd, env: {}, timeoutMs: 100_000 },
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      "ClusterIssuer public is an ACME issuer: public ACME CAs do not issue SPIFFE SVIDs",
    );
    expect(existsSync(`${cwd}/.meshsign/secrets`)).toBe(false);
  }, 120_000);
});
