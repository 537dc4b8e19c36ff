/**
 * The Kubernetes Store against a real kube-apiserver: the contract of
 * src/store/types.ts, as the embedded store honours it, plus the Kubernetes
 * specifics (labelled-Secret cache, server-side apply, RBAC refusals).
 */
import { CoreV1Api, KubeConfig, RbacAuthorizationV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { labelSelectorFromSet, parseLabelSelector } from "../../src/api/label-selector.js";
import { isMeshsignError } from "../../src/errors/index.js";
import { KubeStore, SECRET_CACHE_LABEL } from "../../src/store/kube/index.js";
import type { KubeObject, ResourceType, WatchEvent } from "../../src/store/types.js";
import { type KubeApiServer, kubeconfig, startKubeApiServer } from "./harness.js";
import { installCrds } from "./lib/crds.js";
import { eventually } from "./lib/eventually.js";
import { rejection } from "../lib/rejection.js";

const ConfigMaps: ResourceType = {
  group: "",
  version: "v1",
  kind: "ConfigMap",
  plural: "configmaps",
  namespaced: true,
};
const Secrets: ResourceType = {
  group: "",
  version: "v1",
  kind: "Secret",
  plural: "secrets",
  namespaced: true,
};
const Namespaces: ResourceType = {
  group: "",
  version: "v1",
  kind: "Namespace",
  plural: "namespaces",
  namespaced: false,
};
const Certificates: ResourceType = {
  group: "cert-manager.io",
  version: "v1",
  kind: "Certificate",
  plural: "certificates",
  namespaced: true,
};

interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
}
interface Secret extends KubeObject {
  type?: string;
  data?: Record<string, string>;
}
interface Certificate extends KubeObject {
  spec: { secretName: string; dnsNames?: string[]; issuerRef: { name: string; kind?: string } };
  status?: { conditions?: Array<{ type: string; status: string; reason?: string }> };
}

let api: KubeApiServer;
let kc: KubeConfig;
let store: KubeStore;
let core: CoreV1Api;
const NS = "store-test";

function certificate(name: string, dnsName = `${name}.example.com`): Certificate {
  return {
    apiVersion: "cert-manager.io/v1",
    kind: "Certificate",
    metadata: { name, namespace: NS },
    spec: { secretName: `${name}-tls`, dnsNames: [dnsName], issuerRef: { name: "ca", kind: "Issuer" } },
  };
}


beforeAll(async () => {
  api = await startKubeApiServer();
  kc = new KubeConfig();
  kc.loadFromFile(api.kubeconfigPath);
  core = kc.makeApiClient(CoreV1Api);
  await installCrds(kc);
  store = new KubeStore({ kubeConfig: kc });
  await store.create(Namespaces, { apiVersion: "v1", kind: "Namespace", metadata: { name: NS } });
  // A fresh CRD can answer 404 for a moment after it is Established.
  await eventually(async () => (await store.list(Certificates, { namespace: NS })) ?? undefined, 30_000);
});

afterAll(async () => {
  await store?.close();
  await api?.stop();
});

describe("KubeStore reads and writes", () => {
  it("creates an object and reads it back by get and list, with apiVersion and kind set", async () => {
    await store.create<ConfigMap>(ConfigMaps, {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "one", namespace: NS, labels: { app: "a" } },
      data: { k: "v" },
    });
    const got = await store.get<ConfigMap>(ConfigMaps, NS, "one");
    expect(got?.data).toEqual({ k: "v" });
    expect(got?.metadata.resourceVersion).toMatch(/^\d+$/);
    expect(typeof got?.metadata.creationTimestamp).toBe("string");
    const listed = await store.list<ConfigMap>(ConfigMaps, { namespace: NS, labelSelector: labelSelectorFromSet({ app: "a" }) });
    expect(listed.map((c) => [c.apiVersion, c.kind, c.metadata.name])).toEqual([["v1", "ConfigMap", "one"]]);
  });

  it("returns undefined from get for an object that does not exist", async () => {
    expect(await store.get(ConfigMaps, NS, "absent")).toBeUndefined();
  });

  it("refuses to create an object twice with ERR_ALREADY_EXISTS", async () => {
    const cm: ConfigMap = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "twice", namespace: NS } };
    await store.create(ConfigMaps, cm);
    const err = await rejection(store.create(ConfigMaps, cm));
    expect(err.code).toBe("ERR_ALREADY_EXISTS");
  });

  it("honours metadata.generateName", async () => {
    const created = await store.create<ConfigMap>(ConfigMaps, {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { generateName: "gen-", namespace: NS },
    });
    expect(created.metadata.name).toMatch(/^gen-[a-z0-9]{5}$/);
  });

  it("fails an update with a stale resourceVersion with ERR_CONFLICT, retryable", async () => {
    const created = await store.create<ConfigMap>(ConfigMaps, {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "conflict", namespace: NS },
      data: { n: "0" },
    });
    await store.update(ConfigMaps, { ...created, data: { n: "1" } });
    const err = await rejection(store.update(ConfigMaps, { ...created, data: { n: "2" } }));
    expect(err.code).toBe("ERR_CONFLICT");
    expect(err.retry).toBe("transient");
    expect((await store.get<ConfigMap>(ConfigMaps, NS, "conflict"))?.data).toEqual({ n: "1" });
  });

  it("treats an update without resourceVersion as unconditional, also for custom resources", async () => {
    await store.create(Certificates, certificate("unconditional"));
    const updated = await store.update(Certificates, certificate("unconditional", "changed.example.com"));
    expect(updated.spec.dnsNames).toEqual(["changed.example.com"]);
  });

  it("fails an update of a missing object with ERR_NOT_FOUND", async () => {
    const err = await rejection(
      store.update(ConfigMaps, {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "nope", namespace: NS },
      }),
    );
    expect(err.code).toBe("ERR_NOT_FOUND");
  });

  it("ignores status in update and changes only status in updateStatus, bumping generation only for spec", async () => {
    const created = await store.create(Certificates, certificate("status"));
    expect(created.metadata.generation).toBe(1);
    const withStatus = await store.updateStatus<Certificate>(Certificates, {
      ...created,
      spec: { ...created.spec, secretName: "ignored" },
      status: { conditions: [{ type: "Ready", status: "False", reason: "Pending" }] },
    });
    expect(withStatus.status?.conditions?.[0]?.reason).toBe("Pending");
    expect(withStatus.spec.secretName).toBe("status-tls");
    expect(withStatus.metadata.generation).toBe(1);

    const respec = await store.update<Certificate>(Certificates, {
      ...withStatus,
      spec: { ...withStatus.spec, dnsNames: ["new.example.com"] },
      status: { conditions: [{ type: "Ready", status: "True" }] },
    });
    expect(respec.spec.dnsNames).toEqual(["new.example.com"]);
    expect(respec.status?.conditions?.[0]?.reason).toBe("Pending");
    expect(respec.metadata.generation).toBe(2);
  });

  it("keeps an object with finalizers until they are removed, with deletionTimestamp set", async () => {
    const cert = certificate("final");
    cert.metadata.finalizers = ["meshsign.io/test"];
    await store.create(Certificates, cert);
    await store.delete(Certificates, NS, "final");
    const terminating = await store.get<Certificate>(Certificates, NS, "final");
    expect(terminating?.metadata.deletionTimestamp).toBeTruthy();
    if (!terminating) throw new Error("unreachable");
    await store.update(Certificates, {
      ...terminating,
      metadata: { ...terminating.metadata, finalizers: [] },
    });
    expect(await store.get(Certificates, NS, "final")).toBeUndefined();
  });

  it("fails a delete with a stale resourceVersion precondition with ERR_CONFLICT and of a missing object with ERR_NOT_FOUND", async () => {
    const created = await store.create<ConfigMap>(ConfigMaps, {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "del", namespace: NS },
    });
    await store.update(ConfigMaps, { ...created, data: { x: "y" } });
    const stale = await rejection(
      store.delete(ConfigMaps, NS, "del", { resourceVersion: created.metadata.resourceVersion }),
    );
    expect(stale.code).toBe("ERR_CONFLICT");
    await store.delete(ConfigMaps, NS, "del");
    const missing = await rejection(store.delete(ConfigMaps, NS, "del"));
    expect(missing.code).toBe("ERR_NOT_FOUND");
  });

  it.each([
    ["a name with a slash", "a/b"],
    ["an upper-case name", "Upper"],
    ["an empty name", ""],
  ])("refuses %s with ERR_RESOURCE_INVALID before calling the API server", async (_label, name) => {
    const err = await rejection(store.get(ConfigMaps, NS, name));
    expect(err.code).toBe("ERR_RESOURCE_INVALID");
  });

  it("maps an object the API server refuses as invalid to ERR_RESOURCE_INVALID", async () => {
    const err = await rejection(
      store.create<ConfigMap>(ConfigMaps, {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "bad", namespace: NS, labels: { "not a label": "x" } },
      }),
    );
    expect(err.code).toBe("ERR_RESOURCE_INVALID");
    expect(err.retry).toBe("terminal");
  });
});

describe("KubeStore server-side apply", () => {
  it("applies a Secret, removes keys it stops applying, and keeps another manager's label", async () => {
    const secret = (data: Record<string, string>): Secret => ({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "applied", namespace: NS, labels: { [SECRET_CACHE_LABEL]: "true" } },
      type: "kubernetes.io/tls",
      data,
    });
    const b64 = (s: string) => Buffer.from(s).toString("base64");
    await store.apply(Secrets, secret({ "tls.crt": b64("c1"), "tls.key": b64("k1"), "ca.crt": b64("ca") }));
    // Another writer (its own field manager) adds a label meshsign never applied.
    const other = new KubeStore({ kubeConfig: kc, fieldManager: "someone-else" });
    try {
      const cur = await other.get<Secret>(Secrets, NS, "applied");
      if (!cur) throw new Error("applied Secret missing");
      await other.update(Secrets, {
        ...cur,
        metadata: { ...cur.metadata, labels: { ...cur.metadata.labels, team: "x" } },
      });
    } finally {
      await other.close();
    }
    const after = await store.apply<Secret>(Secrets, secret({ "tls.crt": b64("c2"), "tls.key": b64("k2") }));
    expect(Object.keys(after.data ?? {}).sort()).toEqual(["tls.crt", "tls.key"]);
    expect(after.metadata.labels?.team).toBe("x");
    expect(after.data?.["tls.crt"]).toBe(b64("c2"));
  });
});

describe("KubeStore watch", () => {
  it("delivers ADDED for existing objects before synced, then changes in order, then DELETED", async () => {
    const ns = "watch-order";
    await store.create(Namespaces, { apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
    await store.create<ConfigMap>(ConfigMaps, {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "pre", namespace: ns },
    });
    const events: Array<[string, string, string | undefined]> = [];
    const w = store.watch<ConfigMap>(
      ConfigMaps,
      (e) => events.push([e.type, e.object.metadata.name ?? "", e.object.data?.v]),
      {
        namespace: ns,
      },
    );
    await w.synced;
    expect(events).toEqual([["ADDED", "pre", undefined]]);

    const created = await store.create<ConfigMap>(ConfigMaps, {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "live", namespace: ns },
      data: { v: "1" },
    });
    const updated = await store.update<ConfigMap>(ConfigMaps, { ...created, data: { v: "2" } });
    await store.update<ConfigMap>(ConfigMaps, { ...updated, data: { v: "3" } });
    await store.delete(ConfigMaps, ns, "live");
    await eventually(async () => (events.length >= 5 ? true : undefined), 30_000);
    w.stop();
    expect(events.slice(1)).toEqual([
      ["ADDED", "live", "1"],
      ["MODIFIED", "live", "2"],
      ["MODIFIED", "live", "3"],
      ["DELETED", "live", "3"],
    ]);
  });

  it("only ever delivers Secrets that carry the cache label, even when the watch asks for all", async () => {
    const ns = "watch-secrets";
    await store.create(Namespaces, { apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
    const seen: string[] = [];
    const w = store.watch<Secret>(
      Secrets,
      (e: WatchEvent<Secret>) => seen.push(e.object.metadata.name ?? ""),
      { namespace: ns },
    );
    await w.synced;
    await store.create<Secret>(Secrets, {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "foreign", namespace: ns },
    });
    await store.create<Secret>(Secrets, {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "ours", namespace: ns, labels: { [SECRET_CACHE_LABEL]: "true" } },
    });
    await eventually(async () => (seen.includes("ours") ? true : undefined), 30_000);
    w.stop();
    expect(seen).toEqual(["ours"]);
    // Unlabelled Secrets are still read on demand.
    expect((await store.get<Secret>(Secrets, ns, "foreign"))?.metadata.name).toBe("foreign");
  });

  it("lists and watches with set-based selectors, a Secret watch's ANDed with the cache label", async () => {
    const ns = "set-based";
    await store.create(Namespaces, { apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
    for (const [name, labels] of [
      ["a", { app: "a" }],
      ["b", { app: "b", tier: "db" }],
      ["c", { app: "c" }],
      ["none", {}],
    ] as const) {
      await store.create<ConfigMap>(ConfigMaps, { apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: ns, labels } });
    }
    const listed = async (text: string) =>
      (await store.list<ConfigMap>(ConfigMaps, { namespace: ns, labelSelector: parseLabelSelector(text) })).map((c) => c.metadata.name);
    expect(await listed("app in (a,b),!tier")).toEqual(["a"]);
    expect(await listed("app notin (a, b)")).toEqual(["c", "none"]);
    expect(await listed("tier!=db,app")).toEqual(["a", "c"]);

    const seen: string[] = [];
    const w = store.watch<Secret>(Secrets, (e) => seen.push(`${e.type} ${e.object.metadata.name}`), {
      namespace: ns,
      labelSelector: parseLabelSelector("tier notin (db)"),
    });
    await w.synced;
    const cached = { [SECRET_CACHE_LABEL]: "true" };
    for (const [name, labels] of [
      ["foreign", { tier: "web" }],
      ["db", { ...cached, tier: "db" }],
      ["web", { ...cached, tier: "web" }],
    ] as const) {
      await store.create<Secret>(Secrets, { apiVersion: "v1", kind: "Secret", metadata: { name, namespace: ns, labels } });
    }
    await eventually(async () => (seen.includes("ADDED web") ? true : undefined), 30_000);
    w.stop();
    expect(seen).toEqual(["ADDED web"]);
  });

  it("watches a custom resource across all namespaces", async () => {
    const seen: string[] = [];
    const w = store.watch<Certificate>(Certificates, (e) => {
      if (e.type === "ADDED") seen.push(`${e.object.metadata.namespace}/${e.object.metadata.name}`);
    });
    await w.synced;
    await store.create(Certificates, certificate("watched"));
    await eventually(async () => (seen.includes(`${NS}/watched`) ? true : undefined), 30_000);
    w.stop();
    expect(seen).toContain(`${NS}/unconditional`);
  });
});

describe("KubeStore under RBAC", () => {
  it("reports a Forbidden answer as a terminal ERR_STORE_UNAVAILABLE", async () => {
    await core.createNamespacedServiceAccount({ namespace: NS, body: { metadata: { name: "nobody" } } });
    const tr = await core.createNamespacedServiceAccountToken({
      name: "nobody",
      namespace: NS,
      body: { spec: { audiences: [] } },
    });
    const weak = new KubeConfig();
    weak.loadFromString(kubeconfig(api.server, api.caPem, tr.status?.token ?? ""));
    const weakStore = new KubeStore({ kubeConfig: weak });
    try {
      const err = await rejection(weakStore.list(ConfigMaps, { namespace: NS }));
      expect(err.code).toBe("ERR_STORE_UNAVAILABLE");
      expect(err.retry).toBe("terminal");
      expect(err.detail.status).toBe(403);
    } finally {
      await weakStore.close();
    }
  });

  it("works for a service account granted exactly the verbs it uses", async () => {
    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    await core.createNamespacedServiceAccount({ namespace: NS, body: { metadata: { name: "cm-writer" } } });
    await rbac.createNamespacedRole({
      namespace: NS,
      body: {
        metadata: { name: "cm-writer" },
        rules: [
          {
            apiGroups: [""],
            resources: ["configmaps"],
            verbs: ["get", "list", "watch", "create", "update", "delete"],
          },
        ],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: NS,
      body: {
        metadata: { name: "cm-writer" },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "cm-writer" },
        subjects: [{ kind: "ServiceAccount", name: "cm-writer", namespace: NS }],
      },
    });
    const tr = await core.createNamespacedServiceAccountToken({
      name: "cm-writer",
      namespace: NS,
      body: { spec: { audiences: [] } },
    });
    const saKc = new KubeConfig();
    saKc.loadFromString(kubeconfig(api.server, api.caPem, tr.status?.token ?? ""));
    const saStore = new KubeStore({ kubeConfig: saKc });
    try {
      await saStore.create<ConfigMap>(ConfigMaps, {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "by-sa", namespace: NS },
      });
      expect((await saStore.get(ConfigMaps, NS, "by-sa"))?.metadata.name).toBe("by-sa");
      const denied = await rejection(saStore.list(Secrets, { namespace: NS }));
      expect(isMeshsignError(denied, "ERR_STORE_UNAVAILABLE")).toBe(true);
    } finally {
      await saStore.close();
    }
  });
});
