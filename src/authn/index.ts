/**
 * Authentication: who is calling. The CSR service adapts gRPC metadata and the
 * TLS peer into an {@link AuthnInput}; {@link authenticateChain} runs the
 * configured authenticators in order and yields a {@link Caller}, or throws
 * ERR_UNAUTHENTICATED (terminal: gRPC UNAUTHENTICATED) or
 * ERR_AUTHN_BACKEND_UNAVAILABLE (transient: gRPC UNAVAILABLE), with the
 * per-authenticator reasons in `detail.failures`.
 *
 * Wiring, by mode:
 * - standalone default: `DevTokenIssuer.loadOrCreate(dataDir, { enabled })`,
 *   then `JwksAuthenticator.create({ source: { kind: "static", jwks: dev.jwks }, issuer: DEV_TOKEN_ISSUER, ... })`.
 * - standalone in earnest: `JwksAuthenticator` over a JWKS file, a JWKS URL or
 *   an OIDC issuer (`kind: "oidc"`), with the issuer's `iss`.
 * - Kubernetes (istio-csr's behaviour): `TokenReviewAuthenticator` with
 *   `await KubeTokenReviewer.fromKubeConfig()`; or, without an API call per new
 *   token, `JwksAuthenticator` on `{ kind: "url", url: "https://kubernetes.default.svc/openid/v1/jwks",
 *   caFile: ".../serviceaccount/ca.crt", bearerTokenFile: ".../serviceaccount/token" }`
 *   (JWKS cannot see that a bound pod was deleted; TokenReview can).
 * - `--enable-client-cert-authenticator`: put a `ClientCertAuthenticator` first.
 *
 * Everything exported here is for the server, the CLI and tests; `lib/` is private.
 */

export { extractBearerToken, MAX_BEARER_TOKEN_LENGTH } from "./bearer.js";
export type { AuthenticationFailure } from "./chain.js";
export { authenticateChain } from "./chain.js";
export type { ClientCertAuthenticatorOptions } from "./client-cert-authenticator.js";
export { ClientCertAuthenticator } from "./client-cert-authenticator.js";
export { checkClusterId, claimedClusterId, DEFAULT_CLUSTER_ID } from "./cluster-id.js";
export type { DevTokenIssuerOptions, MintTokenRequest } from "./dev-issuer.js";
export {
  assertDevIssuerEnabled,
  DEV_JWKS_FILE,
  DEV_TOKEN_ISSUER,
  DEV_TOKEN_KEY_FILE,
  DEV_TOKEN_MAX_TTL_SECONDS,
  DevTokenIssuer,
} from "./dev-issuer.js";
export type { JwksAuthenticatorOptions, JwksSource } from "./jwks-authenticator.js";
export {
  DEFAULT_CLOCK_SKEW_SECONDS,
  DEFAULT_JWKS_MAX_AGE_SECONDS,
  DEFAULT_JWKS_REFETCH_INTERVAL_SECONDS,
  DEFAULT_JWT_ALGORITHMS,
  DEFAULT_TOKEN_AUDIENCES,
  JwksAuthenticator,
  PERMITTED_JWT_ALGORITHMS,
} from "./jwks-authenticator.js";
export { DEFAULT_TOKEN_REVIEW_TIMEOUT_MS, KubeTokenReviewer } from "./kube-token-reviewer.js";
export type {
  TokenReviewAuthenticatorOptions,
  TokenReviewer,
  TokenReviewStatus,
} from "./token-review-authenticator.js";
export {
  DEFAULT_TOKEN_REVIEW_CACHE_SIZE,
  DEFAULT_TOKEN_REVIEW_CACHE_TTL_SECONDS,
  TokenReviewAuthenticator,
} from "./token-review-authenticator.js";
export type { Authenticator, AuthnInput, Caller, Clock, KubernetesInfo } from "./types.js";
export { systemClock } from "./types.js";
