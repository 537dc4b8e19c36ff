/**
 * The ingress-shim annotations read into a Certificate spec, value by value as
 * cert-manager's `translateAnnotations` reads them
 * (`pkg/controller/certificate-shim/helper.go`): common name, e-mail SANs,
 * subject fields (CSV with quoting), duration and renew-before (Go
 * durations), renew-before-percentage, usages, revision history limit,
 * private key algorithm/encoding/size/rotation policy and the Secret
 * template. The first bad value stops the translation and is named with its
 * annotation, so the source gets one Warning Event and no Certificate.
 */
import * as A from "../../api/annotations.js";
import { tryParseGoDuration } from "../../api/duration.js";
import { KEY_USAGES } from "../../api/schemas/certificate.js";
import type { CertificateSpec } from "../lib/api.js";
import { splitCsvRecord } from "./lib/csv.js";

/** The part of a Certificate spec the annotations can set. */
export type AnnotatedSpec = Partial<
  Omit<CertificateSpec, "secretName" | "issuerRef" | "dnsNames" | "ipAddresses">
>;

/** A bad annotation: which, its value, and what is wrong (safe to show: the value is the user's own). */
export interface BadAnnotation {
  readonly annotation: string;
  readonly value: string;
  readonly message: string;
}

export type TranslateResult =
  | { readonly ok: true; readonly spec: AnnotatedSpec }
  | ({ readonly ok: false } & BadAnnotation);

const SUBJECT_FIELDS: readonly (readonly [string, keyof NonNullable<CertificateSpec["subject"]>])[] = [
  [A.SHIM_SUBJECT_ORGANIZATIONS, "organizations"],
  [A.SHIM_SUBJECT_ORGANIZATIONAL_UNITS, "organizationalUnits"],
  [A.SHIM_SUBJECT_COUNTRIES, "countries"],
  [A.SHIM_SUBJECT_PROVINCES, "provinces"],
  [A.SHIM_SUBJECT_LOCALITIES, "localities"],
  [A.SHIM_SUBJECT_POSTAL_CODES, "postalCodes"],
  [A.SHIM_SUBJECT_STREET_ADDRESSES, "streetAddresses"],
];

const KEY_USAGE_NAMES: ReadonlySet<string> = new Set(KEY_USAGES);
const INT32_MAX = 2 ** 31 - 1;

/** Reads every shim annotation present in `annotations` (absent ones leave their field unset). */
export function translateAnnotations(annotations: Readonly<Record<string, string>>): TranslateResult {
  const spec: AnnotatedSpec = {};
  const bad = (annotation: string, message: string): TranslateResult => ({
    ok: false,
    annotation,
    value: annotations[annotation] ?? "",
    message,
  });
  const get = (key: string): string | undefined =>
    Object.hasOwn(annotations, key) ? annotations[key] : undefined;

  const commonName = get(A.SHIM_COMMON_NAME);
  if (commonName !== undefined) spec.commonName = commonName;
  const emails = get(A.SHIM_EMAIL_SANS);
  if (emails !== undefined) spec.emailAddresses = emails.split(",");

  const subject: NonNullable<CertificateSpec["subject"]> = {};
  for (const [key, field] of SUBJECT_FIELDS) {
    const raw = get(key);
    if (raw === undefined) continue;
    const parsed = splitCsvRecord(raw);
    if (!parsed.ok) return bad(key, parsed.message);
    (subject as Record<string, string[]>)[field] = parsed.values;
  }
  const serial = get(A.SHIM_SUBJECT_SERIAL_NUMBER);
  if (serial !== undefined) subject.serialNumber = serial;
  if (Object.keys(subject).length > 0) spec.subject = subject;

  for (const [key, field] of [
    [A.SHIM_DURATION, "duration"],
    [A.SHIM_RENEW_BEFORE, "renewBefore"],
  ] as const) {
    const raw = get(key);
    if (raw === undefined) continue;
    if (tryParseGoDuration(raw) === undefined)
      return bad(key, `time: invalid duration ${JSON.stringify(raw)}`);
    spec[field] = raw;
  }

  const pct = get(A.SHIM_RENEW_BEFORE_PERCENTAGE);
  if (pct !== undefined) {
    const n = parseInteger(pct);
    if (n === undefined || Math.abs(n) > INT32_MAX)
      return bad(A.SHIM_RENEW_BEFORE_PERCENTAGE, `invalid integer ${JSON.stringify(pct)}`);
    spec.renewBeforePercentage = n;
  }

  const usages = get(A.SHIM_USAGES);
  if (usages !== undefined) {
    const list: string[] = [];
    for (const name of usages.split(",")) {
      const usage = name.trim();
      if (!KEY_USAGE_NAMES.has(usage))
        return bad(A.SHIM_USAGES, `invalid key usage name ${JSON.stringify(name)}`);
      list.push(usage);
    }
    spec.usages = list;
  }

  const history = get(A.SHIM_REVISION_HISTORY_LIMIT);
  if (history !== undefined) {
    const n = parseInteger(history);
    if (n === undefined || Math.abs(n) > INT32_MAX)
      return bad(A.SHIM_REVISION_HISTORY_LIMIT, `invalid integer ${JSON.stringify(history)}`);
    if (n < 1)
      return bad(
        A.SHIM_REVISION_HISTORY_LIMIT,
        `revision history limit must be a positive number ${JSON.stringify(history)}`,
      );
    spec.revisionHistoryLimit = n;
  }

  const privateKey: NonNullable<CertificateSpec["privateKey"]> = {};
  const algorithm = get(A.SHIM_PRIVATE_KEY_ALGORITHM);
  if (algorithm !== undefined) {
    if (algorithm !== "RSA" && algorithm !== "ECDSA" && algorithm !== "Ed25519")
      return bad(A.SHIM_PRIVATE_KEY_ALGORITHM, `invalid private key algorithm ${JSON.stringify(algorithm)}`);
    privateKey.algorithm = algorithm;
  }
  const encoding = get(A.SHIM_PRIVATE_KEY_ENCODING);
  if (encoding !== undefined) {
    if (encoding !== "PKCS1" && encoding !== "PKCS8")
      return bad(A.SHIM_PRIVATE_KEY_ENCODING, `invalid private key encoding ${JSON.stringify(encoding)}`);
    privateKey.encoding = encoding;
  }
  const size = get(A.SHIM_PRIVATE_KEY_SIZE);
  if (size !== undefined) {
    const n = parseInteger(size);
    if (n === undefined) return bad(A.SHIM_PRIVATE_KEY_SIZE, `invalid integer ${JSON.stringify(size)}`);
    // The algorithm defaults to RSA when the size is given alone; Ed25519 has no size to check.
    const alg = privateKey.algorithm ?? "RSA";
    if (alg === "RSA" && (n < 2048 || n > 8192))
      return bad(
        A.SHIM_PRIVATE_KEY_SIZE,
        `invalid private key size for RSA algorithm ${JSON.stringify(size)}`,
      );
    if (alg === "ECDSA" && n !== 256 && n !== 384 && n !== 521)
      return bad(
        A.SHIM_PRIVATE_KEY_SIZE,
        `invalid private key size for ECDSA algorithm ${JSON.stringify(size)}`,
      );
    privateKey.size = n;
  }
  const rotation = get(A.SHIM_PRIVATE_KEY_ROTATION_POLICY);
  if (rotation !== undefined) {
    if (rotation !== "Never" && rotation !== "Always")
      return bad(
        A.SHIM_PRIVATE_KEY_ROTATION_POLICY,
        `invalid private key rotation policy ${JSON.stringify(rotation)}`,
      );
    privateKey.rotationPolicy = rotation;
  }
  if (Object.keys(privateKey).length > 0) spec.privateKey = privateKey;

  const template = get(A.SHIM_SECRET_TEMPLATE);
  if (template !== undefined) {
    const parsed = parseSecretTemplate(template);
    if (typeof parsed === "string") return bad(A.SHIM_SECRET_TEMPLATE, parsed);
    if (parsed !== undefined) spec.secretTemplate = parsed;
  }
  return { ok: true, spec };
}

/** Go's strconv.Atoi/ParseInt grammar: an optional sign and decimal digits, nothing else. */
function parseInteger(text: string): number | undefined {
  if (!/^[+-]?\d{1,12}$/.test(text)) return undefined;
  return Number.parseInt(text, 10);
}

/**
 * `{"labels": {...}, "annotations": {...}}` with no other key (cert-manager decodes it with unknown
 * fields disallowed), string values only, and no `cert-manager.io/` annotation. Returns the template,
 * undefined when it is empty, or what is wrong.
 */
function parseSecretTemplate(
  json: string,
): NonNullable<CertificateSpec["secretTemplate"]> | undefined | string {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (err) {
    return `error parsing secret template JSON: ${(err as Error).message}`;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    return "error parsing secret template JSON: must be an object";
  const out: { labels?: Record<string, string>; annotations?: Record<string, string> } = {};
  for (const [key, map] of Object.entries(value)) {
    if (key !== "labels" && key !== "annotations")
      return `error parsing secret template JSON: unknown field ${JSON.stringify(key)}`;
    if (map === null) continue;
    if (
      typeof map !== "object" ||
      Array.isArray(map) ||
      Object.values(map).some((v) => typeof v !== "string")
    ) {
      return `error parsing secret template JSON: ${key} must map strings to strings`;
    }
    if (Object.keys(map).length > 0) out[key] = { ...(map as Record<string, string>) };
  }
  for (const k of Object.keys(out.annotations ?? {})) {
    if (k.startsWith(A.CERT_MANAGER_ANNOTATION_PREFIX))
      return `secretTemplate must not have cert-manager.io/ annotations: ${JSON.stringify(k)}`;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}
