import type { AuthenticationV1Api, KubeConfig, V1TokenReview } from "@kubernetes/client-node";
import { MeshsignError } from "../errors/index.js";
import type { TokenReviewer, TokenReviewStatus } from "./token-review-authenticator.js";

/** A TokenReview that takes longer than this is treated as the API being unavailable. */
export const DEFAULT_TOKEN_REVIEW_TIMEOUT_MS = 5_000;

/**
 * {@link TokenReviewer} over `@kubernetes/client-node` 1.x:
 * `POST /apis/authentication.k8s.io/v1/tokenreviews`. Needs RBAC
 * `authentication.k8s.io/tokenreviews: create`.
 */
export class KubeTokenReviewer implements TokenReviewer {
  constructor(
    private readonly api: Pick<AuthenticationV1Api, "createTokenReview">,
    private readonly timeoutMs: number = DEFAULT_TOKEN_REVIEW_TIMEOUT_MS,
  ) {}

  /**
   * Builds the client from a KubeConfig (default: in-cluster or `$KUBECONFIG`,
   * via `loadFromDefault`). The client library is loaded only here, so
   * processes that never review tokens do not pay for it.
   *
   * client-node 1.x opens a new TLS connection for every call; `meshsign serve`
   * passes its own keep-alive client to the constructor instead (a fresh token per
   * request otherwise costs a TLS handshake each, and ~10x the CPU per review).
   */
  static async fromKubeConfig(kubeConfig?: KubeConfig, timeoutMs?: number): Promise<KubeTokenReviewer> {
    const k8s = await import("@kubernetes/client-node");
    let config = kubeConfig;
    if (config === undefined) {
      config = new k8s.KubeConfig();
      config.loadFromDefault();
    }
    return new KubeTokenReviewer(config.makeApiClient(k8s.AuthenticationV1Api), timeoutMs);
  }

  async review(token: string, audiences: readonly string[]): Promise<TokenReviewStatus> {
    const body: V1TokenReview = {
      apiVersion: "authentication.k8s.io/v1",
      kind: "TokenReview",
      spec: { token, audiences: [...audiences] },
    };
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new MeshsignError(
              "ERR_AUTHN_BACKEND_UNAVAILABLE",
              "the Kubernetes TokenReview API did not answer in time",
              {
                retry: "transient",
                detail: { timeoutMs: this.timeoutMs },
              },
            ),
          ),
        this.timeoutMs,
      );
    });
    try {
      const review = await Promise.race([this.api.createTokenReview({ body }), timeout]);
      return (review.status ?? {}) as TokenReviewStatus;
    } catch (err) {
      if (err instanceof MeshsignError && err.code === "ERR_AUTHN_BACKEND_UNAVAILABLE") throw err;
      // client-node puts the HTTP status in `code`; meshsign's REST client in `detail.status`.
      const status =
        err instanceof MeshsignError
          ? (err.detail as { status?: unknown } | undefined)?.status
          : (err as { code?: unknown }).code;
      throw new MeshsignError(
        "ERR_AUTHN_BACKEND_UNAVAILABLE",
        "the Kubernetes TokenReview API is unavailable",
        {
          retry: "transient",
          // The request body holds the token, so only the response status goes to the log.
          detail: typeof status === "number" ? { status } : {},
          cause: err,
        },
      );
    } finally {
      clearTimeout(timer);
    }
  }
}
