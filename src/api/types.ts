import type { z } from "zod";
import type { ResourceType } from "../store/types.js";
import type { challengeSchema, orderSchema } from "./schemas/acme.js";
import type { certificateSchema, KEY_USAGES } from "./schemas/certificate.js";
import type { certificateRequestSchema } from "./schemas/certificate-request.js";
import type { gatewaySchema, ingressSchema, istioGatewaySchema, listenerSetSchema } from "./schemas/networking.js";
import type { configMapSchema, eventSchema, leaseSchema, namespaceSchema, podSchema, secretSchema } from "./schemas/core.js";
import type { clusterIssuerSchema, issuerSchema } from "./schemas/issuer.js";
import type { conditionSchema } from "./schemas/meta.js";

/**
 * Resource type constants for every kind meshsign stores or touches, and the
 * TypeScript types of the objects (inferred from the zod schemas, so the type
 * and the validation cannot drift apart).
 */

function rt(group: string, version: string, kind: string, plural: string, namespaced: boolean): ResourceType {
  return Object.freeze({ group, version, kind, plural, namespaced });
}

// cert-manager.io/v1
export const CERTIFICATES = rt("cert-manager.io", "v1", "Certificate", "certificates", true);
export const CERTIFICATE_REQUESTS = rt("cert-manager.io", "v1", "CertificateRequest", "certificaterequests", true);
export const ISSUERS = rt("cert-manager.io", "v1", "Issuer", "issuers", true);
export const CLUSTER_ISSUERS = rt("cert-manager.io", "v1", "ClusterIssuer", "clusterissuers", false);
// acme.cert-manager.io/v1
export const ORDERS = rt("acme.cert-manager.io", "v1", "Order", "orders", true);
export const CHALLENGES = rt("acme.cert-manager.io", "v1", "Challenge", "challenges", true);
// core/v1
export const SECRETS = rt("", "v1", "Secret", "secrets", true);
export const CONFIGMAPS = rt("", "v1", "ConfigMap", "configmaps", true);
export const EVENTS = rt("", "v1", "Event", "events", true);
export const NAMESPACES = rt("", "v1", "Namespace", "namespaces", false);
export const PODS = rt("", "v1", "Pod", "pods", true);
export const SERVICES = rt("", "v1", "Service", "services", true);
export const SERVICE_ACCOUNTS = rt("", "v1", "ServiceAccount", "serviceaccounts", true);
// coordination.k8s.io/v1
export const LEASES = rt("coordination.k8s.io", "v1", "Lease", "leases", true);
// Kinds meshsign does not own but may read or create in Kubernetes mode (ingress-shim, HTTP-01 solver).
export const INGRESSES = rt("networking.k8s.io", "v1", "Ingress", "ingresses", true);
export const GATEWAYS = rt("gateway.networking.k8s.io", "v1", "Gateway", "gateways", true);
export const HTTP_ROUTES = rt("gateway.networking.k8s.io", "v1", "HTTPRoute", "httproutes", true);
export const LISTENER_SETS = rt("gateway.networking.k8s.io", "v1", "ListenerSet", "listenersets", true);
export const ISTIO_GATEWAYS = rt("networking.istio.io", "v1", "Gateway", "gateways", true);

/** Every type above, for lookups by apiVersion + kind. */
export const ALL_RESOURCE_TYPES: readonly ResourceType[] = [
  CERTIFICATES,
  CERTIFICATE_REQUESTS,
  ISSUERS,
  CLUSTER_ISSUERS,
  ORDERS,
  CHALLENGES,
  SECRETS,
  CONFIGMAPS,
  EVENTS,
  NAMESPACES,
  PODS,
  SERVICES,
  SERVICE_ACCOUNTS,
  LEASES,
  INGRESSES,
  GATEWAYS,
  HTTP_ROUTES,
  LISTENER_SETS,
  ISTIO_GATEWAYS,
];

/** "group/version" or "version" for the core group, as in an object's `apiVersion`. */
export function apiVersionOf(type: ResourceType): string {
  return type.group === "" ? type.version : `${type.group}/${type.version}`;
}

/** The ResourceType for an object's apiVersion + kind, or undefined for kinds meshsign does not know. */
export function resourceTypeFor(apiVersion: string, kind: string): ResourceType | undefined {
  return ALL_RESOURCE_TYPES.find((t) => t.kind === kind && apiVersionOf(t) === apiVersion);
}

export type Certificate = z.infer<typeof certificateSchema>;
export type CertificateSpec = Certificate["spec"];
export type CertificateStatus = NonNullable<Certificate["status"]>;
export type CertificateRequest = z.infer<typeof certificateRequestSchema>;
export type CertificateRequestSpec = CertificateRequest["spec"];
export type CertificateRequestStatus = NonNullable<CertificateRequest["status"]>;
export type Issuer = z.infer<typeof issuerSchema>;
export type ClusterIssuer = z.infer<typeof clusterIssuerSchema>;
export type IssuerSpec = Issuer["spec"];
export type IssuerStatus = NonNullable<Issuer["status"]>;
export type AcmeIssuerSpec = NonNullable<IssuerSpec["acme"]>;
export type AcmeSolver = NonNullable<AcmeIssuerSpec["solvers"]>[number];
export type VaultIssuerSpec = NonNullable<IssuerSpec["vault"]>;
export type CaIssuerSpec = NonNullable<IssuerSpec["ca"]>;
export type Order = z.infer<typeof orderSchema>;
export type Challenge = z.infer<typeof challengeSchema>;
export type Secret = z.infer<typeof secretSchema>;
export type ConfigMap = z.infer<typeof configMapSchema>;
export type Namespace = z.infer<typeof namespaceSchema>;
export type Event = z.infer<typeof eventSchema>;
export type Lease = z.infer<typeof leaseSchema>;
export type Pod = z.infer<typeof podSchema>;
export type Condition = z.infer<typeof conditionSchema>;
export type Ingress = z.infer<typeof ingressSchema>;
export type Gateway = z.infer<typeof gatewaySchema>;
export type ListenerSet = z.infer<typeof listenerSetSchema>;
export type IstioGateway = z.infer<typeof istioGatewaySchema>;
export type KeyUsage = (typeof KEY_USAGES)[number];
