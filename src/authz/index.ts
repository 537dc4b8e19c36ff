/**
 * What a caller may get: CSR authorization as a chain of named checks,
 * impersonation rules, and the X.509-SVID template built from the identity.
 */

export { authorizeCsr } from "./authorize-csr.js";
export { type Check, evaluate, type Violation } from "./chain.js";
export { type CsrPolicy, DEFAULT_CSR_POLICY, DEFAULT_KEY_POLICY, type KeyPolicy } from "./config.js";
export {
  allowedExtensions,
  CSR_CHECKS,
  type CsrAuthzInput,
  extKeyUsageAllowed,
  keyAllowed,
  keyUsageAllowed,
  noBasicConstraints,
  noCommonName,
  oneUriSan,
  onlyUriSans,
  signatureValid,
  subjectAllowed,
  uriIsSpiffeId,
  uriMatchesIdentity,
} from "./csr-checks.js";
export { identitiesMatch } from "./identities-match.js";
export {
  authorizeImpersonation,
  type CallerInfo,
  IMPERSONATION_CHECKS,
  type ImpersonationInput,
  type PodInfo,
  type PodLookup,
  parseTrustedNodeAccounts,
  type TrustedNodeAccounts,
} from "./impersonation.js";
export { buildSvidTemplate } from "./svid-template.js";
