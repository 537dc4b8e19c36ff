/**
 * Tokens as the kubelet gets them for a pod's projected volume: TokenRequest on the test
 * kube-apiserver (test/kube/harness.ts), audience istio-ca, bound to a Pod object of the
 * ServiceAccount, so the API server's TokenReview checks the pod as it does in a cluster.
 */
import type { CoreV1Api } from "@kubernetes/client-node";
import type { TokenMinter } from "./cluster-tokens.js";

/** The Pod each ServiceAccount's tokens are bound to (an object only: no kubelet runs). */
export function boundPodName(serviceAccount: string): string {
  return `${serviceAccount}-0`;
}

export class KubeTokenMinter implements TokenMinter {
  readonly #core: CoreV1Api;
  readonly #pods = new Map<string, Promise<string>>();

  constructor(core: CoreV1Api) {
    this.#core = core;
  }

  /** Creates the ServiceAccount and its Pod on first use; later calls reuse them. */
  #podUid(namespace: string, serviceAccount: string): Promise<string> {
    const key = `${namespace}/${serviceAccount}`;
    let uid = this.#pods.get(key);
    if (uid === undefined) {
      uid = (async () => {
        await this.#core.createNamespacedServiceAccount({
          namespace,
          body: { metadata: { name: serviceAccount } },
        });
        const pod = await this.#core.createNamespacedPod({
          namespace,
          body: {
            metadata: { name: boundPodName(serviceAccount) },
            spec: {
              serviceAccountName: serviceAccount,
              containers: [{ name: "app", image: "example.invalid/app" }],
            },
          },
        });
        return pod.metadata?.uid ?? "";
      })();
      this.#pods.set(key, uid);
    }
    return uid;
  }

  async mintToken(request: {
    namespace: string;
    serviceAccount: string;
    ttlSeconds?: number;
  }): Promise<string> {
    const { namespace, serviceAccount } = request;
    const uid = await this.#podUid(namespace, serviceAccount);
    const tr = await this.#core.createNamespacedServiceAccountToken({
      name: serviceAccount,
      namespace,
      body: {
        spec: {
          audiences: ["istio-ca"],
          // The API server's minimum is 10 minutes.
          expirationSeconds: Math.max(600, request.ttlSeconds ?? 3600),
          boundObjectRef: { apiVersion: "v1", kind: "Pod", name: boundPodName(serviceAccount), uid },
        },
      },
    });
    const token = tr.status?.token;
    if (!token) throw new Error(`TokenRequest for ${namespace}/${serviceAccount} returned no token`);
    return token;
  }
}
