import { describe, expect, it } from "vitest";
import { CLUSTER_ISSUERS, SECRETS } from "../../src/api/types.js";
import { isRemoteIssuer, watchRemoteIssuer } from "../../src/server/workload-issuer.js";
import { MemoryStore } from "../../src/store/memory/index.js";
import type { KubeObject } from "../../src/store/types.js";

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
