/**
 * The istio-ca-root-cert distributor over the in-memory Store: selection,
 * creation for new namespaces, repair after edits, republication on root
 * rotation. (The same distributor runs on a real API server in
 * test/kube/trust.test.ts.)
 */
import { afterEach, describe, expect, it } from "vitest";
import { type LabelSelector, parseLabelSelector } from "../../src/api/label-selector.js";
import { CONFIGMAPS, type ConfigMap, NAMESPACES, type Namespace } from "../../src/api/types.js";
import { MeshsignError } from "../../src/errors/index.js";
import { MemoryStore } from "../../src/store/memory/index.js";
import { RootConfigMapDistributor, RootsBroadcaster } from "../../src/trust/index.js";

const ROOT_A = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
const ROOT_B = "-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----\n";

const running: RootConfigMapDistributor[] = [];
afterEach(() => {
  for (const d of running.splice(0)) d.stop();
});

function namespace(name: string, labels: Record<string, string> = { mesh: "on" }): Namespace {
  return { apiVersion: "v1", kind: "Namespace", metadata: { name, labels } };
}

async function setup(initialRoots: string | null = ROOT_A, namespaceSelector: LabelSelector = parseLabelSelector("mesh=on")) {
  const store = new MemoryStore();
  const roots = new RootsBroadcaster(initialRoots ?? undefined);
  const changes: string[] = [];
  const errors: unknown[] = [];
  const distributor = new RootConfigMapDistributor({
    store,
    roots,
    namespaceSelector,
    onChanged: (ns, action) => changes.push(`${action} ${ns}`),
    onError: (_ns, err) => errors.push(err),
  });
  running.push(distributor);
  return { store, roots, distributor, changes, errors };
}

async function rootConfigMap(store: MemoryStore, ns: string): Promise<ConfigMap | undefined> {
  return store.get<ConfigMap>(CONFIGMAPS, ns, "istio-ca-root-cert");
}

async function settle(d: RootConfigMapDistributor): Promise<void> {
  // Watch events are delivered asynchronously; let them arrive, then drain the queue.
  for (let i = 0; i < 5; i++) {
    await new Promise((r) => setTimeout(r, 5));
    await d.idle();
  }
}

describe("RootConfigMapDistributor", () => {
  it("publishes the roots in every selected namespace and nowhere else", async () => {
    const { store, distributor } = await setup();
    await store.create(NAMESPACES, namespace("a"));
    await store.create(NAMESPACES, namespace("b"));
    await store.create(NAMESPACES, namespace("other", { mesh: "off" }));
    await distributor.start();
    await settle(distributor);
    for (const ns of ["a", "b"]) {
      const cm = await rootConfigMap(store, ns);
      expect(cm?.data).toEqual({ "root-cert.pem": ROOT_A });
      expect(cm?.metadata.labels).toEqual({ "istio.io/config": "true" });
    }
    expect(await rootConfigMap(store, "other")).toBeUndefined();
  });

  it("selects namespaces with a set-based selector, as istio-csr's --configmap-namespace-selector does", async () => {
    const { store, distributor } = await setup(ROOT_A, parseLabelSelector("maistra.io/member-of in (istio-system), !legacy"));
    await store.create(NAMESPACES, namespace("member", { "maistra.io/member-of": "istio-system" }));
    await store.create(NAMESPACES, namespace("other-mesh", { "maistra.io/member-of": "other" }));
    await store.create(NAMESPACES, namespace("old", { "maistra.io/member-of": "istio-system", legacy: "true" }));
    await distributor.start();
    await settle(distributor);
    expect((await rootConfigMap(store, "member"))?.data).toEqual({ "root-cert.pem": ROOT_A });
    expect(await rootConfigMap(store, "other-mesh")).toBeUndefined();
    expect(await rootConfigMap(store, "old")).toBeUndefined();
    expect(await distributor.reconcile("old")).toEqual({ action: "skip", reason: "NamespaceNotSelected" });
  });

  it("creates the ConfigMap in a namespace created after start, and in one that becomes selected", async () => {
    const { store, distributor } = await setup();
    await distributor.start();
    await store.create(NAMESPACES, namespace("late"));
    const off = await store.create(NAMESPACES, namespace("joins", { mesh: "off" }));
    await settle(distributor);
    expect((await rootConfigMap(store, "late"))?.data).toEqual({ "root-cert.pem": ROOT_A });
    expect(await rootConfigMap(store, "joins")).toBeUndefined();
    await store.update(NAMESPACES, { ...off, metadata: { ...off.metadata, labels: { mesh: "on" } } });
    await settle(distributor);
    expect((await rootConfigMap(store, "joins"))?.data).toEqual({ "root-cert.pem": ROOT_A });
  });

  it.each([
    ["its data is changed", (cm: ConfigMap): ConfigMap => ({ ...cm, data: { "root-cert.pem": "tampered" } })],
    ["a key is added", (cm: ConfigMap): ConfigMap => ({ ...cm, data: { ...cm.data, "extra.pem": "x" } })],
    [
      "its label is removed",
      (cm: ConfigMap): ConfigMap => ({ ...cm, metadata: { ...cm.metadata, labels: { unrelated: "kept" } } }),
    ],
  ])("repairs the ConfigMap after %s", async (_name, edit) => {
    const { store, distributor, changes } = await setup();
    await store.create(NAMESPACES, namespace("app"));
    await distributor.start();
    await settle(distributor);
    const cm = await rootConfigMap(store, "app");
    if (!cm) throw new Error("not created");
    await store.update(CONFIGMAPS, edit(cm));
    await settle(distributor);
    const repaired = await rootConfigMap(store, "app");
    expect(repaired?.data).toEqual({ "root-cert.pem": ROOT_A });
    expect(repaired?.metadata.labels?.["istio.io/config"]).toBe("true");
    expect(changes).toEqual(["create app", "update app"]);
  });

  it("recreates the ConfigMap after it is deleted", async () => {
    const { store, distributor } = await setup();
    await store.create(NAMESPACES, namespace("app"));
    await distributor.start();
    await settle(distributor);
    await store.delete(CONFIGMAPS, "app", "istio-ca-root-cert");
    await settle(distributor);
    expect((await rootConfigMap(store, "app"))?.data).toEqual({ "root-cert.pem": ROOT_A });
  });

  it("republishes everywhere when the roots rotate to old+new", async () => {
    const { store, roots, distributor } = await setup();
    await store.create(NAMESPACES, namespace("a"));
    await store.create(NAMESPACES, namespace("b"));
    await distributor.start();
    await settle(distributor);
    roots.set(ROOT_A + ROOT_B);
    await settle(distributor);
    for (const ns of ["a", "b"])
      expect((await rootConfigMap(store, ns))?.data?.["root-cert.pem"]).toBe(ROOT_A + ROOT_B);
  });

  it("writes nothing until roots are known, then publishes", async () => {
    const { store, roots, distributor } = await setup(null);
    await store.create(NAMESPACES, namespace("a"));
    await distributor.start();
    await settle(distributor);
    expect(await rootConfigMap(store, "a")).toBeUndefined();
    roots.set(ROOT_B);
    await settle(distributor);
    expect((await rootConfigMap(store, "a"))?.data).toEqual({ "root-cert.pem": ROOT_B });
  });

  it("skips a terminating namespace", async () => {
    const { store, distributor } = await setup();
    // A finalizer keeps the deleted namespace around with deletionTimestamp set, as Kubernetes does.
    const dying = namespace("dying");
    dying.metadata.finalizers = ["kubernetes"];
    await store.create(NAMESPACES, dying);
    await store.delete(NAMESPACES, undefined, "dying");
    await distributor.start();
    await settle(distributor);
    expect(await distributor.reconcile("dying")).toEqual({ action: "skip", reason: "NamespaceTerminating" });
    expect(await rootConfigMap(store, "dying")).toBeUndefined();
  });

  it("never deletes a ConfigMap when its namespace stops matching", async () => {
    const { store, distributor } = await setup();
    const ns = await store.create(NAMESPACES, namespace("leaves"));
    await distributor.start();
    await settle(distributor);
    await store.update(NAMESPACES, { ...ns, metadata: { ...ns.metadata, labels: { mesh: "off" } } });
    await settle(distributor);
    expect((await rootConfigMap(store, "leaves"))?.data).toEqual({ "root-cert.pem": ROOT_A });
  });

  it("retries a namespace whose write failed and reports the failure", async () => {
    const { store, distributor, errors } = await setup();
    await store.create(NAMESPACES, namespace("flaky"));
    const realCreate = store.create.bind(store);
    let failures = 1;
    store.create = (async (type, object) => {
      if (type === CONFIGMAPS && failures-- > 0) {
        throw new MeshsignError("ERR_STORE_UNAVAILABLE", "down", { retry: "transient" });
      }
      return realCreate(type, object);
    }) as typeof store.create;
    await distributor.start();
    for (let i = 0; i < 50 && !(await rootConfigMap(store, "flaky")); i++)
      await new Promise((r) => setTimeout(r, 20));
    expect((await rootConfigMap(store, "flaky"))?.data).toEqual({ "root-cert.pem": ROOT_A });
    expect(errors).toHaveLength(1);
  });
});
