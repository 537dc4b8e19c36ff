/**
 * The certificate shims in Kubernetes mode: a `meshsign serve --mode
 * kubernetes` process, running as its own ServiceAccount under manifests/
 * RBAC, keeps the Certificates of annotated Ingresses, Gateway API Gateways
 * and Istio Gateways on a real kube-apiserver with the released CRDs, and
 * issues them from its mesh CA ClusterIssuer.
 */
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import {
  CERTIFICATES,
  EVENTS,
  GATEWAYS,
  INGRESSES,
  ISTIO_GATEWAYS,
  LISTENER_SETS,
  NAMESPACES,
  SECRETS,
} from "../../src/api/types.js";
import type { Certificate, EventResource, Secret } from "../../src/engine/lib/api.js";
import { KubeStore } from "../../src/store/kube/index.js";
import type { KubeObject } from "../../src/store/types.js";
import { ServeProcess } from "../lib/meshsign-process.js";
import { type KubeApiServer, kubeconfig, repoRoot, startKubeApiServer } from "./harness.js";
import { installCrds, installGatewayApiCrds, installIstioCrds } from "./lib/crds.js";
import { eventually } from "./lib/eventually.js";
import { applyObjects, renderManifests } from "./lib/manifests.js";

/** The ClusterIssuer meshsign makes for its own mesh CA in Kubernetes mode. */
const MESH_CA = "meshsign-mesh-ca";

let api: KubeApiServer;
let admin: KubeStore;
let meshsignKubeconfig = "";
let replica: ServeProcess | undefined;

function fixture(file: string, issuer = MESH_CA): KubeObject {
  const o = parse(readFileSync(path.join(repoRoot, "examples", file), "utf8")) as KubeObject;
  return {
    ...o,
    metadata: {
      ...o.metadata,
      annotations: { ...(o.metadata.annotations ?? {}), "cert-manager.io/cluster-issuer": issuer },
    },
  };
}

async function start(name: string): Promise<ServeProcess> {
  const dataDir = path.join(api.dir, `data-${name}`);
  await mkdir(dataDir, { recursive: true });
  const proc = ServeProcess.start(
    [
      `--mode=kubernetes`,
      `--kubeconfig=${meshsignKubeconfig}`,
      `--data-dir=${dataDir}`,
      "--workers=1",
      "--log-format=json",
    ],
    { cwd: repoRoot, env: { POD_NAME: name } },
  );
  await proc.banner(120_000);
  await proc.logged(/certificate shims started/, 120_000);
  return proc;
}

async function readySecret(ns: string, name: string): Promise<X509Certificate> {
  const cert = await eventually(async () => {
    const c = await admin.get<Certificate>(CERTIFICATES, ns, name);
    return c?.status?.conditions?.some((x) => x.type === "Ready" && x.status === "True") ? c : undefined;
  }, 120_000).catch((err: Error) => {
    throw new Error(`${err.message}\n${replica?.stderr.split("\n").slice(-30).join("\n")}`);
  });
  const secret = (await admin.get<Secret>(SECRETS, ns, cert.spec.secretName)) as Secret;
  return new X509Certificate(Buffer.from(secret.data?.["tls.crt"] ?? "", "base64"));
}

async function eventsOf(ns: string, kind: string, name: string): Promise<EventResource[]> {
  return (await admin.list<EventResource>(EVENTS, { namespace: ns })).filter(
    (e) => e.involvedObject.kind === kind && e.involvedObject.name === name,
  );
}

beforeAll(async () => {
  api = await startKubeApiServer();
  const kc = new KubeConfig();
  kc.loadFromFile(api.kubeconfigPath);
  admin = new KubeStore({ kubeConfig: kc, fieldManager: "shims-admin" });
  await installCrds(kc);
  await applyObjects(admin, renderManifests("manifests/overlays/istio"));
  for (const name of ["istio-system", "istio-ingress", "web"])
    await admin.create(NAMESPACES, { apiVersion: "v1", kind: "Namespace", metadata: { name } });
  const tr = await kc.makeApiClient(CoreV1Api).createNamespacedServiceAccountToken({
    name: "meshsign",
    namespace: "meshsign-system",
    body: { spec: { audiences: [], expirationSeconds: 7200 } },
  });
  meshsignKubeconfig = path.join(api.dir, "meshsign.kubeconfig");
  await writeFile(meshsignKubeconfig, kubeconfig(api.server, api.caPem, tr.status?.token ?? ""), {
    mode: 0o600,
  });
}, 240_000);

afterAll(async () => {
  await replica?.stop();
  await admin?.close();
  await api?.stop();
});

describe("certificate shims in Kubernetes mode", { timeout: 240_000 }, () => {
  it("starts without the Gateway API and Istio CRDs, naming the kinds it skips", async () => {
    const first = await start("before-crds");
    try {
      await first.logged(/certificate shim for Gateway \(gateway.networking.k8s.io\) off: .*not served/);
      await first.logged(/certificate shim for ListenerSet \(gateway.networking.k8s.io\) off: .*not served/);
      await first.logged(/certificate shim for Gateway \(networking.istio.io\) off: .*not served/);
    } finally {
      await first.stop();
    }
    const kc = new KubeConfig();
    kc.loadFromFile(api.kubeconfigPath);
    await installGatewayApiCrds(kc);
    await installIstioCrds(kc);
    replica = await start("after-crds");
    expect(replica.stderr).not.toMatch(/certificate shim for .* off/);
  });

  it("an annotated Ingress gets a Certificate it owns, issued into a Ready Secret, and an Event", async () => {
    const ing = await admin.create(INGRESSES, fixture("ingress-annotations.yaml"));
    const leaf = await readySecret("web", "hello-example-org-tls");
    expect(leaf.subjectAltName).toBe("DNS:hello.example.org");
    expect(leaf.publicKey.asymmetricKeyType).toBe("ec");
    const cert = (await admin.get<Certificate>(CERTIFICATES, "web", "hello-example-org-tls")) as Certificate;
    expect(cert.metadata.ownerReferences).toEqual([
      {
        apiVersion: "networking.k8s.io/v1",
        kind: "Ingress",
        name: "hello",
        uid: ing.metadata.uid,
        controller: true,
      },
    ]);
    expect((await eventsOf("web", "Ingress", "hello")).map((e) => `${e.type} ${e.reason}`)).toContain(
      "Normal CreateCertificate",
    );
  });

  it("an annotated Gateway API Gateway and Istio Gateway get theirs", async () => {
    await admin.create(GATEWAYS, fixture("gateway-api-annotations.yaml"));
    await admin.create(ISTIO_GATEWAYS, fixture("istio-gateway.yaml"));
    expect((await readySecret("istio-ingress", "app-example-org-tls")).subjectAltName).toBe(
      "DNS:app.example.org",
    );
    expect((await readySecret("istio-ingress", "shop-example-com-tls")).subjectAltName).toBe(
      "DNS:shop.example.com",
    );
  });

  it("a ListenerSet on the annotated Gateway gets its listener's Certificate, issued by the Gateway's issuer", async () => {
    await admin.create(LISTENER_SETS, {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "ListenerSet",
      metadata: { name: "team-a", namespace: "istio-ingress" },
      spec: {
        parentRef: { name: "public" },
        listeners: [
          {
            name: "team-a",
            hostname: "team-a.example.org",
            port: 443,
            protocol: "HTTPS",
            tls: { mode: "Terminate", certificateRefs: [{ name: "team-a-tls" }] },
          },
        ],
      },
    } as KubeObject);
    expect((await readySecret("istio-ingress", "team-a-tls")).subjectAltName).toBe("DNS:team-a.example.org");
    const cert = (await admin.get<Certificate>(CERTIFICATES, "istio-ingress", "team-a-tls")) as Certificate;
    expect(cert.spec.issuerRef).toEqual({ name: MESH_CA, kind: "ClusterIssuer", group: "cert-manager.io" });
    expect(cert.metadata.ownerReferences?.[0]).toMatchObject({
      kind: "ListenerSet",
      name: "team-a",
      controller: true,
    });
  });

  it("editing the Ingress updates its Certificate; removing the annotation deletes it", async () => {
    const ing = (await admin.get<KubeObject & { spec: { tls: { hosts: string[]; secretName: string }[] } }>(
      INGRESSES,
      "web",
      "hello",
    )) as KubeObject & { spec: { tls: { hosts: string[]; secretName: string }[] } };
    const edited = await admin.update(INGRESSES, {
      ...ing,
      spec: {
        ...ing.spec,
        tls: [{ hosts: ["hello.example.org", "www.hello.example.org"], secretName: "hello-example-org-tls" }],
      },
    });
    await eventually(
      async () =>
        (await admin.get<Certificate>(CERTIFICATES, "web", "hello-example-org-tls"))?.spec.dnsNames
          ?.length === 2
          ? true
          : undefined,
      60_000,
    );
    const { "cert-manager.io/cluster-issuer": _gone, ...rest } = edited.metadata.annotations ?? {};
    await admin.update(INGRESSES, { ...edited, metadata: { ...edited.metadata, annotations: rest } });
    await eventually(
      async () =>
        (await admin.get(CERTIFICATES, "web", "hello-example-org-tls")) === undefined ? true : undefined,
      60_000,
    );
  });

  it("leaves a hand-made Certificate of the same name alone and says so on the Ingress", async () => {
    const manual: Certificate = {
      apiVersion: "cert-manager.io/v1",
      kind: "Certificate",
      metadata: { name: "manual-tls", namespace: "web" },
      spec: {
        secretName: "manual-tls",
        dnsNames: ["manual.example.org"],
        issuerRef: { name: MESH_CA, kind: "ClusterIssuer", group: "cert-manager.io" },
      },
    };
    await admin.create(CERTIFICATES, manual);
    await admin.create(INGRESSES, {
      apiVersion: "networking.k8s.io/v1",
      kind: "Ingress",
      metadata: {
        name: "clash",
        namespace: "web",
        annotations: { "cert-manager.io/cluster-issuer": MESH_CA },
      },
      // The API server wants a backend or rules on every Ingress.
      spec: {
        defaultBackend: { service: { name: "clash", port: { number: 80 } } },
        tls: [{ hosts: ["clash.example.org"], secretName: "manual-tls" }],
      },
    } as KubeObject);
    const warning = await eventually(
      async () => (await eventsOf("web", "Ingress", "clash")).find((e) => e.reason === "CertificateConflict"),
      60_000,
    );
    expect(warning.type).toBe("Warning");
    expect(warning.message).toMatch(/Certificate "manual-tls" already exists \(not made by a shim\)/);
    const after = (await admin.get<Certificate>(CERTIFICATES, "web", "manual-tls")) as Certificate;
    expect(after.spec.dnsNames).toEqual(["manual.example.org"]);
    expect(after.metadata.ownerReferences).toBeUndefined();
  });
});
