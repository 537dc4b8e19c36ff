import type { Gateway, Ingress, IstioGateway, ListenerSet } from "../../api/types.js";

/** An object a shim reads: an Ingress, a Gateway API Gateway or ListenerSet, or an Istio Gateway. */
export type ShimSource = Ingress | Gateway | ListenerSet | IstioGateway;

/** The shims' settings (`meshsign serve` flags of the same names). */
export interface ShimOptions {
  /** Issuer for sources that name none (`--default-issuer-name`); empty: such sources are refused. */
  readonly defaultIssuerName: string;
  /** `--default-issuer-kind`, default "Issuer". */
  readonly defaultIssuerKind: string;
  /** `--default-issuer-group`, default "cert-manager.io". */
  readonly defaultIssuerGroup: string;
  /**
   * Annotations that, set to a true value on an Ingress, ask for Certificates from the default issuer
   * (`--auto-certificate-annotations`, default `kubernetes.io/tls-acme`). Ingresses only, as in cert-manager.
   */
  readonly autoCertificateAnnotations: readonly string[];
  /**
   * Namespace of the Secrets (and Certificates) made for Istio Gateways: where the gateway deployment
   * runs, so its `credentialName` resolves (`--istio-gateway-secret-namespace`). Empty: the Gateway's own.
   */
  readonly istioGatewaySecretNamespace: string;
}

export const DEFAULT_SHIM_OPTIONS: ShimOptions = Object.freeze({
  defaultIssuerName: "",
  defaultIssuerKind: "Issuer",
  defaultIssuerGroup: "cert-manager.io",
  autoCertificateAnnotations: Object.freeze(["kubernetes.io/tls-acme"]),
  istioGatewaySecretNamespace: "",
});

/** Which of the three a source is. */
export type ShimSourceKind = "Ingress" | "Gateway" | "ListenerSet" | "IstioGateway";

export function shimSourceKind(source: { apiVersion: string; kind: string }): ShimSourceKind | undefined {
  if (source.kind === "Ingress" && source.apiVersion === "networking.k8s.io/v1") return "Ingress";
  if (source.kind === "Gateway" && source.apiVersion === "gateway.networking.k8s.io/v1") return "Gateway";
  if (source.kind === "ListenerSet" && source.apiVersion === "gateway.networking.k8s.io/v1")
    return "ListenerSet";
  if (source.kind === "Gateway" && source.apiVersion === "networking.istio.io/v1") return "IstioGateway";
  return undefined;
}

/** What a source is called in Events and logs ("Ingress", "Gateway", "Istio Gateway"). */
export function describeKind(kind: ShimSourceKind): string {
  return kind === "IstioGateway" ? "Istio Gateway" : kind;
}
