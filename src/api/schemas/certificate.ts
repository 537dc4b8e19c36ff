import { z } from "zod";
import { CERT_MANAGER_ANNOTATION_PREFIX } from "../annotations.js";
import { formatGoDuration, tryParseGoDuration } from "../duration.js";
import { certificateSizeProblem } from "../limits.js";
import { isBareEmail, isCidr, isDns1123Subdomain, isGoDuration, isIpAddress, isOid } from "../lib/rules.js";
import { DistinguishedNameError, type Name, NameOid, parseDistinguishedName } from "../../pki/index.js";
import { annotationsSchema, conditionSchema, issuerReferenceSchema, labelsSchema, objectMetaSchema } from "./meta.js";

/**
 * cert-manager.io/v1 Certificate, with the checks cert-manager's admission
 * webhook makes (`internal/apis/certmanager/validation/certificate.go`).
 */

/** The 23 key usages cert-manager accepts (KU and EKU names mixed, as in its API). */
export const KEY_USAGES = [
  "signing",
  "digital signature",
  "content commitment",
  "key encipherment",
  "key agreement",
  "data encipherment",
  "cert sign",
  "crl sign",
  "encipher only",
  "decipher only",
  "any",
  "server auth",
  "client auth",
  "code signing",
  "email protection",
  "s/mime",
  "ipsec end system",
  "ipsec tunnel",
  "ipsec user",
  "timestamping",
  "ocsp signing",
  "microsoft sgc",
  "netscape sgc",
] as const;

export const keyUsageSchema = z.enum(KEY_USAGES);

/** cert-manager's MinimumCertificateDuration. */
export const MINIMUM_CERTIFICATE_DURATION_MS = 3_600_000;
/** cert-manager's MinimumRenewBefore. */
export const MINIMUM_RENEW_BEFORE_MS = 5 * 60_000;
/** Kubernetes' TotalAnnotationSizeLimitB: keys plus values of one object's annotations, in bytes. */
export const MAX_ANNOTATIONS_BYTES = 256 * 1024;
/** The one cert-manager.io/ annotation a secretTemplate may set (cainjector reads it from the Secret). */
export const ALLOW_DIRECT_INJECTION_ANNOTATION = "cert-manager.io/allow-direct-injection";

/** cert-manager's DefaultCertificateDuration (90 days). */
export const DEFAULT_CERTIFICATE_DURATION_MS = 2160 * 3_600_000;

const goDuration = z.string().refine(isGoDuration, { message: 'must be a Go duration such as "2160h" or "1h30m"' });

export const privateKeySchema = z.object({
  algorithm: z.enum(["RSA", "ECDSA", "Ed25519"]).optional(),
  encoding: z.enum(["PKCS1", "PKCS8"]).optional(),
  size: z.number().int().optional(),
  rotationPolicy: z.enum(["Never", "Always"]).optional(),
});

export const subjectSchema = z.object({
  organizations: z.array(z.string()).optional(),
  countries: z.array(z.string()).optional(),
  organizationalUnits: z.array(z.string()).optional(),
  localities: z.array(z.string()).optional(),
  provinces: z.array(z.string()).optional(),
  streetAddresses: z.array(z.string()).optional(),
  postalCodes: z.array(z.string()).optional(),
  serialNumber: z.string().optional(),
});

const nameConstraintItemSchema = z.object({
  dnsDomains: z.array(z.string()).optional(),
  ipRanges: z.array(z.string().refine(isCidr, { message: "must be a CIDR range such as 10.0.0.0/8" })).optional(),
  emailAddresses: z.array(z.string()).optional(),
  uriDomains: z.array(z.string()).optional(),
});

const passwordSecretRefSchema = z.object({ name: z.string().min(1), key: z.string().min(1) });

const keystoreCommon = {
  create: z.boolean(),
  passwordSecretRef: passwordSecretRefSchema.optional(),
  password: z.string().optional(),
};

export const certificateSpecSchema = z.object({
  secretName: z
    .string()
    .min(1, "secretName is required")
    .refine((n) => n === "" || isDns1123Subdomain(n), { message: "must be a lowercase RFC 1123 subdomain" }),
  issuerRef: issuerReferenceSchema,
  // 64 characters here (the CRD's maxLength); checkCertificateSpec also counts bytes, as Go's len() does, and checks a CN inside literalSubject.
  commonName: z.string().max(64, "must be no more than 64 characters").optional(),
  literalSubject: z.string().optional(),
  subject: subjectSchema.optional(),
  duration: goDuration.optional(),
  renewBefore: goDuration.optional(),
  renewBeforePercentage: z.number().int().optional(),
  renewal: z
    .object({
      policy: z.enum(["RenewBefore", "Disabled"]).optional(),
      windows: z
        .array(
          z.object({
            cron: z.string().min(1),
            windowDuration: goDuration,
            timezone: z.string().optional(),
          }),
        )
        .optional(),
    })
    .optional(),
  dnsNames: z.array(z.string().min(1)).optional(),
  ipAddresses: z.array(z.string().refine(isIpAddress, { message: "must be a valid IPv4 or IPv6 address" })).optional(),
  uris: z.array(z.string().min(1)).optional(),
  emailAddresses: z.array(z.string().refine(isBareEmail, { message: "must be a bare e-mail address such as user@example.com" })).optional(),
  otherNames: z
    .array(
      z.object({
        oid: z.string().refine(isOid, { message: "must be a dotted OID such as 1.3.6.1.4.1.311.20.2.3" }),
        utf8Value: z.string().min(1, "must not be empty"),
      }),
    )
    .optional(),
  isCA: z.boolean().optional(),
  usages: z.array(keyUsageSchema).optional(),
  encodeUsagesInRequest: z.boolean().optional(),
  privateKey: privateKeySchema.optional(),
  signatureAlgorithm: z.enum(["SHA256WithRSA", "SHA384WithRSA", "SHA512WithRSA", "ECDSAWithSHA256", "ECDSAWithSHA384", "ECDSAWithSHA512", "PureEd25519"]).optional(),
  secretTemplate: z
    .object({
      // Validated as the API server validates a Secret's own labels and annotations (cert-manager's webhook does the same).
      annotations: annotationsSchema.optional(),
      labels: labelsSchema.optional(),
    })
    .optional(),
  additionalOutputFormats: z.array(z.object({ type: z.enum(["DER", "CombinedPEM"]) })).optional(),
  keystores: z
    .object({
      jks: z.object({ ...keystoreCommon, alias: z.string().optional() }).optional(),
      pkcs12: z.object({ ...keystoreCommon, profile: z.enum(["LegacyRC2", "LegacyDES", "Modern2023", "Modern2026"]).optional() }).optional(),
    })
    .optional(),
  revisionHistoryLimit: z.number().int().optional(),
  nameConstraints: z
    .object({
      critical: z.boolean().optional(),
      permitted: nameConstraintItemSchema.optional(),
      excluded: nameConstraintItemSchema.optional(),
    })
    .optional(),
});

export const certificateStatusSchema = z.object({
  conditions: z.array(conditionSchema).optional(),
  lastFailureTime: z.string().optional(),
  notBefore: z.string().optional(),
  notAfter: z.string().optional(),
  renewalTime: z.string().optional(),
  revision: z.number().int().optional(),
  nextPrivateKeySecretName: z.string().optional(),
  failedIssuanceAttempts: z.number().int().optional(),
});

type CertificateSpecInput = z.infer<typeof certificateSpecSchema>;
type Ctx = z.RefinementCtx;

/** Cross-field rules, each adding issues with the field path cert-manager reports. */
function checkCertificateSpec(spec: CertificateSpecInput, ctx: Ctx): void {
  const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: "custom", path, message });

  // Issuer reference kind within cert-manager's own group.
  const { group, kind } = spec.issuerRef;
  if ((group === undefined || group === "" || group === "cert-manager.io") && kind !== undefined && kind !== "" && kind !== "Issuer" && kind !== "ClusterIssuer") {
    issue(["issuerRef", "kind"], `must be one of Issuer or ClusterIssuer (did you forget to set issuerRef.group?)`);
  }

  // Subject: literalSubject excludes commonName and subject, and must be a name cert-manager can encode.
  // `commonName` is the CN the certificate will carry (from either field); undefined when unknowable.
  let commonName: string | undefined = spec.commonName ?? "";
  let cnFromLiteral = false;
  if (spec.literalSubject !== undefined && spec.literalSubject !== "") {
    if (spec.commonName !== undefined && spec.commonName !== "") issue(["commonName"], "may not be set when literalSubject is set");
    if (spec.subject !== undefined) issue(["subject"], "may not be set when literalSubject is set");
    commonName = literalCommonName(spec.literalSubject, (message) => issue(["literalSubject"], message));
    cnFromLiteral = true;
  }
  // Go's len() counts bytes; reported on commonName even when the CN came from literalSubject, as cert-manager
  // does. A commonName field over 64 characters already failed the schema's max(64) (the CRD's maxLength).
  if (commonName !== undefined && Buffer.byteLength(commonName, "utf8") > 64 && (cnFromLiteral || commonName.length <= 64)) {
    issue(["commonName"], "must be no more than 64 bytes");
  }

  // At least one identity (not judged when an unreadable literalSubject leaves the CN unknown).
  const hasSan = [spec.dnsNames, spec.ipAddresses, spec.uris, spec.emailAddresses, spec.otherNames].some((l) => (l?.length ?? 0) > 0);
  if (commonName === "" && !hasSan) {
    issue([], "at least one of commonName (from the commonName field or from a literalSubject), dnsNames, uriSANs, ipAddresses, emailSANs or otherNames must be set");
  }

  // Durations.
  const durationMs = spec.duration === undefined ? undefined : tryParseGoDuration(spec.duration);
  if (durationMs !== undefined && durationMs < MINIMUM_CERTIFICATE_DURATION_MS) {
    issue(["duration"], `certificate duration ${formatGoDuration(durationMs)} must be greater than ${formatGoDuration(MINIMUM_CERTIFICATE_DURATION_MS)}`);
  }
  const effectiveDuration = durationMs ?? DEFAULT_CERTIFICATE_DURATION_MS;
  if (spec.renewBefore !== undefined && spec.renewBeforePercentage !== undefined) {
    const message = "renewBefore and renewBeforePercentage are mutually exclusive and cannot both be set";
    issue(["renewBefore"], message);
    issue(["renewBeforePercentage"], message);
  }
  const renewBeforeMs = spec.renewBefore === undefined ? undefined : tryParseGoDuration(spec.renewBefore);
  if (renewBeforeMs !== undefined) {
    if (renewBeforeMs < MINIMUM_RENEW_BEFORE_MS) {
      issue(["renewBefore"], `certificate renewBefore ${formatGoDuration(renewBeforeMs)} must be greater than ${formatGoDuration(MINIMUM_RENEW_BEFORE_MS)}`);
    } else if (renewBeforeMs >= effectiveDuration) {
      issue(["renewBefore"], `certificate duration ${formatGoDuration(effectiveDuration)} must be greater than renewBefore ${formatGoDuration(renewBeforeMs)}`);
    }
  }
  if (spec.renewBeforePercentage !== undefined) {
    const pct = spec.renewBeforePercentage;
    if (pct <= 0 || pct >= 100) issue(["renewBeforePercentage"], "must be between 1 and 99");
    else {
      // The controller renews at pct% of the lifetime before expiry (renewaltime.go); we check that value.
      const rb = (effectiveDuration * pct) / 100;
      if (rb < MINIMUM_RENEW_BEFORE_MS) {
        issue(["renewBeforePercentage"], `certificate renewBefore ${formatGoDuration(rb)} (${pct}% of ${formatGoDuration(effectiveDuration)}) must be greater than ${formatGoDuration(MINIMUM_RENEW_BEFORE_MS)}`);
      }
    }
  }
  if (spec.renewal?.policy === "Disabled" && (spec.renewal.windows?.length ?? 0) > 0) {
    issue(["renewal", "windows"], "may not be set when renewal.policy is Disabled");
  } else if ((spec.renewal?.windows?.length ?? 0) > 0) {
    // Refused rather than accepted and ignored: renewal would not wait for the window the user asked for.
    issue(["renewal", "windows"], "is not supported: meshsign renews at the renewBefore time and does not implement renewal windows");
  }

  // Private key.
  const algorithm = spec.privateKey?.algorithm ?? "RSA";
  const size = spec.privateKey?.size;
  if (size !== undefined && size !== 0) {
    if (algorithm === "RSA" && (size < 2048 || size > 8192)) issue(["privateKey", "size"], "must be between 2048 and 8192 for rsa keyAlgorithm");
    if (algorithm === "ECDSA" && ![256, 384, 521].includes(size)) issue(["privateKey", "size"], "must be either 256, 384 or 521 for ecdsa keyAlgorithm");
  }
  if (spec.signatureAlgorithm !== undefined) {
    const sigFamily = spec.signatureAlgorithm.startsWith("ECDSA") ? "ECDSA" : spec.signatureAlgorithm === "PureEd25519" ? "Ed25519" : "RSA";
    if (sigFamily !== algorithm) issue(["signatureAlgorithm"], `${spec.signatureAlgorithm} cannot be used with a ${algorithm} private key`);
  }

  // secretTemplate may not set cert-manager's own annotations (but may allow cainjector's direct injection),
  // and its annotations must fit in a Secret.
  const templateAnnotations = Object.entries(spec.secretTemplate?.annotations ?? {});
  for (const [key] of templateAnnotations) {
    if (key.startsWith(CERT_MANAGER_ANNOTATION_PREFIX) && key !== ALLOW_DIRECT_INJECTION_ANNOTATION) {
      issue(["secretTemplate", "annotations", key], "cert-manager.io/* annotations are not allowed");
    }
  }
  const annotationBytes = templateAnnotations.reduce((n, [k, v]) => n + Buffer.byteLength(k, "utf8") + Buffer.byteLength(v, "utf8"), 0);
  if (annotationBytes > MAX_ANNOTATIONS_BYTES) {
    issue(["secretTemplate", "annotations"], `may not be more than ${MAX_ANNOTATIONS_BYTES} bytes in total (keys and values), as Kubernetes limits an object's annotations`);
  }

  // Unique output formats.
  const seen = new Set<string>();
  spec.additionalOutputFormats?.forEach((f, i) => {
    if (seen.has(f.type)) issue(["additionalOutputFormats", i, "type"], `duplicate output format ${f.type}`);
    seen.add(f.type);
  });

  // Keystores: exactly one of password / passwordSecretRef.
  for (const name of ["jks", "pkcs12"] as const) {
    const ks = spec.keystores?.[name];
    if (ks === undefined) continue;
    const n = (ks.password !== undefined ? 1 : 0) + (ks.passwordSecretRef !== undefined ? 1 : 0);
    if (n !== 1) issue(["keystores", name], "exactly one of password or passwordSecretRef must be set");
    else if (ks.password === "") issue(["keystores", name, "password"], "must not be empty");
    // Refused rather than accepted and ignored: an application reading the keystore would find none.
    if (ks.create === true) issue(["keystores", name, "create"], "is not supported: meshsign does not write JKS or PKCS#12 keystores");
  }

  if (spec.revisionHistoryLimit !== undefined && spec.revisionHistoryLimit < 1) {
    issue(["revisionHistoryLimit"], "must not be less than 1");
  }

  if (spec.nameConstraints !== undefined) {
    if (spec.isCA !== true) issue(["nameConstraints"], "nameConstraints may only be set when isCA is true");
    if (spec.nameConstraints.permitted === undefined && spec.nameConstraints.excluded === undefined) {
      issue(["nameConstraints"], "one of permitted or excluded must be set");
    }
  }

  // What meshsign can issue (src/api/limits.ts); the engine refuses the same specs with the same message.
  const tooLarge = certificateSizeProblem(spec);
  if (tooLarge !== undefined) issue([...tooLarge.path], tooLarge.message);
}

/** The last CN of a literalSubject ("" without one), or undefined after reporting why it cannot be read. */
function literalCommonName(literal: string, report: (message: string) => void): string | undefined {
  let name: Name;
  try {
    name = parseDistinguishedName(literal);
  } catch (err) {
    if (!(err instanceof DistinguishedNameError)) throw err;
    const unknown = err.unknownType;
    report(
      unknown === undefined
        ? `is not a valid RFC 4514 distinguished name: ${err.message}`
        : `Literal subject contains unrecognized key with value [${unknown.value}]: ${err.message}`,
    );
    return undefined;
  }
  let cn = "";
  for (const rdn of name) for (const a of rdn) if (a.type === NameOid.commonName) cn = a.value;
  return cn;
}

export const certificateSchema = z.object({
  apiVersion: z.literal("cert-manager.io/v1"),
  kind: z.literal("Certificate"),
  metadata: objectMetaSchema,
  spec: certificateSpecSchema.superRefine(checkCertificateSpec),
  status: certificateStatusSchema.optional(),
});
