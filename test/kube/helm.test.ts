/**
 * deploy/charts/meshsign with a real Helm (built from helm.sh/helm/v4 by
 * setup.sh): `helm lint`, then `helm template` with the default values must give
 * exactly the objects kustomize renders from manifests/overlays/istio and
 * manifests/crds; the rendered objects are server-side applied to a real API
 * server, and meshsign, run with the rendered container's arguments as the
 * rendered ServiceAccount, serves Istio's own CA client. A second release in
 * another namespace with istio-csr-style values shows the namespace and the
 * values reach every object that depends on them.
 */
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LEASES, NAMESPACES } from "../../src/api/types.js";
import { KubeStore } from "../../src/store/kube/index.js";
import type { KubeObject, ResourceType } from "../../src/store/types.js";
import { ServeProcess } from "../lib/meshsign-process.js";
import { type KubeApiServer, kubeconfig, repoRoot, startKubeApiServer } from "./harness.js";
import { crdDocuments } from "./lib/crds.js";
import { eventually } from "./lib/eventually.js";
import { CHART, helm, helmTemplate, removeHelmHome } from "./lib/helm.js";
import { requestSvid } from "./lib/istio-client.js";
import { applyObjects, renderManifests } from "./lib/manifests.js";

const CRDS: ResourceType = {
  group: "apiextensions.k8s.io",
  version: "v1",
  kind: "CustomResourceDefinition",
  plural: "customresourcedefinitions",
  namespaced: false,
};

/** Labels and annotations Helm's conventions add to what manifests/ has. */
const HELM_LABELS = [
  "app.kubernetes.io/instance",
  "app.kubernetes.io/version",
  "app.kubernetes.io/managed-by",
  "helm.sh/chart",
];

interface Container {
  args: string[];
}
interface Deployment extends KubeObject {
  spec: { template: { spec: { containers: Container[] } } };
}

/** An object as manifests/ would have it: without Helm's labels and the CRDs' keep annotation. */
function withoutHelm(obj: KubeObject): KubeObject {
  const copy = structuredClone(obj);
  for (const label of HELM_LABELS) delete copy.metadata.labels?.[label];
  if (copy.metadata.annotations) {
    delete copy.metadata.annotations["helm.sh/resource-policy"];
    if (Object.keys(copy.metadata.annotations).length === 0) delete copy.metadata.annotations;
  }
  return copy;
}

const key = (o: KubeObject) => `${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`;
const byKey = (objects: KubeObject[]) => [...objects].sort((a, b) => key(a).localeCompare(key(b)));

let api: KubeApiServer;
let admin: KubeStore;
let core: CoreV1Api;
let meshsign: ServeProcess | undefined;

beforeAll(async () => {
  api = await startKubeApiServer();
  const kc = new KubeConfig();
  kc.loadFromFile(api.kubeconfigPath);
  core = kc.makeApiClient(CoreV1Api);
  admin = new KubeStore({ kubeConfig: kc, fieldManager: "helm-test" });
});

afterAll(async () => {
  await meshsign?.stop();
  await admin?.close();
  await api?.stop();
  removeHelmHome();
});

/** What `helm install --create-namespace` and an apply of the rendering do: namespace, CRDs (Established), objects. */
async function install(namespace: string, objects: KubeObject[]): Promise<void> {
  if (!(await admin.get(NAMESPACES, undefined, namespace))) {
    await admin.create(NAMESPACES, { apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } });
  }
  const crds = objects.filter((o) => o.kind === "CustomResourceDefinition");
  for (const crd of crds) await admin.apply(CRDS, crd);
  for (const crd of crds) {
    await eventually(async () => {
      const got = await admin.get<
        KubeObject & { status?: { conditions?: Array<{ type: string; status: string }> } }
      >(CRDS, undefined, crd.metadata.name ?? "");
      return (
        got?.status?.conditions?.some((c) => c.type === "Established" && c.status === "True") || undefined
      );
    }, 60_000);
  }
  await applyObjects(
    admin,
    objects.filter((o) => o.kind !== "CustomResourceDefinition"),
  );
}

/**
 * Runs meshsign with the rendered Deployment's arguments as the rendered
 * ServiceAccount. Only what a Pod would get from the kubelet differs: the
 * kubeconfig (the mounted token), a scratch data dir, loopback listeners on free
 * ports, and one worker on this shared machine.
 */
async function runRendered(objects: KubeObject[], namespace: string, name: string): Promise<string> {
  const deployment = objects.find((o) => o.kind === "Deployment") as Deployment;
  const args = (deployment.spec.template.spec.containers[0]?.args ?? []).filter(
    (a) =>
      a !== "serve" && !/^--(serving-address|readiness-probe-port|metrics-port|data-dir|workers)=/.test(a),
  );
  const tr = await core.createNamespacedServiceAccountToken({
    name: "meshsign",
    namespace,
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  const kubeconfigPath = path.join(api.dir, `${name}.kubeconfig`);
  await writeFile(kubeconfigPath, kubeconfig(api.server, api.caPem, tr.status?.token ?? ""), { mode: 0o600 });
  const dataDir = path.join(api.dir, `data-${name}`);
  await mkdir(dataDir, { recursive: true });
  meshsign = ServeProcess.start(
    [...args, `--kubeconfig=${kubeconfigPath}`, `--data-dir=${dataDir}`, "--workers=1"],
    { cwd: repoRoot, env: { POD_NAME: name } },
  );
  const banner = await meshsign.banner(60_000);
  return `127.0.0.1:${banner.grpcPort}`;
}

/** A pod of `sa` in `namespace` and a pod-bound istio-ca token for it, written to a file as the kubelet would. */
async function podToken(namespace: string, sa: string, pod: string): Promise<string> {
  await core
    .createNamespacedServiceAccount({ namespace, body: { metadata: { name: sa } } })
    .catch(() => undefined);
  const p = await core.createNamespacedPod({
    namespace,
    body: {
      metadata: { name: pod },
      spec: { serviceAccountName: sa, containers: [{ name: "app", image: "example.invalid/app" }] },
    },
  });
  const tr = await core.createNamespacedServiceAccountToken({
    name: sa,
    namespace,
    body: {
      spec: {
        audiences: ["istio-ca"],
        expirationSeconds: 3600,
        boundObjectRef: { apiVersion: "v1", kind: "Pod", name: pod, uid: p.metadata?.uid ?? "" },
      },
    },
  });
  const file = path.join(api.dir, `token-${namespace}-${pod}`);
  await writeFile(file, tr.status?.token ?? "", { mode: 0o600 });
  return file;
}

/** The roots meshsign publishes in `namespace` (istio-ca-root-cert), written to a file. */
async function publishedRoots(namespace: string): Promise<string> {
  const pem = await eventually(
    async () =>
      (await core.readNamespacedConfigMap({ name: "istio-ca-root-cert", namespace }).catch(() => undefined))
        ?.data?.["root-cert.pem"],
    60_000,
  );
  const file = path.join(api.dir, `roots-${namespace}.pem`);
  await writeFile(file, pem);
  return file;
}

async function leaseHolder(namespace: string): Promise<string | undefined> {
  const lease = await admin.get<KubeObject & { spec?: { holderIdentity?: string } }>(
    LEASES,
    namespace,
    "meshsign-leader",
  );
  return lease?.spec?.holderIdentity;
}

function uriSans(pem: string): string[] {
  return (new X509Certificate(pem).subjectAltName ?? "")
    .split(", ")
    .filter((s) => s.startsWith("URI:"))
    .map((s) => s.slice(4));
}

describe("helm lint", () => {
  it("passes --strict with the default values and with every optional flag set", async () => {
    const plain = await helm(["lint", "--strict", CHART]);
    expect(plain.code, plain.stdout + plain.stderr).toBe(0);
    expect(plain.stdout).toContain("1 chart(s) linted, 0 chart(s) failed");
    const everything = await helm([
      "lint",
      "--strict",
      CHART,
      "--set-json",
      JSON.stringify({
        app: {
          logLevel: "debug",
          certmanager: { namespace: "istio-system", issuer: { name: "istio-ca", kind: "Issuer" } },
          runtimeConfiguration: { create: true, name: "istio-issuer", issuer: { name: "other-ca" } },
          tls: {
            rootCAFile: "/etc/meshsign/roots/root-cert.pem",
            certificateDNSNames: ["ca.example"],
            certificateDuration: "2h",
            servingTLSMinVersion: "VersionTLS13",
            servingTLSCipherSuites: ["TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"],
            servingTLSCurvePreferences: ["X25519", "CurveP256"],
            istiodCertificateEnable: false,
            istiodCertificateDuration: "2h",
            istiodCertificateRenewBefore: "1h",
            istiodAdditionalDNSNames: ["istiod.example.com"],
            istiodPrivateKeyAlgorithm: "ECDSA",
            istiodPrivateKeySize: 384,
          },
          server: { authenticators: { enableClientCert: true }, maxCertificateDuration: "1h" },
          istio: { revisions: ["default", "canary"], namespace: "istio-control" },
          controller: { leaderElectionNamespace: "leases", configmapNamespaceSelector: "mesh=on" },
          shims: {
            enabled: true,
            sources: ["ingress", "istio-gateway"],
            defaultIssuer: { name: "le", kind: "ClusterIssuer" },
            istioGatewaySecretNamespace: "istio-system",
          },
        },
        crds: { enabled: false },
        podDisruptionBudget: { enabled: false },
        networkPolicy: { enabled: false },
      }),
    ]);
    expect(everything.code, everything.stdout + everything.stderr).toBe(0);
  });
});

describe("helm and values.schema.json", () => {
  it("refuse a misspelled value and a log level meshsign does not know, naming them", async () => {
    const misspelled = await helm([
      "template",
      "meshsign",
      CHART,
      "--set",
      "app.tls.trustDomian=example.org",
    ]);
    expect(misspelled.code).not.toBe(0);
    expect(misspelled.stderr).toMatch(/at '\/app\/tls': additional properties 'trustDomian' not allowed/);
    const level = await helm(["template", "meshsign", CHART, "--set", "app.logLevel=verbose"]);
    expect(level.code).not.toBe(0);
    expect(level.stderr).toContain("/app/logLevel");
  });
});

describe("helm template with the default values", () => {
  it("renders exactly manifests/overlays/istio (less the Namespace, which Helm leaves to --create-namespace) and manifests/crds", async () => {
    const chart = (await helmTemplate("meshsign-system")).map(withoutHelm);
    const kustomize = renderManifests("manifests/overlays/istio").filter((o) => o.kind !== "Namespace");
    const crds = crdDocuments().crds;
    expect(byKey(chart)).toEqual(byKey([...kustomize, ...crds]));
  });

  it("marks the CRDs to be kept on uninstall, and leaves them out with crds.enabled=false", async () => {
    const withCrds = (await helmTemplate("meshsign-system")).filter(
      (o) => o.kind === "CustomResourceDefinition",
    );
    expect(withCrds).toHaveLength(crdDocuments().crds.length);
    for (const crd of withCrds) expect(crd.metadata.annotations?.["helm.sh/resource-policy"]).toBe("keep");
    const without = await helmTemplate("meshsign-system", ["--set", "crds.enabled=false"]);
    expect(without.filter((o) => o.kind === "CustomResourceDefinition")).toEqual([]);
  });
});

describe("installed from helm template on a real API server", () => {
  it("serves Istio's client an SVID for a pod-bound token, chained to the root it publishes", {
    timeout: 240_000,
  }, async () => {
    const objects = await helmTemplate("meshsign-system");
    await install("meshsign-system", objects);
    await admin.create(NAMESPACES, { apiVersion: "v1", kind: "Namespace", metadata: { name: "app" } });
    const address = await runRendered(objects, "meshsign-system", "meshsign-default");
    await eventually(
      async () => (await leaseHolder("meshsign-system"))?.startsWith("meshsign-default_") || undefined,
      60_000,
    );
    const roots = await publishedRoots("app");
    const res = await requestSvid({
      address,
      rootCertFile: roots,
      tokenFile: await podToken("app", "workload", "web"),
      namespace: "app",
      serviceAccount: "workload",
    });
    if (!res.ok) throw new Error(`refused: ${res.code} ${res.error}\n${meshsign?.stderr.slice(-3000)}`);
    expect(uriSans(res.certChain[0] as string)).toEqual(["spiffe://cluster.local/ns/app/sa/workload"]);
    const root = new X509Certificate(res.certChain.at(-1) as string);
    expect(root.fingerprint256).toBe(new X509Certificate(readFileSync(roots, "utf8")).fingerprint256);
    await meshsign?.stop();
    meshsign = undefined;
  });

  it("in another namespace with istio-csr-style values: Lease, roots and identities follow the values", {
    timeout: 240_000,
  }, async () => {
    const objects = await helmTemplate("mesh-ca", [
      "--set",
      "app.tls.trustDomain=mesh.example,app.server.clusterID=east,app.controller.configmapNamespaceSelector=mesh in (on)",
    ]);
    // Everything namespaced lands in the release namespace; the Service names are the serving names.
    for (const o of objects.filter((x) => x.metadata.namespace !== undefined)) {
      expect(key(o)).toBe(`${o.kind}/mesh-ca/${o.metadata.name}`);
    }
    const args = (objects.find((o) => o.kind === "Deployment") as Deployment).spec.template.spec.containers[0]
      ?.args;
    expect(args).toEqual(
      expect.arrayContaining([
        "--serving-certificate-dns-names=meshsign.mesh-ca.svc,meshsign.mesh-ca.svc.cluster.local",
        "--cluster-resource-namespace=mesh-ca",
        "--leader-election-namespace=mesh-ca",
        "--trust-domain=mesh.example",
        "--cluster-id=east",
        "--configmap-namespace-selector=mesh in (on)",
      ]),
    );
    await install("mesh-ca", objects);
    for (const [name, labels] of [
      ["east-app", { mesh: "on" }],
      ["outside", {}],
    ] as const) {
      await admin.create(NAMESPACES, { apiVersion: "v1", kind: "Namespace", metadata: { name, labels } });
    }
    const address = await runRendered(objects, "mesh-ca", "meshsign-east");
    await eventually(
      async () => (await leaseHolder("mesh-ca"))?.startsWith("meshsign-east_") || undefined,
      60_000,
    );
    const roots = await publishedRoots("east-app");
    const res = await requestSvid({
      address,
      rootCertFile: roots,
      tokenFile: await podToken("east-app", "workload", "web"),
      namespace: "east-app",
      serviceAccount: "workload",
      clusterId: "east",
      trustDomain: "mesh.example",
    });
    if (!res.ok) throw new Error(`refused: ${res.code} ${res.error}\n${meshsign?.stderr.slice(-3000)}`);
    expect(uriSans(res.certChain[0] as string)).toEqual(["spiffe://mesh.example/ns/east-app/sa/workload"]);
    // The selector (set-based, as istio-csr users write it) keeps istio-ca-root-cert out of unlabelled namespaces.
    expect(
      await core
        .readNamespacedConfigMap({ name: "istio-ca-root-cert", namespace: "outside" })
        .catch(() => undefined),
    ).toBeUndefined();
  });
});
