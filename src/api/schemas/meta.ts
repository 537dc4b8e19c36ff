import { z } from "zod";
import { isBase64, isDns1123Subdomain, isLabelValue, isQualifiedName } from "../lib/rules.js";

/** Pieces shared by every kind: object metadata, references, conditions. */

const stringMap = z.record(z.string(), z.string());

export const labelsSchema = stringMap.superRefine((labels, ctx) => {
  for (const [k, v] of Object.entries(labels)) {
    if (!isQualifiedName(k)) ctx.addIssue({ code: "custom", path: [k], message: `invalid label key ${JSON.stringify(k)}` });
    else if (!isLabelValue(v)) ctx.addIssue({ code: "custom", path: [k], message: `invalid label value ${JSON.stringify(v)}: at most 63 characters, alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric` });
  }
});

export const annotationsSchema = stringMap.superRefine((annotations, ctx) => {
  for (const k of Object.keys(annotations)) {
    if (!isQualifiedName(k)) ctx.addIssue({ code: "custom", path: [k], message: `invalid annotation key ${JSON.stringify(k)}` });
  }
});

export const ownerReferenceSchema = z.object({
  apiVersion: z.string().min(1),
  kind: z.string().min(1),
  name: z.string().min(1),
  uid: z.string().min(1),
  controller: z.boolean().optional(),
  blockOwnerDeletion: z.boolean().optional(),
});

const dnsSubdomain = z.string().refine(isDns1123Subdomain, { message: "must be a lowercase RFC 1123 subdomain (a-z, 0-9, '-', '.'), at most 253 characters" });

/** ObjectMeta; the server-set fields are accepted as they are so stored objects re-validate. */
export const objectMetaSchema = z.object({
  name: dnsSubdomain.optional(),
  generateName: z.string().optional(),
  namespace: dnsSubdomain.optional(),
  uid: z.string().optional(),
  resourceVersion: z.string().optional(),
  generation: z.number().int().optional(),
  creationTimestamp: z.string().optional(),
  deletionTimestamp: z.string().optional(),
  labels: labelsSchema.optional(),
  annotations: annotationsSchema.optional(),
  finalizers: z.array(z.string()).optional(),
  ownerReferences: z.array(ownerReferenceSchema).optional(),
});

/** A reference to an object in the same namespace. */
export const localObjectReferenceSchema = z.object({ name: z.string().min(1) });

/** A key of a Secret in the same namespace (cert-manager's SecretKeySelector). */
export const secretKeySelectorSchema = z.object({
  name: z.string().min(1),
  /** Key in the Secret's data; each field documents its own default. */
  key: z.string().optional(),
});

/** Reference to an Issuer or ClusterIssuer (or an external issuer by group). */
export const issuerReferenceSchema = z.object({
  name: z.string().min(1, "issuerRef.name is required"),
  kind: z.string().optional(),
  group: z.string().optional(),
});

export const conditionStatusSchema = z.enum(["True", "False", "Unknown"]);

export const conditionSchema = z.object({
  type: z.string().min(1),
  status: conditionStatusSchema,
  reason: z.string().optional(),
  message: z.string().optional(),
  lastTransitionTime: z.string().optional(),
  observedGeneration: z.number().int().optional(),
});

/** A Go []byte field: base64 in JSON/YAML. */
export const bytesSchema = z.string().refine(isBase64, { message: "must be base64-encoded" });

/** Free-form JSON (CRD `x-kubernetes-preserve-unknown-fields`). */
export const freeFormSchema = z.record(z.string(), z.unknown());
