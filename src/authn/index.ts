/**
 * Authentication: who is calling. The CSR service adapts gRPC metadata and the
 * TLS peer into an {@link AuthnInput}; {@link authenticateChain} runs the
 * configured authenticators and yields a {@link Caller}.
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
