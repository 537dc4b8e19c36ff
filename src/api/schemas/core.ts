import { z } from "zod";
import { isSecretKey } from "../lib/rules.js";
import { bytesSchema, freeFormSchema, objectMetaSchema } from "./meta.js";

/** The core (and coordination) kinds the engine reads and writes. */

const dataKey = z.string().refine(isSecretKey, { message: "keys must consist of alphanumerics, '-', '_' or '.'" });

export const secretSchema = z.object({
  apiVersion: z.literal("v1"),
  kind: z.literal("Secret"),
  metadata: objectMetaSchema,
  type: z.string().optional(),
  immutable: z.boolean().optional(),
  /** Values base64-encoded. */
  data: z.record(dataKey, bytesSchema).optional(),
  /** Write-only plain-text values; the store merges them into `data` (they win) and drops the field. */
  stringData: z.record(dataKey, z.string()).optional(),
});

export const configMapSchema = z.object({
  apiVersion: z.literal("v1"),
  kind: z.literal("ConfigMap"),
  metadata: objectMetaSchema,
  immutable: z.boolean().optional(),
  data: z.record(dataKey, z.string()).optional(),
  binaryData: z.record(dataKey, bytesSchema).optional(),
});

export const namespaceSchema = z.object({
  apiVersion: z.literal("v1"),
  kind: z.literal("Namespace"),
  metadata: objectMetaSchema,
  spec: z.object({ finalizers: z.array(z.string()).optional() }).optional(),
  status: z.object({ phase: z.enum(["Active", "Terminating"]).optional() }).optional(),
});

const objectReferenceSchema = z.object({
  apiVersion: z.string().optional(),
  kind: z.string().optional(),
  name: z.string().optional(),
  namespace: z.string().optional(),
  uid: z.string().optional(),
  resourceVersion: z.string().optional(),
  fieldPath: z.string().optional(),
});

/** core/v1 Event (what `kubectl describe` and cmctl show). */
export const eventSchema = z.object({
  apiVersion: z.literal("v1"),
  kind: z.literal("Event"),
  metadata: objectMetaSchema,
  involvedObject: objectReferenceSchema,
  reason: z.string().optional(),
  message: z.string().optional(),
  type: z.enum(["Normal", "Warning"]).optional(),
  count: z.number().int().optional(),
  firstTimestamp: z.string().optional(),
  lastTimestamp: z.string().optional(),
  eventTime: z.string().optional(),
  source: z.object({ component: z.string().optional(), host: z.string().optional() }).optional(),
  reportingComponent: z.string().optional(),
  reportingInstance: z.string().optional(),
  action: z.string().optional(),
});

/** coordination.k8s.io/v1 Lease (leader election). */
export const leaseSchema = z.object({
  apiVersion: z.literal("coordination.k8s.io/v1"),
  kind: z.literal("Lease"),
  metadata: objectMetaSchema,
  spec: z
    .object({
      holderIdentity: z.string().optional(),
      leaseDurationSeconds: z.number().int().optional(),
      acquireTime: z.string().optional(),
      renewTime: z.string().optional(),
      leaseTransitions: z.number().int().optional(),
    })
    .optional(),
});

/** core/v1 Pod, opaque beyond metadata (meshsign only creates ACME HTTP-01 solver pods in Kubernetes mode). */
export const podSchema = z.object({
  apiVersion: z.literal("v1"),
  kind: z.literal("Pod"),
  metadata: objectMetaSchema,
  spec: freeFormSchema.optional(),
  status: freeFormSchema.optional(),
});
