import type { z } from "zod";
import type { ResourceType } from "../../store/types.js";
import { challengeSchema, orderSchema } from "../schemas/acme.js";
import { certificateSchema } from "../schemas/certificate.js";
import { certificateRequestSchema } from "../schemas/certificate-request.js";
import { configMapSchema, eventSchema, leaseSchema, namespaceSchema, podSchema, secretSchema } from "../schemas/core.js";
import { clusterIssuerSchema, issuerSchema } from "../schemas/issuer.js";
import { gatewaySchema, ingressSchema, istioGatewaySchema, listenerSetSchema } from "../schemas/networking.js";
import { CERTIFICATE_REQUESTS, CERTIFICATES, CHALLENGES, CLUSTER_ISSUERS, CONFIGMAPS, EVENTS, GATEWAYS, INGRESSES, ISSUERS, ISTIO_GATEWAYS, LEASES, LISTENER_SETS, NAMESPACES, ORDERS, PODS, SECRETS } from "../types.js";

/**
 * The kinds meshsign validates, with their schemas. The shims' sources (Ingress, Gateway, ListenerSet,
 * Istio Gateway) are checked only in the fields the shims read. Other known types (Service...) are not validated.
 */
export const SCHEMAS: ReadonlyMap<ResourceType, z.ZodType> = new Map<ResourceType, z.ZodType>([
  [CERTIFICATES, certificateSchema],
  [CERTIFICATE_REQUESTS, certificateRequestSchema],
  [ISSUERS, issuerSchema],
  [CLUSTER_ISSUERS, clusterIssuerSchema],
  [ORDERS, orderSchema],
  [CHALLENGES, challengeSchema],
  [SECRETS, secretSchema],
  [CONFIGMAPS, configMapSchema],
  [EVENTS, eventSchema],
  [NAMESPACES, namespaceSchema],
  [LEASES, leaseSchema],
  [PODS, podSchema],
  [INGRESSES, ingressSchema],
  [GATEWAYS, gatewaySchema],
  [LISTENER_SETS, listenerSetSchema],
  [ISTIO_GATEWAYS, istioGatewaySchema],
]);
