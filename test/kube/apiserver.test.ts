/**
 * Proves the harness: the kube-apiserver it starts mints, reviews and
 * publishes verification keys for service-account tokens, as a cluster does.
 */
import { AuthenticationV1Api, CoreV1Api, KubeConfig, OpenidApi } from "@kubernetes/client-node";
import { createLocalJWKSet, decodeJwt, jwtVerify } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  DEFAULT_API_AUDIENCE,
  type KubeApiServer,
  SERVICE_ACCOUNT_ISSUER,
  startKubeApiServer,
} from "./harness.js";
import { eventually } from "./lib/eventually.js";

let api: KubeApiServer;
let core: CoreV1Api;
let authn: AuthenticationV1Api;
let openid: OpenidApi;

const NS = "harness-proof";
const SA = "workload";

beforeAll(async () => {
  api = await startKubeApiServer();
  const kc = new KubeConfig();
  kc.loadFromFile(api.kubeconfigPath);
  core = kc.makeApiClient(CoreV1Api);
  authn = kc.makeApiClient(AuthenticationV1Api);
  openid = kc.makeApiClient(OpenidApi);
  await core.createNamespace({ body: { metadata: { name: NS } } });
  await core.createNamespacedServiceAccount({ namespace: NS, body: { metadata: { name: SA } } });
});

afterAll(async () => {
  await api?.stop();
});

async function requestToken(audiences: string[], pod?: { name: string; uid: string }): Promise<string> {
  const res = await core.createNamespacedServiceAccountToken({
    name: SA,
    namespace: NS,
    body: {
      spec: {
        audiences,
        expirationSeconds: 3600,
        boundObjectRef: pod ? { apiVersion: "v1", kind: "Pod", name: pod.name, uid: pod.uid } : undefined,
      },
    },
  });
  const token = res.status?.token;
  if (!token) throw new Error("TokenRequest returned no token");
  return token;
}

async function review(token: string, audiences: string[]) {
  const res = await authn.createTokenReview({ body: { spec: { token, audiences } } });
  return res.status ?? {};
}

describe("the test kube-apiserver", () => {
  it("serves the kubeconfig's admin identity over TLS verified by caPem", async () => {
    const list = await core.listNamespace();
    const names = list.items.map((n) => n.metadata?.name);
    expect(names).toContain(NS);
    expect(api.caPem).toContain("-----BEGIN CERTIFICATE-----");
    expect(api.server).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
  });

  it("mints a TokenRequest token for audience istio-ca with the service-account issuer and subject", async () => {
    const token = await requestToken(["istio-ca"]);
    const claims = decodeJwt(token);
    expect(claims.iss).toBe(SERVICE_ACCOUNT_ISSUER);
    expect(claims.aud).toEqual(["istio-ca"]);
    expect(claims.sub).toBe(`system:serviceaccount:${NS}:${SA}`);
  });

  it("authenticates the token by TokenReview for its audience and refuses it for another", async () => {
    const token = await requestToken(["istio-ca"]);
    const ok = await review(token, ["istio-ca"]);
    expect(ok.authenticated).toBe(true);
    expect(ok.user?.username).toBe(`system:serviceaccount:${NS}:${SA}`);
    expect(ok.audiences).toEqual(["istio-ca"]);

    const wrong = await review(token, [DEFAULT_API_AUDIENCE]);
    expect(wrong.authenticated).not.toBe(true);
  });

  it("publishes /openid/v1/jwks whose keys verify the token's signature", async () => {
    const token = await requestToken(["istio-ca"]);
    // The generated client already parses the JSON body despite its `string` type.
    const raw: unknown = await openid.getServiceAccountIssuerOpenIDKeyset();
    const jwks = (typeof raw === "string" ? JSON.parse(raw) : raw) as { keys: Array<{ kid?: string }> };
    expect(jwks.keys.length).toBeGreaterThan(0);
    const { payload } = await jwtVerify(
      token,
      createLocalJWKSet(jwks as Parameters<typeof createLocalJWKSet>[0]),
      {
        issuer: SERVICE_ACCOUNT_ISSUER,
        audience: "istio-ca",
      },
    );
    expect(payload.sub).toBe(`system:serviceaccount:${NS}:${SA}`);
  });

  it("refuses a pod-bound token by TokenReview once the pod object is deleted", async () => {
    const pod = await core.createNamespacedPod({
      namespace: NS,
      body: {
        metadata: { name: "bound" },
        spec: { serviceAccountName: SA, containers: [{ name: "app", image: "example.invalid/app" }] },
      },
    });
    const uid = pod.metadata?.uid ?? "";
    const token = await requestToken(["istio-ca"], { name: "bound", uid });
    const before = await review(token, ["istio-ca"]);
    expect(before.authenticated).toBe(true);
    expect(before.user?.extra?.["authentication.kubernetes.io/pod-name"]).toEqual(["bound"]);

    await core.deleteNamespacedPod({ name: "bound", namespace: NS, gracePeriodSeconds: 0 });
    // kube-apiserver caches successful token authentications for 10 s
    // (--token-success-cache-ttl default), so the refusal is eventual.
    const after = await eventually(async () => {
      const status = await review(token, ["istio-ca"]);
      return status.authenticated === true ? undefined : status;
    }, 30_000);
    expect(after.authenticated).not.toBe(true);
    expect(after.error ?? "").toMatch(/invalidated|pod|not found/i);
  });
});
