/**
 * Public surface of the issuers: the shared contract, the in-process
 * backends (CA, SelfSigned) and the registry that maps Issuer/ClusterIssuer
 * resources to instances. For end users: CaIssuer (also on the CSR hot path),
 * SelfSignedIssuer. For the engine and server wiring: the registry.
 */

export type { CaKeyPairSource } from "./ca/ca-issuer.js";
export { CA_READY_REASONS, CaIssuer } from "./ca/ca-issuer.js";
export { SharedIssuers } from "./instance-pool.js";
export type { Issuer, IssuerStatus, SignRequest, SignResult } from "./issuer.js";
export type {
  BuiltIssuer,
  IssuerBuildContext,
  IssuerFactory,
  IssuerRegistryOptions,
  IssuerResourceKind,
  IssuerResourceLike,
} from "./registry.js";
export {
  caIssuerFactory,
  createDefaultIssuerRegistry,
  DEFAULT_CLUSTER_RESOURCE_NAMESPACE,
  IssuerRegistry,
  issuerKey,
  NotReadyIssuer,
  selfSignedIssuerFactory,
} from "./registry.js";
export { SelfSignedIssuer } from "./selfsigned/selfsigned-issuer.js";
