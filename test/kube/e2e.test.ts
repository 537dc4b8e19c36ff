/**
 * Issue 4's end-to-end tests: meshsign processes (`node bin/meshsign.js serve
 * --mode kubernetes`) against a real kube-apiserver, running as their own
 * ServiceAccount under manifests/ RBAC, asked for SVIDs by Istio's own CA
 * client with tokens the cluster minted.
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import {
  CERTIFICATE_REQUESTS,
  CERTIFICATES,
  CLUSTER_ISSUERS,
  LEASES,
  NAMESPACES,
  SECRETS,
} from "../../src/api/types.js";
import { KubeStore } from "../../src/store/kube/index.js";
import type { KubeObject } from "../../src/store/types.js";
import { ServeProcess } from "../lib/meshsign-process.js";
import { type KubeApiServer, kubeconfig, repoRoot, startKubeApiServer } from "./harness.js";
import { installCrds } from "./lib/crds.js";
import { eventually } from "./lib/eventually.js";
import { requestSvid } from "./lib/istio-client.js";
import { applyObjects, renderManifests } from "./lib/manifests.js";

const APP = "app";
const TD = "cluster.local";

let api: KubeApiServer;
let core: CoreV1Api;
let admin: KubeStore;
let meshsignKubeconfig = "";
let rootsFile = "";
const replicas = new Map<string, { proc: ServeProcess; address: string }>();

interface Secret extends KubeObject {
  type?: string;
  data?: Record<string, string>;
}
interface Lease extends KubeObject {
  spec?: { holderIdentity?: string };
}

async function startReplica(name: string): Promise<{ proc: ServeProcess; address: string }> {
  const dataDir = path.join(api.dir, `data-${name}`);
  await mkdir(dataDir, { recursive: true });
  const proc = ServeProcess.start(
    [
      "--mode=kubernetes",
      `--kubeconfig=${meshsignKubeconfig}`,
      `--data-dir=${dataDir}`,
      "--workers=1",
      "--log-format=json",
    ],
    { cwd: repoRoot, env: { POD_NAME: name } },
  );
  const banner = await proc.banner(60_000);
  const replica = { proc, address: `127.0.0.1:${banner.grpcPort}` };
  replicas.set(name, replica);
  return replica;
}

async function leaseHolder(): Promise<string | undefined> {
  return (await admin.get<Lease>(LEASES, "meshsign-system", "meshsign-leader"))?.spec?.holderIdentity;
}

async function serviceAccount(name: string): Promise<void> {
  await core.createNamespacedServiceAccount({ namespace: APP, body: { metadata: { name } } });
}

async function pod(name: string, sa: string): Promise<string> {
  const p = await core.createNamespacedPod({
    namespace: APP,
    body: {
      metadata: { name },
      spec: { serviceAccountName: sa, containers: [{ name: "app", image: "example.invalid/app" }] },
    },
  });
  return p.metadata?.uid ?? "";
}

/** A projected-volume style token: audience istio-ca, bound to a pod; written to a file as the kubelet would. */
async function tokenFile(
  sa: string,
  audiences: string[],
  boundPod?: { name: string; uid: string },
): Promise<string> {
  const tr = await core.createNamespacedServiceAccountToken({
    name: sa,
    namespace: APP,
    body: {
      spec: {
        audiences,
        expirationSeconds: 3600,
        boundObjectRef: boundPod ? { apiVersion: "v1", kind: "Pod", ...boundPod } : undefined,
      },
    },
  });
  const file = path.join(api.dir, `token-${sa}-${Math.random().toString(36).slice(2)}`);
  await writeFile(file, tr.status?.token ?? "", { mode: 0o600 });
  return file;
}

/** Runs one step of a scenario; a failure carries the tail of every replica's log. */
async function step<T>(what: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    const logs = [...replicas.entries()]
      .map(([name, r]) => `--- ${name} stderr (tail)\n${r.proc.stderr.split("\n").slice(-30).join("\n")}`)
      .join("\n");
    throw new Error(`${what}: ${(err as Error).message}\n${logs}`, { cause: err });
  }
}

function uriSans(pem: string): string[] {
  const san = new X509Certificate(pem).subjectAltName ?? "";
  return san
    .split(", ")
    .filter((s) => s.startsWith("URI:"))
    .map((s) => s.slice(4));
}

beforeAll(async () => {
  api = await startKubeApiServer();
  const kc = new KubeConfig();
  kc.loadFromFile(api.kubeconfigPath);
  core = kc.makeApiClient(CoreV1Api);
  admin = new KubeStore({ kubeConfig: kc, fieldManager: "e2e-admin" });
  await installCrds(kc);
  // manifests/ provide meshsign's namespace, ServiceAccount and RBAC; meshsign runs with that identity.
  await applyObjects(admin, renderManifests("manifests/overlays/istio"));
  for (const name of ["istio-system", "istio-ingress", APP]) {
    await admin.create(NAMESPACES, { apiVersion: "v1", kind: "Namespace", metadata: { name } });
  }
  const tr = await core.createNamespacedServiceAccountToken({
    name: "meshsign",
    namespace: "meshsign-system",
    body: { spec: { audiences: [], expirationSeconds: 7200 } },
  });
  meshsignKubeconfig = path.join(api.dir, "meshsign.kubeconfig");
  await writeFile(meshsignKubeconfig, kubeconfig(api.server, api.caPem, tr.status?.token ?? ""), {
    mode: 0o600,
  });

  await startReplica("meshsign-a");
  await eventually(async () => (await leaseHolder())?.startsWith("meshsign-a_") || undefined, 60_000);
  // The roots a workload trusts come from the ConfigMap meshsign publishes in its namespace.
  const cm = await eventually(
    async () =>
      (
        await core
          .readNamespacedConfigMap({ name: "istio-ca-root-cert", namespace: APP })
          .catch(() => undefined)
      )?.data?.["root-cert.pem"],
    60_000,
  );
  rootsFile = path.join(api.dir, "root-cert.pem");
  await writeFile(rootsFile, cm);
  await serviceAccount("workload");
  await serviceAccount("other");
}, 240_000);

afterAll(async () => {
  for (const { proc } of replicas.values()) await proc.stop();
  await admin?.close();
  await api?.stop();
});

describe("Istio's own CA client against meshsign in Kubernetes mode", () => {
  it.each([["ec256"], ["rsa2048"]] as const)(
    "gets an SVID for a pod-bound istio-ca token (%s key), chained to the published root",
    async (keyType) => {
      const uid = await pod(`web-${keyType}`, "workload");
      const token = await tokenFile("workload", ["istio-ca"], { name: `web-${keyType}`, uid });
      const res = await requestSvid({
        address: (replicas.get("meshsign-a") as { address: string }).address,
        rootCertFile: rootsFile,
        tokenFile: token,
        namespace: APP,
        serviceAccount: "workload",
        keyType,
      });
      if (!res.ok) throw new Error(`refused: ${res.code} ${res.error}`);
      expect(res.certChain.length).toBeGreaterThanOrEqual(2);
      const leaf = new X509Certificate(res.certChain[0] as string);
      const root = new X509Certificate(res.certChain.at(-1) as string);
      expect(uriSans(res.certChain[0] as string)).toEqual([`spiffe://${TD}/ns/${APP}/sa/workload`]);
      expect(leaf.publicKey.export({ type: "spki", format: "pem" })).toBe(res.publicKeyPem);
      expect(leaf.checkIssued(root) || res.certChain.length > 2).toBe(true);
      // The last element is the root workloads already trust from istio-ca-root-cert.
      const published = new X509Certificate(readFileSync(rootsFile, "utf8"));
      expect(root.fingerprint256).toBe(published.fingerprint256);
    },
  );

  it("refuses a token of another service account, a wrong audience and a deleted pod's token", async () => {
    const address = (replicas.get("meshsign-a") as { address: string }).address;
    const ask = (tokenPath: string) =>
      requestSvid({
        address,
        rootCertFile: rootsFile,
        tokenFile: tokenPath,
        namespace: APP,
        serviceAccount: "workload",
      });

    const otherUid = await pod("other-pod", "other");
    const otherSa = await ask(await tokenFile("other", ["istio-ca"], { name: "other-pod", uid: otherUid }));
    expect(otherSa).toMatchObject({ ok: false, code: "Unauthenticated" });

    const wrongAudUid = await pod("aud-pod", "workload");
    const wrongAudience = await ask(
      await tokenFile("workload", ["not-istio-ca"], { name: "aud-pod", uid: wrongAudUid }),
    );
    expect(wrongAudience).toMatchObject({ ok: false, code: "Unauthenticated" });

    const goneUid = await pod("gone-pod", "workload");
    const goneToken = await tokenFile("workload", ["istio-ca"], { name: "gone-pod", uid: goneUid });
    await core.deleteNamespacedPod({ name: "gone-pod", namespace: APP, gracePeriodSeconds: 0 });
    const deleted = await ask(goneToken);
    expect(deleted).toMatchObject({ ok: false, code: "Unauthenticated" });
  });
});

describe("istio-ca-root-cert from meshsign", () => {
  it("appears in a namespace created later and is repaired after an edit", async () => {
    await admin.create(NAMESPACES, { apiVersion: "v1", kind: "Namespace", metadata: { name: "late" } });
    const root = await eventually(
      async () =>
        (
          await core
            .readNamespacedConfigMap({ name: "istio-ca-root-cert", namespace: "late" })
            .catch(() => undefined)
        )?.data?.["root-cert.pem"],
      30_000,
    );
    await core.replaceNamespacedConfigMap({
      name: "istio-ca-root-cert",
      namespace: "late",
      body: {
        metadata: { name: "istio-ca-root-cert", labels: { "istio.io/config": "true" } },
        data: { "root-cert.pem": "x", extra: "y" },
      },
    });
    await eventually(async () => {
      const cm = await core.readNamespacedConfigMap({ name: "istio-ca-root-cert", namespace: "late" });
      return JSON.stringify(cm.data) === JSON.stringify({ "root-cert.pem": root }) ? true : undefined;
    }, 30_000);
  });
});

describe("the gateway fixtures", () => {
  it("produce a kubernetes.io/tls Secret an Istio Gateway reads through credentialName", async () => {
    await admin.create(CLUSTER_ISSUERS, {
      apiVersion: "cert-manager.io/v1",
      kind: "ClusterIssuer",
      metadata: { name: "mesh-ca" },
      spec: { ca: { secretName: "meshsign-root-ca" } },
    } as KubeObject);
    const fixture = path.resolve(repoRoot, "examples/gateway-certificate.yaml");
    const [cert] = parseAllDocuments(readFileSync(fixture, "utf8")).map((d) => d.toJS() as KubeObject);
    await admin.create(CERTIFICATES, cert as KubeObject);
    const gateway = parseAllDocuments(
      readFileSync(path.resolve(repoRoot, "examples/istio-gateway.yaml"), "utf8"),
    )[0]?.toJS() as { spec: { servers: Array<{ tls?: { credentialName?: string } }> } };
    const credentialName = gateway.spec.servers.find((s) => s.tls?.credentialName)?.tls?.credentialName ?? "";
    const secret = await eventually(async () => {
      const s = await admin.get<Secret>(SECRETS, "istio-ingress", credentialName);
      return s?.data?.["tls.crt"] ? s : undefined;
    }, 60_000);
    expect(secret.type).toBe("kubernetes.io/tls");
    const b64 = (k: string) => Buffer.from(secret.data?.[k] ?? "", "base64").toString();
    const leaf = new X509Certificate(b64("tls.crt"));
    expect(leaf.subjectAltName).toContain("DNS:shop.example.com");
    expect(leaf.subjectAltName).toContain("DNS:*.shop.example.com");
    expect(leaf.checkPrivateKey(createPrivateKey(b64("tls.key")))).toBe(true);
    expect(b64("tls.key")).toContain("BEGIN EC PRIVATE KEY");
    expect(secret.metadata.annotations?.["team.example.com/owner"]).toBe("storefront");
    expect(secret.metadata.labels?.["app.kubernetes.io/part-of"]).toBe("storefront");
    expect(leaf.checkIssued(new X509Certificate(b64("ca.crt")))).toBe(true);
  });
});

describe("two meshsign replicas on one API server", () => {
  it("has one leader, lets the follower serve CSRs, fails over on a kill and issues no Certificate twice", {
    timeout: 400_000,
  }, async () => {
    const b = await startReplica("meshsign-b");
    expect((await leaseHolder())?.startsWith("meshsign-a_")).toBe(true);

    // The follower serves CreateCertificate.
    const uid = await pod("via-follower", "workload");
    const res = await requestSvid({
      address: b.address,
      rootCertFile: rootsFile,
      tokenFile: await tokenFile("workload", ["istio-ca"], { name: "via-follower", uid }),
      namespace: APP,
      serviceAccount: "workload",
    });
    expect(res.ok).toBe(true);

    // A Certificate issued by the leader before the failover.
    const certificate = (name: string): KubeObject =>
      ({
        apiVersion: "cert-manager.io/v1",
        kind: "Certificate",
        metadata: { name, namespace: APP },
        spec: {
          secretName: `${name}-tls`,
          dnsNames: [`${name}.${APP}.svc`],
          issuerRef: { name: "meshsign-mesh-ca", kind: "ClusterIssuer", group: "cert-manager.io" },
        },
      }) as KubeObject;
    const issuedCert = async (name: string) =>
      eventually(
        async () => (await admin.get<Secret>(SECRETS, APP, `${name}-tls`))?.data?.["tls.crt"],
        60_000,
      );
    await admin.create(CERTIFICATES, certificate("before"));
    const before = await issuedCert("before");

    // Kill the leader without a goodbye: the Lease is not released.
    await (replicas.get("meshsign-a") as { proc: ServeProcess }).proc.stop("SIGKILL");
    replicas.delete("meshsign-a");
    const killedAt = Date.now();
    await step("meshsign-b takes the Lease", () =>
      eventually(async () => (await leaseHolder())?.startsWith("meshsign-b_") || undefined, 120_000),
    );
    // Informational: client-go timing bounds this at lease duration + retry (about 17 s).
    console.info(`failover took ${Date.now() - killedAt} ms`);

    // The new leader's engine works, and it did not re-issue what was already issued.
    await admin.create(CERTIFICATES, certificate("after"));
    await issuedCert("after");
    expect((await admin.get<Secret>(SECRETS, APP, "before-tls"))?.data?.["tls.crt"]).toBe(before);
    const requests = await admin.list<KubeObject>(CERTIFICATE_REQUESTS, { namespace: APP });
    const forBefore = requests.filter(
      (r) =>
        r.metadata.annotations?.["cert-manager.io/certificate-name"] === "before" ||
        r.metadata.ownerReferences?.some((o) => o.kind === "Certificate" && o.name === "before"),
    );
    expect(forBefore).toHaveLength(1);
  });
});
