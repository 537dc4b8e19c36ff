/**
 * Certificates from annotated Ingresses, Gateway API Gateways and Istio
 * Gateways (cert-manager's ingress-shim and gateway-shim, and the same for
 * Istio): the pure translation ({@link planCertificates},
 * {@link translateAnnotations}) and the ownership test.
 */
export { isOwnedBy, planCertificates } from "./desired.js";
export type { ShimPlan } from "./desired.js";
export { translateAnnotations } from "./annotations.js";
export type { AnnotatedSpec, BadAnnotation, TranslateResult } from "./annotations.js";
export { DEFAULT_SHIM_OPTIONS, describeKind, shimSourceKind } from "./types.js";
export type { ShimOptions, ShimSource, ShimSourceKind } from "./types.js";
