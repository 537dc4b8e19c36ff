/**
 * The TokenReview client `meshsign serve` uses: {@link KubeTokenReviewer} over the Kubernetes
 * store's HTTP/2 JSON client, every review a stream on one TLS connection. client-node 1.x
 * builds a new HTTPS agent, and so a new TLS connection, for every call; with a fresh
 * service-account token per request (starting pods) that handshake cost ~10x the CPU of the
 * review itself, and HTTP/1.1 keep-alive still about twice what HTTP/2 costs per review.
 */
import type { KubeConfig, V1TokenReview } from "@kubernetes/client-node";
import { DEFAULT_TOKEN_REVIEW_TIMEOUT_MS, KubeTokenReviewer } from "../authn/index.js";
import { Http2RestClient } from "../store/kube/index.js";

export function keepAliveTokenReviewer(
  kc: KubeConfig,
  timeoutMs = DEFAULT_TOKEN_REVIEW_TIMEOUT_MS,
): KubeTokenReviewer {
  const rest = new Http2RestClient(kc, timeoutMs);
  return new KubeTokenReviewer(
    {
      createTokenReview: ({ body }) =>
        rest.request<V1TokenReview>({
          method: "POST",
          path: "/apis/authentication.k8s.io/v1/tokenreviews",
          body,
        }),
    },
    timeoutMs,
  );
}
