import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Issuer, SignResult } from "../../src/issuers/issuer.js";
import type { ServiceAccountTokenRequester } from "../../src/issuers/registry.js";
import { type VaultIssuer, vaultIssuerFactory } from "../../src/issuers/vault/index.js";
import type { CertificateTemplate } from "../../src/pki/index.js";
import { buildCsr, generateKeySync, publicKeySpki } from "../../src/pki/keys.js";
import { kubeServiceAccountTokens } from "../../src/server/kube-token-request.js";
import { type KubeApiServer, startKubeApiServer } from "../kube/harness.js";
import { SIGN_POLICY, VaultServer } from "./harness.js";

/*
 * Vault's Kubernetes auth method pointed at the test kube-apiserver (it
 * checks each login's JWT with TokenReview), and a Vault ClusterIssuer with
 * auth.kubernetes.serviceAccountRef: meshsign requests a short-lived bound
 * token through TokenRequest with cert-manager's audiences and logs in with it.
 */

const NS = "meshsign-system";
const SA = "vault-issuer";
const SVID = "spiffe://cluster.local/ns/default/sa/web";

let kube: KubeApiServer;
let vault: VaultServer;
let requestToken: ServiceAccountTokenRequester;

beforeAll(async () => {
  [kube, vault] = await Promise.all([startKubeApiServer(), new VaultServer()]);
  await vault.start();
  await vault.configure();
  const k8s = await import("@kubernetes/client-node");
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kube.kubeconfigPath);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: NS } } });
  await core.createNamespacedServiceAccount({ namespace: NS, body: { metadata: { name: SA } } });
  requestToken = await kubeServiceAccountTokens({ kubeconfig: kube.kubeconfigPath });
  // Vault reviews login tokens with the API server's TokenReview, as itself (the admin identity here).
  await vault.must("POST", "sys/auth/kubernetes", { type: "kubernetes" });
  await vault.must("POST", "auth/kubernetes/config", {
    kubernetes_host: kube.server,
    kubernetes_ca_cert: kube.caPem,
    token_reviewer_jwt: kube.adminToken,
  });
  await vault.must("POST", "auth/kubernetes/role/meshsign", {
    bound_service_account_names: [SA],
    bound_service_account_namespaces: [NS],
    audience: "vault://vault",
    token_policies: [SIGN_POLICY],
    token_ttl: "1h",
  });
}, 180_000);

afterAll(async () => {
  await vault?.stop();
  await kube?.stop();
});

function request(): { requestId: string; csrPem: string; template: CertificateTemplate } {
  const key = generateKeySync({ type: "ec", curve: "P-256" });
  const now = Date.now();
  return {
    requestId: "k8s",
    csrPem: buildCsr(key, { subject: [], uris: [SVID] }),
    template: {
      publicKeySpki: publicKeySpki(key),
      subject: [],
      uris: [SVID],
      isCA: false,
      keyUsage: ["digitalSignature"],
      extKeyUsage: ["serverAuth", "clientAuth"],
      notBefore: new Date(now),
      notAfter: new Date(now + 3_600_000),
    },
  };
}

function claims(jwt: string): { aud?: string[]; exp?: number; iat?: number; sub?: string } {
  return JSON.parse(Buffer.from(jwt.split(".")[1] ?? "", "base64url").toString("utf8"));
}

async function build(role: string, requester: ServiceAccountTokenRequester | undefined): Promise<Issuer> {
  const { issuer } = await vaultIssuerFactory(
    {
      server: vault.url,
      path: "pki_int/sign/mesh",
      caBundle: Buffer.from(vault.caPem).toString("base64"),
      auth: { kubernetes: { role, serviceAccountRef: { name: SA } } },
    },
    {
      secretNamespace: NS,
      readSecret: async () => undefined,
      resource: { kind: "ClusterIssuer", name: "vault" },
      ...(requester ? { requestServiceAccountToken: requester } : {}),
    },
  );
  return issuer;
}

describe("Vault Kubernetes auth with serviceAccountRef against a real kube-apiserver", () => {
  it("logs in with a TokenRequest token carrying cert-manager's audiences, reviewed by the API server, and signs", async () => {
    const asked: {
      audiences: readonly string[];
      expirationSeconds: number;
      name: string;
      namespace: string;
    }[] = [];
    const tokens: string[] = [];
    const issuer = await build("meshsign", async (r) => {
      asked.push(r);
      const t = await requestToken(r);
      tokens.push(t);
      return t;
    });
    expect(issuer.status()).toMatchObject({ ready: true, message: "Vault verified" });
    const result: SignResult = await issuer.sign(request());
    expect(result.status).toBe("issued");
    expect(asked).toEqual([
      { namespace: NS, name: SA, audiences: ["vault://vault", vault.url], expirationSeconds: 600 },
    ]);
    const c = claims(tokens[0] as string);
    expect(c.sub).toBe(`system:serviceaccount:${NS}:${SA}`);
    expect(c.aud).toEqual(["vault://vault", vault.url]);
    expect((c.exp ?? 0) - (c.iat ?? 0)).toBe(600);
    expect((issuer as VaultIssuer).tokenStats.logins).toBe(1);
    expect(vault.auditCount("auth/kubernetes/login")).toBe(1);
  });

  it("is not Ready with Vault's reason when the role's bound service account is another", async () => {
    await vault.must("POST", "auth/kubernetes/role/other", {
      bound_service_account_names: ["someone-else"],
      bound_service_account_namespaces: [NS],
      audience: "vault://vault",
      token_policies: [SIGN_POLICY],
    });
    const issuer = await build("other", requestToken);
    expect(issuer.status()).toMatchObject({ ready: false, reason: "VaultError" });
    expect(issuer.status().message).toMatch(
      /Failed to initialize Vault client: Vault Kubernetes login at auth\/kubernetes\/login failed with HTTP 403/,
    );
  });

  it("is not Ready, saying why, without a Kubernetes API server to request the token from", async () => {
    const issuer = await build("meshsign", undefined);
    expect(issuer.status()).toMatchObject({ ready: false, reason: "VaultError" });
    expect(issuer.status().message).toMatch(
      /serviceAccountRef needs a service account token from the Kubernetes TokenRequest API/,
    );
  });
});
