/**
 * meshsign's TokenReview path against the real kube-apiserver: TokenReviewAuthenticator over the
 * client `meshsign serve` uses (keepAliveTokenReviewer, HTTP/2), with pod-bound tokens from
 * TokenRequest as the kubelet projects them.
 */
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuthnInput } from "../../src/authn/index.js";
import { TokenReviewAuthenticator } from "../../src/authn/index.js";
import { MeshsignError } from "../../src/errors/index.js";
import { keepAliveTokenReviewer } from "../../src/server/kube-token-reviewer.js";
import { Http2RestClient } from "../../src/store/kube/index.js";
import { DEFAULT_API_AUDIENCE, type KubeApiServer, kubeconfig, startKubeApiServer } from "./harness.js";

let api: KubeApiServer;
let core: CoreV1Api;
let admin: KubeConfig;

const NS = "token-review";
const SA = "workload";
const POD = "workload-0";
let podUid = "";

beforeAll(async () => {
  api = await startKubeApiServer();
  admin = new KubeConfig();
  admin.loadFromFile(api.kubeconfigPath);
  core = admin.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: NS } } });
  for (const name of [SA, "no-rbac"]) {
    await core.createNamespacedServiceAccount({ namespace: NS, body: { metadata: { name } } });
  }
  const pod = await core.createNamespacedPod({
    namespace: NS,
    body: {
      metadata: { name: POD },
      spec: { serviceAccountName: SA, containers: [{ name: "app", image: "example.invalid/app" }] },
    },
  });
  podUid = pod.metadata?.uid ?? "";
});

afterAll(async () => {
  await api?.stop();
});

async function requestToken(
  serviceAccount: string,
  audiences: string[],
  boundToPod: boolean,
): Promise<string> {
  const res = await core.createNamespacedServiceAccountToken({
    name: serviceAccount,
    namespace: NS,
    body: {
      spec: {
        audiences,
        expirationSeconds: 3600,
        boundObjectRef: boundToPod ? { apiVersion: "v1", kind: "Pod", name: POD, uid: podUid } : undefined,
      },
    },
  });
  const token = res.status?.token;
  if (!token) throw new Error("TokenRequest returned no token");
  return token;
}

function input(token: string): AuthnInput {
  return { authorization: [`Bearer ${token}`], clusterId: [] };
}

function authenticator(kc: KubeConfig): TokenReviewAuthenticator {
  return new TokenReviewAuthenticator({ reviewer: keepAliveTokenReviewer(kc), trustDomain: "cluster.local" });
}

describe("TokenReview against the kube-apiserver over HTTP/2", () => {
  it("speaks HTTP/2 to the API server, many reviews at once on one client", async () => {
    const client = new Http2RestClient(admin, 30_000);
    try {
      const token = await requestToken(SA, ["istio-ca"], true);
      const answers = await Promise.all(
        Array.from({ length: 16 }, () =>
          client.request<{ status?: { authenticated?: boolean } }>({
            method: "POST",
            path: "/apis/authentication.k8s.io/v1/tokenreviews",
            body: {
              apiVersion: "authentication.k8s.io/v1",
              kind: "TokenReview",
              spec: { token, audiences: ["istio-ca"] },
            },
          }),
        ),
      );
      expect(answers.map((a) => a.status?.authenticated)).toEqual(Array(16).fill(true));
      expect(client.protocol).toBe("h2");
    } finally {
      client.close();
    }
  });

  it("authenticates a pod-bound token as its service account, with the pod's name and UID", async () => {
    const caller = await authenticator(admin).authenticate(input(await requestToken(SA, ["istio-ca"], true)));
    expect(caller.identities).toEqual([`spiffe://cluster.local/ns/${NS}/sa/${SA}`]);
    expect(caller.kubernetes).toEqual({ namespace: NS, serviceAccount: SA, podName: POD, podUid });
  });

  it("refuses a token minted for another audience as unauthenticated", async () => {
    const token = await requestToken(SA, [DEFAULT_API_AUDIENCE], false);
    const err = await authenticator(admin)
      .authenticate(input(token))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MeshsignError);
    expect((err as MeshsignError).code).toBe("ERR_TOKEN_REJECTED");
    expect((err as MeshsignError).retry).not.toBe("transient");
  });

  it("refuses a token that is not one as unauthenticated", async () => {
    const err = await authenticator(admin)
      .authenticate(input("not-a-token"))
      .catch((e: unknown) => e);
    expect((err as MeshsignError).code).toBe("ERR_TOKEN_REJECTED");
  });

  it("fails as unavailable, naming only the status, when meshsign may not create TokenReviews", async () => {
    const own = await core.createNamespacedServiceAccountToken({
      name: "no-rbac",
      namespace: NS,
      body: { spec: { audiences: [], expirationSeconds: 3600 } },
    });
    const kc = new KubeConfig();
    kc.loadFromString(kubeconfig(api.server, api.caPem, own.status?.token ?? ""));
    const token = await requestToken(SA, ["istio-ca"], true);
    const err = await authenticator(kc)
      .authenticate(input(token))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MeshsignError);
    expect((err as MeshsignError).code).toBe("ERR_AUTHN_BACKEND_UNAVAILABLE");
    expect((err as MeshsignError).retry).toBe("transient");
    expect((err as MeshsignError).detail).toEqual({ status: 403 });
    expect(JSON.stringify((err as MeshsignError).detail)).not.toContain(token);
  });
});
