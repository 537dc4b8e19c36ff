import { mkdir } from "node:fs/promises";
import path from "node:path";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLUSTER_ISSUERS, CONFIGMAPS, NAMESPACES, SECRETS } from "../../src/api/types.js";
import { IstioCaClient } from "../../src/csr-service/client.js";
import { buildCsr, generateKeySync } from "../../src/pki/keys.js";
import { createRootCa } from "../../src/server/data-dir.js";
import { KubeStore } from "../../src/store/kube/index.js";
import type { KubeObject } from "../../src/store/types.js";
import { type KubeApiServer, repoRoot, startKubeApiServer } from "../kube/harness.js";
import { installCrds } from "../kube/lib/crds.js";
import { eventually } from "../kube/lib/eventually.js";
import { ServeProcess } from "../lib/meshsign-process.js";
import { opensslVerify } from "../lib/openssl.js";
import { SIGN_POLICY, VaultServer } from "./harness.js";

/*
 * `meshsign serve --mode kubernetes --issuer-name vault` against a real
 * kube-apiserver and a real Vault: the ClusterIssuer logs in with
 * auth.kubernetes.serviceAccountRef (meshsign requests the token through
 * TokenRequest; Vault reviews it with the API server), meshsign's serving
 * certificate and workload SVIDs come from Vault, and istio-ca-root-cert
 * publishes Vault's root.
 */

const APP = "app";
const SA = "vault-issuer";
const OWN_CONNECTION = { "grpc.use_local_subchannel_pool": 1 };

let api: KubeApiServer;
let vault: VaultServer;
let core: CoreV1Api;
let admin: KubeStore;
let meshsign: ServeProcess;
let address = "";

beforeAll(async () => {
  [api, vault] = await Promise.all([startKubeApiServer(), new VaultServer()]);
  await vault.start();
  await vault.configure();
  const kc = new KubeConfig();
  kc.loadFromFile(api.kubeconfigPath);
  core = kc.makeApiClient(CoreV1Api);
  admin = new KubeStore({ kubeConfig: kc, fieldManager: "vault-test" });
  await installCrds(kc);
  for (const name of ["meshsign-system", "istio-system", APP]) {
    await admin.create(NAMESPACES, { apiVersion: "v1", kind: "Namespace", metadata: { name } });
  }
  await core.createNamespacedServiceAccount({
    namespace: "meshsign-system",
    body: { metadata: { name: SA } },
  });
  await core.createNamespacedServiceAccount({ namespace: APP, body: { metadata: { name: "web" } } });
  await vault.must("POST", "sys/auth/kubernetes", { type: "kubernetes" });
  await vault.must("POST", "auth/kubernetes/config", {
    kubernetes_host: api.server,
    kubernetes_ca_cert: api.caPem,
    token_reviewer_jwt: api.adminToken,
  });
  await vault.must("POST", "auth/kubernetes/role/meshsign", {
    bound_service_account_names: [SA],
    bound_service_account_namespaces: ["meshsign-system"],
    audience: "vault://vault",
    token_policies: [SIGN_POLICY],
  });
  await admin.create(CLUSTER_ISSUERS, {
    apiVersion: "cert-manager.io/v1",
    kind: "ClusterIssuer",
    metadata: { name: "vault" },
    spec: {
      vault: {
        server: vault.url,
        path: "pki_int/sign/mesh",
        caBundle: Buffer.from(vault.caPem).toString("base64"),
        auth: { kubernetes: { role: "meshsign", serviceAccountRef: { name: SA } } },
      },
    },
  } as KubeObject);
  const dataDir = path.join(api.dir, "data");
  await mkdir(dataDir, { recursive: true });
  // The admin identity stands in for meshsign's RBAC plus the Role docs/vault.md asks for.
  meshsign = ServeProcess.start(
    [
      "--mode=kubernetes",
      `--kubeconfig=${api.kubeconfigPath}`,
      `--data-dir=${dataDir}`,
      "--workers=2",
      "--issuer-name=vault",
      "--issuer-kind=ClusterIssuer",
      "--serving-certificate-dns-names=localhost",
      "--identity-rate-limit=0",
      "--runtime-issuance-config-map-name=meshsign-issuer",
    ],
    { cwd: repoRoot, env: { POD_NAME: "meshsign-vault" } },
  );
  const banner = await meshsign.banner(120_000);
  address = `localhost:${banner.grpcPort}`;
}, 240_000);

afterAll(async () => {
  await meshsign?.stop();
  await admin?.close();
  await vault?.stop();
  await api?.stop();
});

/** A workload's CreateCertificate (TokenRequest istio-ca token), TLS verified with `tlsRoots`; the chain. */
async function svid(tlsRoots: string): Promise<string[]> {
  const tr = await core.createNamespacedServiceAccountToken({
    name: "web",
    namespace: APP,
    body: { spec: { audiences: ["istio-ca"], expirationSeconds: 3600 } },
  });
  const key = generateKeySync({ type: "ec", curve: "P-256" });
  const client = new IstioCaClient({ address, rootsPem: tlsRoots }, OWN_CONNECTION);
  try {
    return await client.createCertificate({
      csr: buildCsr(key, { uris: [`spiffe://cluster.local/ns/${APP}/sa/web`] }),
      token: tr.status?.token ?? "",
      deadlineMs: 30_000,
    });
  } finally {
    client.close();
  }
}

describe("meshsign --mode kubernetes with a Vault ClusterIssuer and serviceAccountRef", () => {
  it("answers a workload's CreateCertificate with Vault's [leaf, intermediate, root] and publishes Vault's root", async () => {
    const chain = await svid(vault.rootPem);
    expect(chain).toHaveLength(3);
    const [leaf, intermediate, root] = chain as [string, string, string];
    expect(intermediate.trim()).toBe(vault.intermediatePem.trim());
    expect(root.trim()).toBe(vault.rootPem.trim());
    const verified = opensslVerify(root, leaf, [intermediate]);
    expect(verified.ok, verified.output).toBe(true);
    // Logged in through Vault's Kubernetes auth with the TokenRequest token (engine and workload issuer).
    expect(vault.auditCount("auth/kubernetes/login")).toBeGreaterThanOrEqual(1);
    // Published once meshsign switched to Vault (the first publication may carry meshsign's own root).
    const published = await eventually(async () => {
      const cm = await core
        .readNamespacedConfigMap({ name: "istio-ca-root-cert", namespace: APP })
        .catch(() => undefined);
      const pem = cm?.data?.["root-cert.pem"];
      return pem?.trim() === vault.rootPem.trim() ? pem : undefined;
    }, 60_000);
    expect(published.trim()).toBe(vault.rootPem.trim());
  });

  it("follows the runtime issuance ConfigMap from Vault to a CA issuer and, when it is deleted, back to Vault", async () => {
    const ca = await createRootCa({
      algorithm: "ecdsa-p256",
      durationMs: 86_400_000,
      trustDomain: "cluster.local",
    });
    const b64 = (v: string) => Buffer.from(v).toString("base64");
    await admin.create(SECRETS, {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "other-ca", namespace: "meshsign-system" },
      type: "kubernetes.io/tls",
      data: { "tls.crt": b64(ca.certificatePem), "tls.key": b64(ca.keyPem) },
    } as KubeObject);
    await admin.create(CLUSTER_ISSUERS, {
      apiVersion: "cert-manager.io/v1",
      kind: "ClusterIssuer",
      metadata: { name: "other-ca" },
      spec: { ca: { secretName: "other-ca" } },
    } as KubeObject);
    await admin.create(CONFIGMAPS, {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "meshsign-issuer", namespace: "meshsign-system" },
      data: { "issuer-name": "other-ca", "issuer-kind": "ClusterIssuer", "issuer-group": "cert-manager.io" },
    } as KubeObject);
    // meshsign's serving certificate still comes from Vault: the client keeps trusting Vault's root for TLS.
    const fromCa = await eventually(async () => {
      const chain = await svid(vault.rootPem).catch(() => undefined);
      return chain?.at(-1)?.trim() === ca.certificatePem.trim() ? chain : undefined;
    }, 60_000);
    expect(fromCa).toHaveLength(2);
    await admin.delete(CONFIGMAPS, "meshsign-system", "meshsign-issuer");
    const fromVault = await eventually(async () => {
      const chain = await svid(vault.rootPem).catch(() => undefined);
      return chain?.at(-1)?.trim() === vault.rootPem.trim() ? chain : undefined;
    }, 60_000);
    expect(fromVault).toHaveLength(3);
    expect(meshsign.stderr).toMatch(/signing issuer switched/);
  });
});
