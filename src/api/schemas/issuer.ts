import { z } from "zod";
import { acmeIssuerSchema, acmeIssuerStatusSchema } from "./acme.js";
import { bytesSchema, conditionSchema, freeFormSchema, objectMetaSchema, secretKeySelectorSchema } from "./meta.js";

/**
 * cert-manager.io/v1 Issuer and ClusterIssuer (same spec). Exactly one issuer
 * type must be set. `venafi` is accepted so existing manifests load, but meshsign
 * reports it unsupported at run time (see {@link issuerTypeOf}).
 */

export const ISSUER_TYPES = ["acme", "ca", "vault", "selfSigned", "venafi"] as const;
export type IssuerType = (typeof ISSUER_TYPES)[number];

const ref = secretKeySelectorSchema;

export const caIssuerSchema = z.object({
  secretName: z.string().min(1, "secretName is required"),
  crlDistributionPoints: z.array(z.string()).optional(),
  ocspServers: z.array(z.string()).optional(),
  issuingCertificateURLs: z.array(z.string()).optional(),
});

export const selfSignedIssuerSchema = z.object({
  crlDistributionPoints: z.array(z.string()).optional(),
});

export const VAULT_AUTH_METHODS = ["tokenSecretRef", "appRole", "clientCertificate", "kubernetes", "aws"] as const;

export const vaultIssuerSchema = z
  .object({
    server: z.string().min(1, "server is required"),
    path: z
      .string()
      .min(1, "path is required")
      .refine((p) => !p.split("/").includes(".."), { message: 'must not contain ".."' }),
    namespace: z.string().optional(),
    serverName: z.string().optional(),
    caBundle: bytesSchema.optional(),
    caBundleSecretRef: ref.optional(),
    clientCertSecretRef: ref.optional(),
    clientKeySecretRef: ref.optional(),
    auth: z.object({
      tokenSecretRef: ref.optional(),
      appRole: z.object({ path: z.string().min(1), roleId: z.string().min(1), secretRef: z.object({ name: z.string().min(1), key: z.string().min(1, "key is required") }) }).optional(),
      clientCertificate: z.object({ mountPath: z.string().optional(), secretName: z.string().optional(), name: z.string().optional() }).optional(),
      kubernetes: z
        .object({
          mountPath: z.string().optional(),
          role: z.string().min(1, "role is required"),
          secretRef: ref.optional(),
          serviceAccountRef: z.object({ name: z.string().min(1), audiences: z.array(z.string()).optional() }).optional(),
        })
        .superRefine((k, ctx) => {
          if ((k.secretRef === undefined) === (k.serviceAccountRef === undefined)) {
            ctx.addIssue({ code: "custom", path: [], message: "exactly one of secretRef or serviceAccountRef must be set" });
          }
        })
        .optional(),
      aws: z.looseObject({ mountPath: z.string().optional(), role: z.string().optional(), region: z.string().optional() }).optional(),
    }),
  })
  .superRefine((v, ctx) => {
    if (v.caBundle !== undefined && v.caBundle !== "" && v.caBundleSecretRef !== undefined) {
      ctx.addIssue({ code: "custom", path: ["caBundle"], message: "caBundle and caBundleSecretRef are mutually exclusive" });
    }
    if ((v.clientCertSecretRef === undefined) !== (v.clientKeySecretRef === undefined)) {
      ctx.addIssue({ code: "custom", path: ["clientCertSecretRef"], message: "clientCertSecretRef and clientKeySecretRef must be set together" });
    }
    const set = VAULT_AUTH_METHODS.filter((m) => v.auth[m] !== undefined);
    if (set.length === 0) ctx.addIssue({ code: "custom", path: ["auth"], message: `please supply one of: ${VAULT_AUTH_METHODS.join(", ")}` });
    if (set.length > 1) ctx.addIssue({ code: "custom", path: ["auth"], message: `multiple auth methods cannot be set (found ${set.join(", ")})` });
  });

export const venafiIssuerSchema = z.looseObject({
  zone: z.string(),
  tpp: freeFormSchema.optional(),
  cloud: freeFormSchema.optional(),
});

export const issuerSpecSchema = z
  .object({
    acme: acmeIssuerSchema.optional(),
    ca: caIssuerSchema.optional(),
    vault: vaultIssuerSchema.optional(),
    selfSigned: selfSignedIssuerSchema.optional(),
    venafi: venafiIssuerSchema.optional(),
  })
  .superRefine((spec, ctx) => {
    const set = ISSUER_TYPES.filter((t) => spec[t] !== undefined);
    if (set.length === 0) ctx.addIssue({ code: "custom", path: [], message: `at least one issuer must be configured (one of ${ISSUER_TYPES.join(", ")})` });
    if (set.length > 1) ctx.addIssue({ code: "custom", path: [set[1] ?? ""], message: `may not specify more than one issuer type (found ${set.join(", ")})` });
  });

export const issuerStatusSchema = z.object({
  conditions: z.array(conditionSchema).optional(),
  acme: acmeIssuerStatusSchema.optional(),
});

export const issuerSchema = z.object({
  apiVersion: z.literal("cert-manager.io/v1"),
  kind: z.literal("Issuer"),
  metadata: objectMetaSchema,
  spec: issuerSpecSchema,
  status: issuerStatusSchema.optional(),
});

export const clusterIssuerSchema = z.object({
  apiVersion: z.literal("cert-manager.io/v1"),
  kind: z.literal("ClusterIssuer"),
  metadata: objectMetaSchema,
  spec: issuerSpecSchema,
  status: issuerStatusSchema.optional(),
});

/** Which issuer type a (validated) spec configures. */
export function issuerTypeOf(spec: { readonly [K in IssuerType]?: unknown }): IssuerType | undefined {
  return ISSUER_TYPES.find((t) => spec[t] !== undefined);
}

