import { z } from "zod";
import { objectMetaSchema } from "./meta.js";

/**
 * The kinds the certificate shims read (Ingress, Gateway API Gateway and
 * ListenerSet, Istio Gateway): only the fields a shim reads are typed; everything else in these
 * objects belongs to their controllers and is kept as it is, never judged
 * (loose objects accept any other key).
 */

const ingressTlsSchema = z.looseObject({
  hosts: z.array(z.string()).optional(),
  secretName: z.string().optional(),
});

/** networking.k8s.io/v1 Ingress. */
export const ingressSchema = z.looseObject({
  apiVersion: z.literal("networking.k8s.io/v1"),
  kind: z.literal("Ingress"),
  metadata: objectMetaSchema,
  spec: z.looseObject({ tls: z.array(ingressTlsSchema).optional() }).optional(),
});

const secretObjectReferenceSchema = z.looseObject({
  group: z.string().optional(),
  kind: z.string().optional(),
  name: z.string(),
  namespace: z.string().optional(),
});

const listenerSchema = z.looseObject({
  name: z.string(),
  hostname: z.string().optional(),
  port: z.number().int().optional(),
  protocol: z.string(),
  tls: z
    .looseObject({
      mode: z.string().optional(),
      certificateRefs: z.array(secretObjectReferenceSchema).optional(),
    })
    .optional(),
});

/** gateway.networking.k8s.io/v1 Gateway. */
export const gatewaySchema = z.looseObject({
  apiVersion: z.literal("gateway.networking.k8s.io/v1"),
  kind: z.literal("Gateway"),
  metadata: objectMetaSchema,
  spec: z.looseObject({ listeners: z.array(listenerSchema).optional() }),
});

/** gateway.networking.k8s.io/v1 ListenerSet: listeners added to a parent Gateway. */
export const listenerSetSchema = z.looseObject({
  apiVersion: z.literal("gateway.networking.k8s.io/v1"),
  kind: z.literal("ListenerSet"),
  metadata: objectMetaSchema,
  spec: z.looseObject({
    parentRef: z.looseObject({
      name: z.string(),
      namespace: z.string().optional(),
      kind: z.string().optional(),
      group: z.string().optional(),
    }),
    listeners: z.array(listenerSchema).optional(),
  }),
});

const istioServerSchema = z.looseObject({
  hosts: z.array(z.string()).optional(),
  tls: z.looseObject({ mode: z.string().optional(), credentialName: z.string().optional() }).optional(),
});

/** networking.istio.io/v1 Gateway. */
export const istioGatewaySchema = z.looseObject({
  apiVersion: z.literal("networking.istio.io/v1"),
  kind: z.literal("Gateway"),
  metadata: objectMetaSchema,
  spec: z.looseObject({ servers: z.array(istioServerSchema).optional() }).optional(),
});
