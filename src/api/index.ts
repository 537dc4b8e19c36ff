/**
 * meshsign's resource API: the cert-manager.io/v1 and acme.cert-manager.io/v1
 * shapes (zod schemas and their TypeScript types), validation with field
 * paths, cert-manager's defaults, annotation keys, Go durations, label selectors and the
 * ResourceType constants every Store call takes.
 */

export {
  ALL_RESOURCE_TYPES,
  CERTIFICATE_REQUESTS,
  CERTIFICATES,
  CHALLENGES,
  CLUSTER_ISSUERS,
  CONFIGMAPS,
  EVENTS,
  GATEWAYS,
  HTTP_ROUTES,
  INGRESSES,
  ISSUERS,
  ISTIO_GATEWAYS,
  LEASES,
  LISTENER_SETS,
  NAMESPACES,
  ORDERS,
  PODS,
  SECRETS,
  SERVICE_ACCOUNTS,
  SERVICES,
  apiVersionOf,
  resourceTypeFor,
} from "./types.js";
export type {
  AcmeIssuerSpec,
  AcmeSolver,
  CaIssuerSpec,
  Certificate,
  CertificateRequest,
  CertificateRequestSpec,
  CertificateRequestStatus,
  CertificateSpec,
  CertificateStatus,
  Challenge,
  ClusterIssuer,
  Condition,
  ConfigMap,
  Event,
  Gateway,
  Ingress,
  Issuer,
  IssuerSpec,
  IssuerStatus,
  IstioGateway,
  KeyUsage,
  Lease,
  ListenerSet,
  Namespace,
  Order,
  Pod,
  Secret,
  VaultIssuerSpec,
} from "./types.js";
export { assertValidResource, formatFieldErrors, validateResource } from "./validate.js";
export type { FieldError, ValidationResult } from "./validate.js";
export {
  applyCertificateDefaults,
  DEFAULT_DURATION,
  DEFAULT_ECDSA_KEY_SIZE,
  DEFAULT_ISSUER_GROUP,
  DEFAULT_ISSUER_KIND,
  DEFAULT_PRIVATE_KEY_ALGORITHM,
  DEFAULT_PRIVATE_KEY_ENCODING,
  DEFAULT_REVISION_HISTORY_LIMIT,
  DEFAULT_ROTATION_POLICY,
  DEFAULT_RSA_KEY_SIZE,
  DEFAULT_USAGES,
} from "./defaults.js";
export type { DefaultedCertificate, DefaultedCertificateSpec } from "./defaults.js";
export { formatGoDuration, parseGoDuration, tryParseGoDuration } from "./duration.js";
export {
  EVERYTHING,
  formatLabelSelector,
  labelSelectorFromSet,
  matchesLabelSelector,
  parseLabelSelector,
  tryParseLabelSelector,
} from "./label-selector.js";
export type { LabelRequirement, LabelSelector, LabelSelectorOperator } from "./label-selector.js";
export { normalizeObject } from "./normalize.js";
export { describeDocument, MANIFEST_KINDS, parseManifests } from "./manifests.js";
export type { ManifestDocument, ManifestIdentity, ParseManifestOptions } from "./manifests.js";
export {
  DEFAULT_CERTIFICATE_DURATION_MS,
  KEY_USAGES,
  MINIMUM_CERTIFICATE_DURATION_MS,
  MINIMUM_RENEW_BEFORE_MS,
  certificateSchema,
  certificateSpecSchema,
} from "./schemas/certificate.js";
export { MAX_CERTIFICATE_NAMES_BYTES, certificateNamesBytes, certificateSizeProblem } from "./limits.js";
export type { CertificateNamesInput, CertificateSizeProblem } from "./limits.js";
export { certificateRequestSchema } from "./schemas/certificate-request.js";
export { ISSUER_TYPES, clusterIssuerSchema, issuerSchema, issuerSpecSchema, issuerTypeOf } from "./schemas/issuer.js";
export type { IssuerType } from "./schemas/issuer.js";
export { acmeDns01ProviderNames, acmeSolverSchema, challengeSchema, orderSchema } from "./schemas/acme.js";
export { configMapSchema, eventSchema, leaseSchema, namespaceSchema, podSchema, secretSchema } from "./schemas/core.js";
// Annotation and label keys (about sixty constants) are imported from "./annotations.js" directly.
