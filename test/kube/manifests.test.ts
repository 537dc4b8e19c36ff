/**
 * manifests/ on a real API server: kustomize (built from Go modules) renders
 * the base and the Istio overlay, every object is server-side applied (so the
 * API server validates it), and then meshsign's ServiceAccount, through its
 * real token and the manifests' RBAC, does everything meshsign does in
 * Kubernetes mode, and is refused what it must not do.
 */
import { AuthenticationV1Api, CoreV1Api, KubeConfig, Watch } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureHttp01Route, removeHttp01Route } from "../../src/acme/index.js";
import { parseLabelSelector } from "../../src/api/label-selector.js";
import {
  CERTIFICATES,
  CHALLENGES,
  type Challenge,
  CONFIGMAPS,
  EVENTS,
  HTTP_ROUTES,
  INGRESSES,
  LEASES,
  NAMESPACES,
  PODS,
  SECRETS,
  SERVICES,
} from "../../src/api/types.js";
import { systemClock } from "../../src/engine/clock.js";
import { StoreEventRecorder } from "../../src/engine/events.js";
import { LeaderElector } from "../../src/server/leader-election.js";
import { KubeStore, SECRET_CACHE_LABEL } from "../../src/store/kube/index.js";
import type { KubeObject, ResourceType } from "../../src/store/types.js";
import { RootConfigMapDistributor, RootsBroadcaster } from "../../src/trust/index.js";
import { type KubeApiServer, kubeconfig, startKubeApiServer } from "./harness.js";
import { installCrds, installGatewayApiCrds } from "./lib/crds.js";
import { eventually } from "./lib/eventually.js";
import { applyObjects, MANIFEST_KINDS, renderManifests } from "./lib/manifests.js";
import { rejection } from "../lib/rejection.js";

const KINDS = MANIFEST_KINDS;

let api: KubeApiServer;
let admin: KubeStore;
let meshsign: KubeStore;
let meshsignKc: KubeConfig;
let base: KubeObject[];
let istio: KubeObject[];


async function forbidden(promise: Promise<unknown>): Promise<void> {
  const err = await rejection(promise);
  expect([err.code, err.detail.status]).toEqual(["ERR_STORE_UNAVAILABLE", 403]);
}

beforeAll(async () => {
  base = renderManifests("manifests/base");
  istio = renderManifests("manifests/overlays/istio");
  api = await startKubeApiServer();
  const kc = new KubeConfig();
  kc.loadFromFile(api.kubeconfigPath);
  admin = new KubeStore({ kubeConfig: kc, fieldManager: "kustomize-test" });
  await installCrds(kc);
  await installGatewayApiCrds(kc);
  await applyObjects(admin, base);
  await applyObjects(admin, istio);
  // meshsign's own identity: a token for its ServiceAccount, as the pod would mount.
  const core = kc.makeApiClient(CoreV1Api);
  const tr = await core.createNamespacedServiceAccountToken({
    name: "meshsign",
    namespace: "meshsign-system",
    body: { spec: { audiences: [] } },
  });
  meshsignKc = new KubeConfig();
  meshsignKc.loadFromString(kubeconfig(api.server, api.caPem, tr.status?.token ?? ""));
  meshsign = new KubeStore({ kubeConfig: meshsignKc });
  await admin.create(NAMESPACES, {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: { name: "app", labels: { mesh: "on" } },
  });
});

afterAll(async () => {
  await meshsign?.close();
  await admin?.close();
  await api?.stop();
});

describe("manifests/", () => {
  it("render to the expected objects, all accepted by the API server", () => {
    const kinds = base.map((o) => o.kind).sort();
    expect(kinds).toEqual([
      "ClusterRole",
      "ClusterRoleBinding",
      "Deployment",
      "Namespace",
      "NetworkPolicy",
      "PodDisruptionBudget",
      "Role",
      "RoleBinding",
      "Service",
      "ServiceAccount",
    ]);
    for (const obj of base.filter((o) => KINDS[`${o.apiVersion}/${o.kind}`]?.namespaced)) {
      expect(obj.metadata.namespace).toBe("meshsign-system");
    }
  });

  it("run two hardened replicas with probes on 6060 and a Service 443 -> grpc", async () => {
    const deployment = await admin.get<KubeObject & { spec: Record<string, never> }>(
      KINDS["apps/v1/Deployment"] as ResourceType,
      "meshsign-system",
      "meshsign",
    );
    const spec = deployment?.spec as unknown as {
      replicas: number;
      template: {
        spec: {
          securityContext: { runAsNonRoot: boolean };
          containers: Array<{
            args: string[];
            image: string;
            readinessProbe: { httpGet: { path: string; port: string } };
            livenessProbe: { httpGet: { path: string; port: string } };
            ports: Array<{ name: string; containerPort: number }>;
            securityContext: { readOnlyRootFilesystem: boolean; allowPrivilegeEscalation: boolean };
            resources: { requests: Record<string, string> };
          }>;
        };
      };
    };
    const c = spec.template.spec.containers[0];
    expect(spec.replicas).toBe(2);
    expect(spec.template.spec.securityContext.runAsNonRoot).toBe(true);
    expect(c?.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
    });
    expect(c?.readinessProbe.httpGet).toEqual({ path: "/readyz", port: "health", scheme: "HTTP" });
    expect(c?.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "health", scheme: "HTTP" });
    expect(c?.ports.find((p) => p.name === "health")?.containerPort).toBe(6060);
    expect(c?.resources.requests).toHaveProperty("cpu");
    expect(c?.image).toBe("meshsign:0.1.0");
    // The Istio overlay's flags were applied over the base.
    expect(c?.args).toContain("--ca-trusted-node-accounts=istio-system/ztunnel");
    expect(c?.args).toContain("--mode=kubernetes");
    expect(c?.args).toContain("--workers=2");

    const svc = await admin.get<
      KubeObject & { spec: { ports: Array<{ name: string; port: number; targetPort: string }> } }
    >(KINDS["v1/Service"] as ResourceType, "meshsign-system", "meshsign");
    expect(svc?.spec.ports.map((p) => [p.name, p.port, p.targetPort])).toEqual([
      ["grpc", 443, "grpc"],
      ["metrics", 9402, "metrics"],
      ["acme-http01", 8089, "acme-http01"],
    ]);
  });
});

describe("meshsign's ServiceAccount under the manifests' RBAC", () => {
  it("reviews tokens", async () => {
    const review = await meshsignKc
      .makeApiClient(AuthenticationV1Api)
      .createTokenReview({ body: { spec: { token: "not-a-token", audiences: ["istio-ca"] } } });
    expect(review.status?.authenticated).not.toBe(true);
  });

  it("distributes istio-ca-root-cert with its own credentials", async () => {
    const roots = new RootsBroadcaster("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    const d = new RootConfigMapDistributor({ store: meshsign, roots, namespaceSelector: parseLabelSelector("mesh=on") });
    await d.start();
    try {
      const cm = await eventually(async () => meshsign.get(CONFIGMAPS, "app", "istio-ca-root-cert"), 30_000);
      expect(cm.metadata.labels).toEqual({ "istio.io/config": "true" });
    } finally {
      d.stop();
    }
  });

  it("wins the meshsign-leader Lease in meshsign-system and may not touch another Lease", async () => {
    let leading = false;
    const elector = new LeaderElector({
      store: meshsign,
      namespace: "meshsign-system",
      name: "meshsign-leader",
      identity: "meshsign-0",
      leaseDurationMs: 3_000,
      renewDeadlineMs: 2_000,
      retryPeriodMs: 300,
      onStartedLeading: () => {
        leading = true;
      },
      onStoppedLeading: () => {
        leading = false;
      },
    });
    elector.start();
    await eventually(async () => (leading ? true : undefined), 30_000);
    await elector.stop();
    await forbidden(meshsign.get(LEASES, "meshsign-system", "someone-else"));
    await forbidden(meshsign.get(LEASES, "app", "meshsign-leader"));
  });

  it("writes labelled Secrets as the engine does (create, update), watches them, and reads pods", async () => {
    const created = await meshsign.create(SECRETS, {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "workload-tls", namespace: "app", labels: { [SECRET_CACHE_LABEL]: "true" } },
      type: "kubernetes.io/tls",
      data: { "tls.crt": "", "tls.key": "" },
    } as KubeObject);
    await meshsign.update(SECRETS, created);
    const seen: string[] = [];
    const w = meshsign.watch(SECRETS, (e) => seen.push(e.object.metadata.name ?? ""), { namespace: "app" });
    await w.synced;
    w.stop();
    expect(seen).toEqual(["workload-tls"]);
    expect(await meshsign.list(PODS, { namespace: "app" })).toEqual([]);
  });

  it("creates Certificates, updates their status and records Events", async () => {
    const created = await meshsign.create(CERTIFICATES, {
      apiVersion: "cert-manager.io/v1",
      kind: "Certificate",
      metadata: { name: "web", namespace: "app" },
      spec: { secretName: "web-tls", dnsNames: ["web.app.svc"], issuerRef: { name: "ca", kind: "Issuer" } },
    } as KubeObject);
    const withStatus = await meshsign.updateStatus(CERTIFICATES, {
      ...created,
      status: {
        conditions: [
          {
            type: "Ready",
            status: "False",
            reason: "Issuing",
            message: "m",
            lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
          },
        ],
      },
    } as KubeObject);
    expect(
      (withStatus as unknown as { status: { conditions: Array<{ reason: string }> } }).status.conditions[0]
        ?.reason,
    ).toBe("Issuing");
    await meshsign.create(EVENTS, {
      apiVersion: "v1",
      kind: "Event",
      metadata: { name: "web.1", namespace: "app" },
      involvedObject: {
        apiVersion: "cert-manager.io/v1",
        kind: "Certificate",
        name: "web",
        namespace: "app",
      },
      reason: "Issuing",
      message: "Issuing certificate as Secret does not exist",
      type: "Normal",
    } as KubeObject);
  });

  it("folds a repeated Event into its count, as the engine records it", async () => {
    const recorder = new StoreEventRecorder({ store: meshsign, clock: systemClock, expire: false });
    const subject = {
      apiVersion: "cert-manager.io/v1",
      kind: "Certificate",
      metadata: { name: "repeated", namespace: "app" },
    } as KubeObject;
    for (let i = 0; i < 2; i++) {
      recorder.record(subject, "Warning", "Failed", "the issuer is not ready");
      await recorder.flush();
    }
    const events = (await admin.list<KubeObject & { count?: number; involvedObject: { name: string } }>(EVENTS, {
      namespace: "app",
    })).filter((e) => e.involvedObject.name === "repeated");
    expect(events.map((e) => e.count)).toEqual([2]);
  });

  it("routes ACME HTTP-01 challenges in an app namespace through an Ingress, its bridge Service and an HTTPRoute", async () => {
    const challenge = (name: string, solver: Challenge["spec"]["solver"]): Promise<Challenge> =>
      meshsign.create<Challenge>(CHALLENGES, {
        apiVersion: "acme.cert-manager.io/v1",
        kind: "Challenge",
        metadata: { name, namespace: "app" },
        spec: {
          url: `https://acme.example/chall/${name}`,
          authorizationURL: `https://acme.example/authz/${name}`,
          dnsName: "web.example.com",
          type: "HTTP-01",
          token: "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA",
          key: "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.thumbprint",
          solver,
          issuerRef: { name: "letsencrypt", kind: "ClusterIssuer", group: "cert-manager.io" },
        },
      });
    const service = { name: "meshsign", namespace: "meshsign-system" };
    const viaIngress = await challenge("web-ingress", { http01: { ingress: { ingressClassName: "nginx" } } });
    const ing = await ensureHttp01Route(meshsign, { challenge: viaIngress, service });
    expect(await meshsign.get(INGRESSES, "app", ing.name)).toBeDefined();
    expect(await meshsign.get(SERVICES, "app", ing.name)).toBeDefined();
    await removeHttp01Route(meshsign, { challenge: viaIngress, service });
    expect(await meshsign.get(INGRESSES, "app", ing.name)).toBeUndefined();
    expect(await meshsign.get(SERVICES, "app", ing.name)).toBeUndefined();

    const viaRoute = await challenge("web-route", {
      http01: { gatewayHTTPRoute: { parentRefs: [{ name: "public", namespace: "istio-ingress" }] } },
    });
    const hr = await ensureHttp01Route(meshsign, { challenge: viaRoute, service });
    expect(await meshsign.get(HTTP_ROUTES, "app", hr.name)).toBeDefined();
    await removeHttp01Route(meshsign, { challenge: viaRoute, service });
    expect(await meshsign.get(HTTP_ROUTES, "app", hr.name)).toBeUndefined();
  });

  it("is refused what it does not need: deleting namespaces, writing RBAC, writing pods", async () => {
    await forbidden(meshsign.delete(NAMESPACES, undefined, "app"));
    await forbidden(
      meshsign.create(KINDS["rbac.authorization.k8s.io/v1/ClusterRole"] as ResourceType, {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRole",
        metadata: { name: "escalate" },
      }),
    );
    await forbidden(
      meshsign.create(PODS, {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "p", namespace: "app" },
        spec: { containers: [{ name: "c", image: "x" }] },
      } as KubeObject),
    );
    // Verbs meshsign never uses: patching Secrets (it writes them with create and update) and
    // watching pods (it reads the few it checks on demand).
    await forbidden(
      meshsign.apply(SECRETS, {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "workload-tls", namespace: "app" },
      } as KubeObject),
    );
    // Nor patching the kinds it reconciles (it writes them with update, and their status with update on /status).
    await forbidden(
      meshsign.apply(CERTIFICATES, {
        apiVersion: "cert-manager.io/v1",
        kind: "Certificate",
        metadata: { name: "patched", namespace: "app" },
      } as KubeObject),
    );
    const watchStatus = await new Promise<unknown>((resolve) => {
      void new Watch(meshsignKc).watch("/api/v1/pods", {}, () => {}, (err: unknown) =>
        resolve((err as { statusCode?: number } | null)?.statusCode),
      );
    });
    expect(watchStatus).toBe(403);
    // HTTP-01 objects are handled by name: no listing Services or HTTPRoutes across the cluster.
    await forbidden(meshsign.list(SERVICES));
    await forbidden(meshsign.list(HTTP_ROUTES));
  });
});
