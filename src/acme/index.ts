/**
 * meshsign's ACME client (RFC 8555, RFC 8738 IP identifiers, RFC 9773 ARI,
 * draft-ietf-acme-profiles) and the HTTP-01 solver listener. For the ACME
 * issuer and the Order/Challenge reconcilers. Nothing here knows the engine;
 * only the HTTP-01 routes (solvers/http01-kube) and the Order views use the
 * Store interface.
 */
export {
  type AcmeAccount,
  findAccount,
  type RegisterOptions,
  registerAccount,
  updateAccountEmail,
} from "./account.js";
export { ariCertId, getRenewalInfo, type RenewalInfo } from "./ari.js";
export {
  type AcmeAuthorization,
  type AcmeChallenge,
  type AuthorizationStatus,
  acceptChallenge,
  type ChallengeStatus,
  getAuthorization,
  waitAuthorization,
} from "./authorization.js";
export {
  AcmeClient,
  type AcmeClientOptions,
  type AcmeClientStats,
  type AcmeResponse,
  DEFAULT_MAX_INLINE_WAIT_MS,
  MAX_BAD_NONCE_RETRIES,
} from "./client.js";
export { type AcmeDirectory, fetchDirectory } from "./directory.js";
export { type DownloadedChain, downloadCertificate, finalizeOrder } from "./finalize.js";
export { type AccountKeyAlgorithm, accountKeyAlgorithm, keyAuthorization } from "./jws.js";
export { AcmeClientMetrics, acmeMetricPath } from "./metrics.js";
export {
  type AcmeOrder,
  getOrder,
  type NewOrderOptions,
  newOrder,
  type OrderStatus,
  orderIdentifiers,
  waitOrder,
} from "./order.js";
export {
  type ChallengeView,
  describeSolver,
  inspectOrder,
  type LeftoverDns01RecordView,
  listLeftoverDns01Records,
  type OrderSummaryView,
  type OrderView,
  orderOfRequest,
} from "./order-view.js";
export {
  ACME_ERROR_PREFIX,
  type AcmeIdentifier,
  type AcmeProblem,
  type AcmeSubproblem,
  describeProblem,
  problemOf,
  shortType,
} from "./problems.js";
export {
  CHALLENGE_PATH_PREFIX,
  type ChallengeLookup,
  createHttp01Solver,
  type Http01Solver,
  type Http01SolverOptions,
  type SelfCheckOptions,
  selfCheck,
} from "./solvers/http01.js";
export {
  DEFAULT_CLUSTER_DOMAIN,
  DEFAULT_HTTP01_SOLVER_PORT,
  ensureHttp01Route,
  type Http01Route,
  type Http01RouteParams,
  removeHttp01Route,
} from "./solvers/http01-kube.js";
export {
  type AcmeChallengeType,
  type SelectSolverInput,
  type SelectSolverResult,
  selectSolver,
} from "./solvers/select.js";
export {
  type AcmeRequestObservation,
  createTransport,
  type Transport,
  type TransportOptions,
} from "./transport.js";
export { type IssuedCertificate, type VerifyIssuedOptions, verifyIssued } from "./verify-issued.js";
