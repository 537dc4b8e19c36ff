/**
 * The ACME issuer in Kubernetes mode: `meshsign serve --mode kubernetes`, running as its own
 * ServiceAccount under manifests/ RBAC against a real kube-apiserver, gets certificates from a
 * real Pebble (built by test/acme/setup.sh, which test/kube/setup.sh runs). Pebble's VA resolves
 * every name to 127.0.0.1 and fetches HTTP-01 challenges from meshsign's solver listener; the
 * Order, Challenge, solver Ingress or HTTPRoute (Gateway API CRDs installed) and Secret are real
 * objects on the API server. An ACME issuer named as the workload issuer is refused: by
 * `--issuer-name` at start-up, by the runtime issuance ConfigMap with a log line.
 */
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import {
  CERTIFICATE_REQUESTS,
  CERTIFICATES,
  CHALLENGES,
  type Challenge,
  CLUSTER_ISSUERS,
  CONFIGMAPS,
  HTTP_ROUTES,
  INGRESSES,
  NAMESPACES,
  ORDERS,
  type Order,
  SECRETS,
} from "../../src/api/types.js";
import type { Certificate, Secret } from "../../src/engine/lib/api.js";
import { KubeStore } from "../../src/store/kube/index.js";
import type { KubeObject, Watch, WatchEvent } from "../../src/store/types.js";
import { type Pebble, startPebble } from "../acme/harness.js";
import { freePort } from "../lib/ports.js";
import { verifiesWithNodeCrypto } from "../acme/pebble/flow.js";
import { runMeshsign, ServeProcess } from "../lib/meshsign-process.js";
import { type KubeApiServer, kubeconfig, repoRoot, startKubeApiServer } from "./harness.js";
import { installCrds, installGatewayApiCrds } from "./lib/crds.js";
import { eventually } from "./lib/eventually.js";
import { applyObjects, renderManifests } from "./lib/manifests.js";

/** The name examples/ingress-annotations.yaml's annotation names. */
const ISSUER = "acme-http";
const SOLVER_LABEL = "acme.cert-manager.io/http01-solver";
/** istio-csr's runtime issuance ConfigMap meshsign watches here (in meshsign-system). */
const RUNTIME_ISSUER_CONFIGMAP = "meshsign-runtime-issuer";

let api: KubeApiServer;
let admin: KubeStore;
let pebble: Pebble;
let meshsign: ServeProcess | undefined;
/** meshsign's own kubeconfig (its ServiceAccount's token). */
let meshsignKubeconfig: string;
const watches: Watch[] = [];
/** Ingress and Challenge watch events in arrival order, as "<kind> <type> <name> [state]". */
const history: { line: string; object: KubeObject }[] = [];

function record<T extends KubeObject>(kind: string, state: (o: T) => string) {
  return (e: WatchEvent<T>) =>
    history.push({
      line: `${kind} ${e.type} ${e.object.metadata.name} ${state(e.object)}`.trim(),
      object: e.object,
    });
}

function ready(c: Certificate | undefined): boolean {
  return c?.status?.conditions?.some((x) => x.type === "Ready" && x.status === "True") === true;
}

async function readyCertificate(ns: string, name: string): Promise<Certificate> {
  return eventually(async () => {
    const c = await admin.get<Certificate>(CERTIFICATES, ns, name);
    return ready(c) ? c : undefined;
  }, 180_000).catch((err: Error) => {
    throw new Error(
      `${err.message}\nmeshsign:\n${meshsign?.stderr.split("\n").slice(-40).join("\n")}\npebble:\n${pebble
        .log()
        .slice(-3000)}`,
    );
  });
}

async function chainOf(ns: string, secretName: string): Promise<string> {
  const secret = (await admin.get<Secret>(SECRETS, ns, secretName)) as Secret;
  return Buffer.from(secret.data?.["tls.crt"] ?? "", "base64").toString();
}

beforeAll(async () => {
  const solverPort = await freePort();
  pebble = await startPebble({ httpPort: solverPort });
  api = await startKubeApiServer();
  const kc = new KubeConfig();
  kc.loadFromFile(api.kubeconfigPath);
  admin = new KubeStore({ kubeConfig: kc, fieldManager: "acme-admin" });
  await installCrds(kc);
  await installGatewayApiCrds(kc);
  await applyObjects(admin, renderManifests("manifests/overlays/istio"));
  for (const name of ["shop", "web"])
    await admin.create(NAMESPACES, { apiVersion: "v1", kind: "Namespace", metadata: { name } });
  watches.push(
    admin.watch<KubeObject>(
      INGRESSES,
      record("Ingress", (o) => (o.metadata.labels?.[SOLVER_LABEL] === "true" ? "solver" : "")),
    ),
    admin.watch<Challenge>(
      CHALLENGES,
      record("Challenge", (o) => o.status?.state ?? ""),
    ),
    admin.watch<KubeObject>(
      HTTP_ROUTES,
      record("HTTPRoute", (o) => (o.metadata.labels?.[SOLVER_LABEL] === "true" ? "solver" : "")),
    ),
  );

  await admin.create(CLUSTER_ISSUERS, {
    apiVersion: "cert-manager.io/v1",
    kind: "ClusterIssuer",
    metadata: { name: ISSUER },
    spec: {
      acme: {
        server: pebble.directoryUrl,
        email: "ops@example.com",
        caBundle: Buffer.from(pebble.tlsCaPem).toString("base64"),
        privateKeySecretRef: { name: "acme-http-account" },
        // The names resolve to 127.0.0.1 only in Pebble's DNS, so meshsign cannot self-check them.
        solvers: [{ waitInsteadOfSelfCheck: "2s", http01: { ingress: { ingressClassName: "nginx" } } }],
      },
    },
  } as KubeObject);

  const tr = await kc.makeApiClient(CoreV1Api).createNamespacedServiceAccountToken({
    name: "meshsign",
    namespace: "meshsign-system",
    body: { spec: { audiences: [], expirationSeconds: 7200 } },
  });
  meshsignKubeconfig = path.join(api.dir, "meshsign.kubeconfig");
  await writeFile(meshsignKubeconfig, kubeconfig(api.server, api.caPem, tr.status?.token ?? ""), {
    mode: 0o600,
  });
  const dataDir = path.join(api.dir, "data");
  await mkdir(dataDir, { recursive: true });
  meshsign = ServeProcess.start(
    [
      "--mode=kubernetes",
      `--kubeconfig=${meshsignKubeconfig}`,
      `--data-dir=${dataDir}`,
      "--workers=1",
      "--log-format=json",
      `--acme-http01-solver-address=127.0.0.1:${solverPort}`,
      `--runtime-issuance-config-map-name=${RUNTIME_ISSUER_CONFIGMAP}`,
    ],
    { cwd: repoRoot, env: { POD_NAME: "acme" } },
  );
  await meshsign.banner(120_000);
  await meshsign.logged(/certificate shims started/, 120_000);
}, 300_000);

afterAll(async () => {
  for (const w of watches) w.stop();
  await meshsign?.stop();
  await admin?.close();
  await api?.stop();
  await pebble?.stop();
});

describe("ACME issuer in Kubernetes mode against Pebble", { timeout: 300_000 }, () => {
  it("a Certificate reaches Ready through a real Order, Challenge and solver Ingress", async () => {
    await admin.create<Certificate>(CERTIFICATES, {
      apiVersion: "cert-manager.io/v1",
      kind: "Certificate",
      metadata: { name: "shop", namespace: "shop" },
      spec: {
        secretName: "shop-tls",
        dnsNames: ["shop.example.com"],
        issuerRef: { name: ISSUER, kind: "ClusterIssuer", group: "cert-manager.io" },
      },
    });
    const cert = await readyCertificate("shop", "shop");

    const requests = await admin.list<KubeObject>(CERTIFICATE_REQUESTS, { namespace: "shop" });
    expect(requests).toHaveLength(1);
    const request = requests[0] as KubeObject;
    expect(request.metadata.ownerReferences?.[0]).toMatchObject({
      kind: "Certificate",
      uid: cert.metadata.uid,
    });

    const orders = await admin.list<Order>(ORDERS, { namespace: "shop" });
    expect(orders).toHaveLength(1);
    const order = orders[0] as Order;
    expect(order.status?.state).toBe("valid");
    expect(order.spec.dnsNames).toEqual(["shop.example.com"]);
    expect(order.metadata.ownerReferences).toEqual([
      expect.objectContaining({
        apiVersion: "cert-manager.io/v1",
        kind: "CertificateRequest",
        name: request.metadata.name,
        uid: request.metadata.uid,
        controller: true,
      }),
    ]);

    // The Challenge as the API server held it (it may be deleted once its Order is valid). Watch
    // events arrive on their own connections, so wait for them rather than assume they are in.
    const seen = (kind: string, ns: string, suffix: string) =>
      eventually(
        async () =>
          history.find(
            (h) =>
              h.line.startsWith(`${kind} `) && h.object.metadata.namespace === ns && h.line.endsWith(suffix),
          ),
        60_000,
      );
    const challenge = (await seen("Challenge", "shop", " valid")).object as Challenge;
    expect(challenge.spec).toMatchObject({ type: "HTTP-01", dnsName: "shop.example.com" });
    expect(challenge.metadata.ownerReferences).toEqual([
      expect.objectContaining({
        apiVersion: "acme.cert-manager.io/v1",
        kind: "Order",
        name: order.metadata.name,
        uid: order.metadata.uid,
        controller: true,
      }),
    ]);
    const lines = history.map((h) => h.line);
    const name = challenge.metadata.name;
    expect(lines.some((l) => /^Challenge (ADDED|MODIFIED) /.test(l) && l.endsWith(`${name} pending`))).toBe(
      true,
    );

    // The solver Ingress: made while the Challenge was pending, owned by it, gone after validation.
    const added = await seen("Ingress ADDED", "shop", " solver");
    const ingress = added.object as KubeObject & { spec?: Record<string, unknown> };
    expect(ingress.metadata.namespace).toBe("shop");
    expect(ingress.metadata.ownerReferences).toEqual([
      expect.objectContaining({ kind: "Challenge", name, uid: challenge.metadata.uid, controller: true }),
    ]);
    expect(ingress.spec).toMatchObject({
      ingressClassName: "nginx",
      rules: [
        {
          host: "shop.example.com",
          http: { paths: [{ path: `/.well-known/acme-challenge/${challenge.spec.token}` }] },
        },
      ],
    });
    // One etcd orders every write: resourceVersions compare across kinds here.
    const rv = (o: KubeObject | undefined) => Number(o?.metadata.resourceVersion);
    expect(rv(ingress)).toBeLessThan(rv(challenge));
    await eventually(
      async () =>
        (await admin.get(INGRESSES, "shop", ingress.metadata.name ?? "")) === undefined ? true : undefined,
      60_000,
    );

    const chain = await chainOf("shop", "shop-tls");
    expect(new X509Certificate(chain).subjectAltName).toBe("DNS:shop.example.com");
    expect(verifiesWithNodeCrypto(chain, await pebble.root(0))).toBe(true);
  });

  it("an Ingress annotated with the ACME ClusterIssuer gets its Certificate from the shim, issued the same way", async () => {
    const fixture = parse(
      readFileSync(path.join(repoRoot, "examples", "ingress-annotations.yaml"), "utf8"),
    ) as KubeObject;
    expect(fixture.metadata.annotations?.["cert-manager.io/cluster-issuer"]).toBe(ISSUER);
    const ing = await admin.create(INGRESSES, fixture);
    const cert = await readyCertificate("web", "hello-example-org-tls");
    expect(cert.spec.issuerRef).toEqual({ name: ISSUER, kind: "ClusterIssuer", group: "cert-manager.io" });
    expect(cert.metadata.ownerReferences).toEqual([
      expect.objectContaining({ kind: "Ingress", name: "hello", uid: ing.metadata.uid, controller: true }),
    ]);

    const orders = await admin.list<Order>(ORDERS, { namespace: "web" });
    expect(orders.map((o) => [o.spec.dnsNames, o.status?.state])).toEqual([[["hello.example.org"], "valid"]]);
    // Its own solver Ingress came and went beside the user's, which is left as it was.
    const solver = await eventually(
      async () =>
        history.find(
          (h) =>
            h.line.startsWith("Ingress ADDED") &&
            h.line.endsWith("solver") &&
            h.object.metadata.namespace === "web",
        ),
      60_000,
    );
    expect(solver, history.map((h) => h.line).join("\n")).toBeDefined();
    expect(solver?.object.metadata.name).not.toBe("hello");
    await eventually(
      async () =>
        (await admin.get(INGRESSES, "web", solver?.object.metadata.name ?? "")) === undefined
          ? true
          : undefined,
      60_000,
    );
    const user = (await admin.get<KubeObject & { spec?: unknown }>(
      INGRESSES,
      "web",
      "hello",
    )) as KubeObject & {
      spec?: unknown;
    };
    expect(user.spec).toEqual((fixture as KubeObject & { spec?: unknown }).spec);

    const chain = await chainOf("web", "hello-example-org-tls");
    const leaf = new X509Certificate(chain);
    expect(leaf.subjectAltName).toBe("DNS:hello.example.org");
    // The annotations reach the key: ECDSA P-256.
    expect(leaf.publicKey.asymmetricKeyDetails?.namedCurve).toBe("prime256v1");
    expect(verifiesWithNodeCrypto(chain, await pebble.root(0))).toBe(true);
  });
  it("a Certificate reaches Ready through an HTTPRoute solver: the route names the Gateway, is owned by the Challenge, routes to meshsign's Service and goes after", async () => {
    await admin.create(CLUSTER_ISSUERS, {
      apiVersion: "cert-manager.io/v1",
      kind: "ClusterIssuer",
      metadata: { name: "acme-gateway" },
      spec: {
        acme: {
          server: pebble.directoryUrl,
          email: "ops@example.com",
          caBundle: Buffer.from(pebble.tlsCaPem).toString("base64"),
          privateKeySecretRef: { name: "acme-gateway-account" },
          solvers: [
            {
              waitInsteadOfSelfCheck: "2s",
              http01: {
                gatewayHTTPRoute: {
                  labels: { gateway: "public" },
                  parentRefs: [{ name: "public", namespace: "istio-ingress", kind: "Gateway" }],
                },
              },
            },
          ],
        },
      },
    } as KubeObject);
    await admin.create<Certificate>(CERTIFICATES, {
      apiVersion: "cert-manager.io/v1",
      kind: "Certificate",
      metadata: { name: "gw", namespace: "shop" },
      spec: {
        secretName: "gw-tls",
        dnsNames: ["gw.example.com"],
        issuerRef: { name: "acme-gateway", kind: "ClusterIssuer", group: "cert-manager.io" },
      },
    });
    await readyCertificate("shop", "gw");

    const challenge = (
      await eventually(
        async () =>
          history.find(
            (h) =>
              h.line.startsWith("Challenge ") &&
              h.line.endsWith(" valid") &&
              (h.object as Challenge).spec.dnsName === "gw.example.com",
          ),
        60_000,
      )
    ).object as Challenge;
    const added = await eventually(
      async () =>
        history.find(
          (h) =>
            h.line.startsWith("HTTPRoute ADDED") &&
            h.line.endsWith(" solver") &&
            h.object.metadata.namespace === "shop",
        ),
      60_000,
    );
    const route = added.object as KubeObject & { spec?: Record<string, unknown> };
    expect(route.metadata.labels).toMatchObject({ [SOLVER_LABEL]: "true", gateway: "public" });
    expect(route.metadata.labels?.["acme.cert-manager.io/http-token"]).toMatch(/^\d+$/);
    expect(route.metadata.ownerReferences).toEqual([
      expect.objectContaining({
        apiVersion: "acme.cert-manager.io/v1",
        kind: "Challenge",
        name: challenge.metadata.name,
        uid: challenge.metadata.uid,
        controller: true,
      }),
    ]);
    expect(route.spec).toMatchObject({
      parentRefs: [{ name: "public", namespace: "istio-ingress", kind: "Gateway" }],
      hostnames: ["gw.example.com"],
      rules: [
        {
          matches: [
            { path: { type: "Exact", value: `/.well-known/acme-challenge/${challenge.spec.token}` } },
          ],
          backendRefs: [
            expect.objectContaining({ kind: "Service", name: "meshsign", namespace: "meshsign-system" }),
          ],
        },
      ],
    });
    // Made while the Challenge was pending (one etcd orders every write), gone once it was valid.
    const pendingAt = history.find(
      (h) =>
        h.line.startsWith("Challenge ") &&
        h.line.endsWith(" pending") &&
        h.object.metadata.name === challenge.metadata.name,
    );
    expect(pendingAt).toBeDefined();
    const rv = (o: KubeObject | undefined) => Number(o?.metadata.resourceVersion);
    expect(rv(route)).toBeLessThan(rv(challenge));
    await eventually(
      async () =>
        (await admin.get(HTTP_ROUTES, "shop", route.metadata.name ?? "")) === undefined ? true : undefined,
      60_000,
    );
    expect(verifiesWithNodeCrypto(await chainOf("shop", "gw-tls"), await pebble.root(0))).toBe(true);
  });

  it("the runtime issuance ConfigMap naming the ACME ClusterIssuer is refused, and the current issuer keeps signing", async () => {
    await admin.create(CONFIGMAPS, {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: RUNTIME_ISSUER_CONFIGMAP, namespace: "meshsign-system" },
      data: { "issuer-name": ISSUER, "issuer-kind": "ClusterIssuer", "issuer-group": "cert-manager.io" },
    } as KubeObject);
    await meshsign?.logged(/runtime issuer refused; the current issuer keeps signing/, 120_000);
    expect(meshsign?.stderr).toContain(
      `ClusterIssuer ${ISSUER} is an ACME issuer: public ACME CAs do not issue SPIFFE SVIDs`,
    );
    expect(meshsign?.stderr).not.toMatch(/signing issuer switched/);
    await admin.delete(CONFIGMAPS, "meshsign-system", RUNTIME_ISSUER_CONFIGMAP);
  });

  it("meshsign serve --mode kubernetes with --issuer-name naming the ACME ClusterIssuer exits 1 at start-up, saying why", async () => {
    const dataDir = path.join(api.dir, "data-acme-workload-issuer");
    await mkdir(dataDir, { recursive: true });
    const r = await runMeshsign(
      [
        "serve",
        "--mode=kubernetes",
        `--kubeconfig=${meshsignKubeconfig}`,
        `--data-dir=${dataDir}`,
        `--issuer-name=${ISSUER}`,
        "--issuer-kind=ClusterIssuer",
        "--workers=1",
        "--serving-address=127.0.0.1:0",
        "--admin-address=127.0.0.1:0",
        "--readiness-probe-port=0",
        "--metrics-port=0",
        "--acme-http01-solver-address=",
      ],
      { cwd: repoRoot, env: { POD_NAME: "acme-workload-issuer" }, timeoutMs: 120_000 },
    );
    expect(r.code, r.stderr.slice(-2000)).toBe(1);
    expect(r.stderr).toContain(
      `ClusterIssuer ${ISSUER} is an ACME issuer: public ACME CAs do not issue SPIFFE SVIDs, so it cannot sign workload certificates`,
    );
  });
});
