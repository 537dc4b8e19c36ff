import { z } from "zod";
import { isGoDuration } from "../lib/rules.js";
import { keyUsageSchema } from "./certificate.js";
import { bytesSchema, conditionSchema, issuerReferenceSchema, objectMetaSchema } from "./meta.js";

/** cert-manager.io/v1 CertificateRequest. `request`, `certificate` and `ca` are base64 of PEM ([]byte in Go). */

export const certificateRequestSpecSchema = z.object({
  duration: z.string().refine(isGoDuration, { message: 'must be a Go duration such as "2160h"' }).optional(),
  issuerRef: issuerReferenceSchema,
  request: bytesSchema.min(1, "request is required"),
  isCA: z.boolean().optional(),
  usages: z.array(keyUsageSchema).optional(),
  username: z.string().optional(),
  uid: z.string().optional(),
  groups: z.array(z.string()).optional(),
  extra: z.record(z.string(), z.array(z.string())).optional(),
});

export const certificateRequestStatusSchema = z.object({
  conditions: z.array(conditionSchema).optional(),
  certificate: bytesSchema.optional(),
  ca: bytesSchema.optional(),
  failureTime: z.string().optional(),
});

export const certificateRequestSchema = z.object({
  apiVersion: z.literal("cert-manager.io/v1"),
  kind: z.literal("CertificateRequest"),
  metadata: objectMetaSchema,
  spec: certificateRequestSpecSchema,
  status: certificateRequestStatusSchema
    .superRefine((status, ctx) => {
      // Approved and Denied are terminal, True-only and mutually exclusive.
      const conds = status.conditions ?? [];
      const approved = conds.findIndex((c) => c.type === "Approved");
      const denied = conds.findIndex((c) => c.type === "Denied");
      if (approved >= 0 && denied >= 0) ctx.addIssue({ code: "custom", path: ["conditions"], message: "Approved and Denied conditions may not both be set" });
      for (const i of [approved, denied]) {
        if (i >= 0 && conds[i]?.status !== "True") ctx.addIssue({ code: "custom", path: ["conditions", i, "status"], message: `${conds[i]?.type} condition may only be set to True` });
      }
    })
    .optional(),
});
