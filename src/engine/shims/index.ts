/**
 * Certificates from annotated Ingresses, Gateway API Gateways and Istio
 * Gateways (cert-manager's ingress-shim and gateway-shim, and the same for
 * Istio). For the server: {@link ShimController} and its options. For tests
 * and other libraries: the pure translation ({@link planCertificates},
 * {@link translateAnnotations}) and the ownership test.
 */

export type { AnnotatedSpec, BadAnnotation, TranslateResult } from "./annotations.js";
export { translateAnnotations } from "./annotations.js";
export type { ShimControllerOptions } from "./controller.js";
export { SHIM_REASON, SHIM_SOURCE_TYPES, ShimController } from "./controller.js";
export type { ShimPlan } from "./desired.js";
export { isOwnedBy, planCertificates } from "./desired.js";
export type { ShimOptions, ShimSource, ShimSourceKind } from "./types.js";
export { DEFAULT_SHIM_OPTIONS, describeKind, shimSourceKind } from "./types.js";
