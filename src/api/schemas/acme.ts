import { z } from "zod";
import { isGoDuration } from "../lib/rules.js";
import { bytesSchema, freeFormSchema, issuerReferenceSchema, objectMetaSchema, secretKeySelectorSchema } from "./meta.js";

/** acme.cert-manager.io/v1 shapes: the ACME issuer config, solvers, Order and Challenge. */

const ref = secretKeySelectorSchema;

const serviceAccountRefSchema = z.object({ name: z.string().min(1), audiences: z.array(z.string()).optional() });

/** The rfc2136 solver's TSIG algorithms (cert-manager's names). */
export const TSIG_ALGORITHMS = ["HMACMD5", "HMACSHA1", "HMACSHA256", "HMACSHA512"] as const;

export const acmeDns01ProviderNames = ["akamai", "cloudDNS", "cloudflare", "route53", "azureDNS", "digitalocean", "acmeDNS", "rfc2136", "webhook"] as const;

export const acmeDns01Schema = z
  .object({
    cnameStrategy: z.enum(["None", "Follow"]).optional(),
    nameservers: z.array(z.string()).optional(),
    akamai: z.looseObject({ serviceConsumerDomain: z.string(), clientTokenSecretRef: ref, clientSecretSecretRef: ref, accessTokenSecretRef: ref }).optional(),
    cloudDNS: z.looseObject({ project: z.string(), serviceAccountSecretRef: ref.optional(), hostedZoneName: z.string().optional() }).optional(),
    cloudflare: z.object({ email: z.string().optional(), apiKeySecretRef: ref.optional(), apiTokenSecretRef: ref.optional() }).optional(),
    route53: z
      .object({
        region: z.string().optional(),
        hostedZoneID: z.string().optional(),
        role: z.string().optional(),
        accessKeyID: z.string().optional(),
        accessKeyIDSecretRef: ref.optional(),
        secretAccessKeySecretRef: ref.optional(),
        auth: z.object({ kubernetes: z.object({ serviceAccountRef: serviceAccountRefSchema }) }).optional(),
      })
      .optional(),
    azureDNS: z.looseObject({ subscriptionID: z.string(), resourceGroupName: z.string(), hostedZoneName: z.string().optional(), clientID: z.string().optional(), tenantID: z.string().optional(), clientSecretSecretRef: ref.optional(), environment: z.string().optional() }).optional(),
    digitalocean: z.object({ tokenSecretRef: ref }).optional(),
    acmeDNS: z.object({ host: z.string().min(1), accountSecretRef: ref }).optional(),
    rfc2136: z
      .object({
        nameserver: z.string().min(1, "nameserver is required"),
        tsigKeyName: z.string().optional(),
        // Any case, as cert-manager upper-cases it: `hmacsha256` and `HmacSha256` mean HMACSHA256.
        tsigAlgorithm: z
          .string()
          .transform((s) => s.toUpperCase())
          .pipe(z.enum(TSIG_ALGORITHMS, { error: `must be one of ${TSIG_ALGORITHMS.join(", ")} (in any case)` }))
          .optional(),
        tsigSecretSecretRef: ref.optional(),
        protocol: z.enum(["UDP", "TCP"]).optional(),
      })
      .optional(),
    webhook: z.object({ groupName: z.string().min(1), solverName: z.string().min(1), config: freeFormSchema.optional() }).optional(),
  })
  .superRefine((dns01, ctx) => {
    const set = acmeDns01ProviderNames.filter((p) => dns01[p] !== undefined);
    if (set.length !== 1) {
      ctx.addIssue({ code: "custom", path: [], message: set.length === 0 ? `no DNS01 provider configured: set one of ${acmeDns01ProviderNames.join(", ")}` : `may not use more than one provider type (found ${set.join(", ")})` });
    }
    const r = dns01.rfc2136;
    if (r !== undefined && (r.tsigKeyName !== undefined) !== (r.tsigSecretSecretRef !== undefined)) {
      ctx.addIssue({ code: "custom", path: ["rfc2136"], message: "tsigKeyName and tsigSecretSecretRef must be set together" });
    }
    const cf = dns01.cloudflare;
    if (cf !== undefined && (cf.apiKeySecretRef !== undefined) === (cf.apiTokenSecretRef !== undefined)) {
      ctx.addIssue({ code: "custom", path: ["cloudflare"], message: "exactly one of apiKeySecretRef or apiTokenSecretRef must be set" });
    }
  });

const parentRefSchema = z.looseObject({
  name: z.string().min(1),
  namespace: z.string().optional(),
  kind: z.string().optional(),
  group: z.string().optional(),
  sectionName: z.string().optional(),
  port: z.number().int().optional(),
});

export const acmeHttp01Schema = z
  .object({
    ingress: z
      .object({
        serviceType: z.enum(["NodePort", "ClusterIP"]).optional(),
        ingressClassName: z.string().optional(),
        class: z.string().optional(),
        name: z.string().optional(),
        podTemplate: freeFormSchema.optional(),
        ingressTemplate: freeFormSchema.optional(),
      })
      .superRefine((ing, ctx) => {
        const set = (["ingressClassName", "class", "name"] as const).filter((k) => ing[k] !== undefined);
        if (set.length > 1) ctx.addIssue({ code: "custom", path: [], message: `only one of ingressClassName, class or name may be set (found ${set.join(", ")})` });
      })
      .optional(),
    gatewayHTTPRoute: z
      .object({
        serviceType: z.enum(["NodePort", "ClusterIP"]).optional(),
        labels: z.record(z.string(), z.string()).optional(),
        parentRefs: z.array(parentRefSchema).optional(),
        podTemplate: freeFormSchema.optional(),
      })
      .optional(),
  })
  .superRefine((h, ctx) => {
    if ((h.ingress === undefined) === (h.gatewayHTTPRoute === undefined)) {
      ctx.addIssue({ code: "custom", path: [], message: "exactly one of ingress or gatewayHTTPRoute must be set" });
    }
  });

export const acmeSolverSchema = z
  .object({
    selector: z
      .object({
        matchLabels: z.record(z.string(), z.string()).optional(),
        dnsNames: z.array(z.string()).optional(),
        dnsZones: z.array(z.string()).optional(),
      })
      .optional(),
    http01: acmeHttp01Schema.optional(),
    dns01: acmeDns01Schema.optional(),
    waitInsteadOfSelfCheck: z.string().refine(isGoDuration, { message: "must be a Go duration" }).optional(),
  })
  .superRefine((s, ctx) => {
    if ((s.http01 === undefined) === (s.dns01 === undefined)) {
      ctx.addIssue({ code: "custom", path: [], message: "exactly one of http01 or dns01 must be set" });
    }
  });

export const acmeIssuerSchema = z
  .object({
    server: z.string().min(1, "server is required").url("must be a URL"),
    email: z.string().optional(),
    privateKeySecretRef: ref,
    externalAccountBinding: z
      .object({
        keyID: z.string().min(1, "keyID is required"),
        keySecretRef: ref,
        keyAlgorithm: z.enum(["HS256", "HS384", "HS512"]).optional(),
      })
      .optional(),
    skipTLSVerify: z.boolean().optional(),
    caBundle: bytesSchema.optional(),
    preferredChain: z.string().max(64, "must be no more than 64 characters").optional(),
    enableDurationFeature: z.boolean().optional(),
    disableAccountKeyGeneration: z.boolean().optional(),
    profile: z.string().optional(),
    renewalInformationSource: z.enum(["ARI", "None"]).optional(),
    solvers: z.array(acmeSolverSchema).optional(),
  })
  .superRefine((a, ctx) => {
    if (a.skipTLSVerify === true && a.caBundle !== undefined && a.caBundle !== "") {
      ctx.addIssue({ code: "custom", path: ["caBundle"], message: "caBundle and skipTLSVerify are mutually exclusive" });
    }
    if (/^https:\/\/acme(-staging)?\.api\.letsencrypt\.org\/directory\/?$/.test(a.server)) {
      ctx.addIssue({ code: "custom", path: ["server"], message: "this is an ACME v1 URL, which is no longer supported; use https://acme-v02.api.letsencrypt.org/directory" });
    }
  });

export const acmeIssuerStatusSchema = z.object({
  uri: z.string().optional(),
  lastRegisteredEmail: z.string().optional(),
  lastPrivateKeyHash: z.string().optional(),
});

// ---------- Order ----------

export const acmeStateSchema = z.enum(["valid", "ready", "pending", "processing", "invalid", "expired", "errored"]);

const challengeTypeSchema = z.enum(["HTTP-01", "DNS-01"]);

export const orderSchema = z.object({
  apiVersion: z.literal("acme.cert-manager.io/v1"),
  kind: z.literal("Order"),
  metadata: objectMetaSchema,
  spec: z.object({
    request: bytesSchema.min(1, "request is required"),
    issuerRef: issuerReferenceSchema,
    commonName: z.string().optional(),
    dnsNames: z.array(z.string()).optional(),
    ipAddresses: z.array(z.string()).optional(),
    duration: z.string().optional(),
    profile: z.string().optional(),
    replaces: z.string().optional(),
  }),
  status: z
    .object({
      url: z.string().optional(),
      finalizeURL: z.string().optional(),
      authorizations: z
        .array(
          z.object({
            url: z.string(),
            identifier: z.string().optional(),
            wildcard: z.boolean().optional(),
            initialState: acmeStateSchema.optional(),
            challenges: z.array(z.object({ url: z.string(), token: z.string(), type: z.string() })).optional(),
          }),
        )
        .optional(),
      certificate: bytesSchema.optional(),
      state: acmeStateSchema.optional(),
      reason: z.string().optional(),
      failureTime: z.string().optional(),
    })
    .optional(),
});

// ---------- Challenge ----------

export const challengeSchema = z.object({
  apiVersion: z.literal("acme.cert-manager.io/v1"),
  kind: z.literal("Challenge"),
  metadata: objectMetaSchema,
  spec: z.object({
    url: z.string().min(1),
    authorizationURL: z.string().min(1),
    dnsName: z.string().min(1),
    wildcard: z.boolean().optional(),
    type: challengeTypeSchema,
    token: z.string().min(1),
    key: z.string().min(1),
    solver: acmeSolverSchema,
    issuerRef: issuerReferenceSchema,
  }),
  status: z
    .object({
      processing: z.boolean().optional(),
      presented: z.boolean().optional(),
      presentedAt: z.string().optional(),
      reason: z.string().optional(),
      state: acmeStateSchema.optional(),
      /** meshsign: the TXT record name a DNS-01 value was presented at (after CNAME following). */
      dns01Fqdn: z.string().optional(),
      /** meshsign: since when a presented value outlives its Challenge's final state or deletion (RFC 3339). */
      cleanUpSince: z.string().optional(),
      /** meshsign: why the last clean-up at the solver failed; retried with back-off until it succeeds. */
      cleanUpError: z.string().optional(),
    })
    .optional(),
});

