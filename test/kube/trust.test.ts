/**
 * The istio-ca-root-cert distributor on a real API server, through the
 * Kubernetes Store: selected namespaces (including one created later) get the
 * ConfigMap, an edit is repaired, a root rotation republishes, a terminating
 * namespace is left alone. The namespaces are selected by a set-based selector,
 * which the API server evaluates in the namespace watch.
 */
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseLabelSelector } from "../../src/api/label-selector.js";
import { KubeStore } from "../../src/store/kube/index.js";
import { RootConfigMapDistributor, RootsBroadcaster } from "../../src/trust/index.js";
import { type KubeApiServer, startKubeApiServer } from "./harness.js";
import { eventually } from "./lib/eventually.js";

const ROOT_A = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
const ROOT_B = "-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----\n";

let api: KubeApiServer;
let core: CoreV1Api;
let store: KubeStore;
let distributor: RootConfigMapDistributor;
const roots = new RootsBroadcaster(ROOT_A);

async function rootCert(
  namespace: string,
): Promise<{ data?: Record<string, string>; labels?: Record<string, string> } | undefined> {
  try {
    const cm = await core.readNamespacedConfigMap({ name: "istio-ca-root-cert", namespace });
    return { data: cm.data, labels: cm.metadata?.labels };
  } catch {
    return undefined;
  }
}

function published(namespace: string, pem: string) {
  return eventually(
    async () => ((await rootCert(namespace))?.data?.["root-cert.pem"] === pem ? true : undefined),
    30_000,
  );
}

beforeAll(async () => {
  api = await startKubeApiServer();
  const kc = new KubeConfig();
  kc.loadFromFile(api.kubeconfigPath);
  core = kc.makeApiClient(CoreV1Api);
  for (const [name, labels] of [
    ["mesh-a", { mesh: "on" }],
    ["mesh-b", { mesh: "on" }],
    ["mesh-yes", { mesh: "yes" }],
    ["outside", { mesh: "off" }],
    ["mesh-opted-out", { mesh: "on", "istio-injection": "disabled" }],
  ] as const) {
    await core.createNamespace({ body: { metadata: { name, labels } } });
  }
  store = new KubeStore({ kubeConfig: kc });
  distributor = new RootConfigMapDistributor({
    store,
    roots,
    namespaceSelector: parseLabelSelector("mesh in (on, yes), !istio-injection"),
  });
  await distributor.start();
});

afterAll(async () => {
  distributor?.stop();
  await store?.close();
  await api?.stop();
});

describe("istio-ca-root-cert on a real API server", () => {
  it("appears in every selected namespace with only root-cert.pem and the istio.io/config label", async () => {
    for (const ns of ["mesh-a", "mesh-b", "mesh-yes"]) {
      await published(ns, ROOT_A);
      const cm = await rootCert(ns);
      expect(Object.keys(cm?.data ?? {})).toEqual(["root-cert.pem"]);
      expect(cm?.labels).toEqual({ "istio.io/config": "true" });
    }
    await distributor.idle();
    expect(await rootCert("outside")).toBeUndefined();
    expect(await rootCert("mesh-opted-out")).toBeUndefined();
  });

  it("appears in a namespace created later", async () => {
    await core.createNamespace({ body: { metadata: { name: "mesh-late", labels: { mesh: "on" } } } });
    await published("mesh-late", ROOT_A);
  });

  it("is repaired after an edit that changes data, adds a key and drops the label", async () => {
    await published("mesh-a", ROOT_A);
    await core.replaceNamespacedConfigMap({
      name: "istio-ca-root-cert",
      namespace: "mesh-a",
      body: {
        metadata: { name: "istio-ca-root-cert", labels: { team: "x" } },
        data: { "root-cert.pem": "tampered", "extra.pem": "x" },
      },
    });
    await published("mesh-a", ROOT_A);
    const cm = await rootCert("mesh-a");
    expect(Object.keys(cm?.data ?? {})).toEqual(["root-cert.pem"]);
    expect(cm?.labels).toEqual({ team: "x", "istio.io/config": "true" });
  });

  it("is recreated after it is deleted", async () => {
    await published("mesh-b", ROOT_A);
    await core.deleteNamespacedConfigMap({ name: "istio-ca-root-cert", namespace: "mesh-b" });
    await published("mesh-b", ROOT_A);
  });

  it("carries old and new roots everywhere after a rotation", async () => {
    roots.set(ROOT_A + ROOT_B);
    for (const ns of ["mesh-a", "mesh-b", "mesh-late"]) await published(ns, ROOT_A + ROOT_B);
  });

  it("leaves a terminating namespace alone", async () => {
    // No namespace controller runs here, so a deleted namespace stays Terminating.
    await core.createNamespace({ body: { metadata: { name: "mesh-dying", labels: { mesh: "on" } } } });
    await published("mesh-dying", ROOT_A + ROOT_B);
    await core.deleteNamespace({ name: "mesh-dying" });
    const ns = await core.readNamespace({ name: "mesh-dying" });
    expect(ns.status?.phase).toBe("Terminating");
    expect(await distributor.reconcile("mesh-dying")).toEqual({
      action: "skip",
      reason: "NamespaceTerminating",
    });
  });
});
