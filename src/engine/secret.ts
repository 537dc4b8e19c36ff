/**
 * The target Secret, as cert-manager's issuing controller writes it
 * (reference 5.3): type kubernetes.io/tls (an existing Secret keeps its type),
 * tls.crt (leaf + intermediates), tls.key (per privateKey.encoding), ca.crt
 * when the issuer knows the CA, key.der / tls-combined.pem when
 * additionalOutputFormats asks for them, the cert-manager.io/* annotations
 * taken from the issued certificate, the `controller.cert-manager.io/fao`
 * label, and secretTemplate metadata.
 */
import { ANN, LABEL } from "./lib/annotations.js";
import type { Certificate, Secret } from "./lib/api.js";
import type { ResolvedSpec } from "./lib/spec.js";
import type { CertInfo } from "./lib/x509-info.js";
import { OID } from "./csr.js";

/** Keys of secretTemplate we applied last time, so removals propagate (cert-manager uses SSA managed fields). */
export const TEMPLATE_KEYS_ANNOTATION = "meshsign.io/secret-template-keys";

/**
 * One CSV record, as cert-manager's JoinWithEscapeCSV writes it (Go's
 * encoding/csv): a value with a comma, a quote, a line break or a leading
 * space is quoted with inner quotes doubled, so ingress-shim and users can
 * split the annotation back into the names.
 */
function csv(values: readonly string[]): string {
  return values.map((v) => (v !== "" && (/[",\r\n]/.test(v) || /^\s/u.test(v) || v === "\\.") ? `"${v.replace(/"/g, '""')}"` : v)).join(",");
}

/** cert-manager skips an annotation whose values would not read back from the CSV (a CR LF pair does not). */
const csvSafe = (values: readonly string[]): boolean => values.every((v) => !v.includes("\r\n"));

/** The cert-manager.io/* annotations for an issued certificate. */
export function certificateAnnotations(cert: Certificate, spec: ResolvedSpec, info: CertInfo): Record<string, string> {
  const out: Record<string, string> = {
    [ANN.certificateName]: cert.metadata.name ?? "",
    [ANN.issuerName]: spec.issuerRef.name,
    [ANN.issuerKind]: spec.issuerRef.kind,
    [ANN.issuerGroup]: spec.issuerRef.group,
    [ANN.commonName]: info.commonName,
  };
  // As cert-manager's AnnotationsForCertificate: the three SAN lists always (even empty), e-mail
  // addresses and subject fields only when present, each only when its CSV reads back.
  const lists: [string, readonly string[], boolean][] = [
    [ANN.emailSans, info.emailAddresses, false],
    [ANN.altNames, info.dnsNames, true],
    [ANN.ipSans, info.ipAddresses, true],
    [ANN.uriSans, info.uris, true],
  ];
  for (const [ann, values, keepEmpty] of lists) {
    if ((values.length > 0 || keepEmpty) && csvSafe(values)) out[ann] = csv(values);
  }
  const subject: [string, string][] = [
    [OID.organization, ANN.subjectOrganizations],
    [OID.organizationalUnit, ANN.subjectOrganizationalUnits],
    [OID.country, ANN.subjectCountries],
    [OID.province, ANN.subjectProvinces],
    [OID.locality, ANN.subjectLocalities],
    [OID.postalCode, ANN.subjectPostalCodes],
    [OID.streetAddress, ANN.subjectStreetAddresses],
    [OID.serialNumber, ANN.subjectSerialNumber],
  ];
  for (const [oid, ann] of subject) {
    const v = info.subject.get(oid);
    if (v !== undefined && v.length > 0 && csvSafe(v)) out[ann] = csv(v);
  }
  return out;
}

/** Annotations {@link certificateAnnotations} sets only when the certificate has the value. */
const DETAIL_ANNOTATIONS = [
  ANN.emailSans,
  ANN.subjectOrganizations,
  ANN.subjectOrganizationalUnits,
  ANN.subjectCountries,
  ANN.subjectProvinces,
  ANN.subjectLocalities,
  ANN.subjectPostalCodes,
  ANN.subjectStreetAddresses,
  ANN.subjectSerialNumber,
  ANN.altNames,
  ANN.ipSans,
  ANN.uriSans,
] as const;

/** Desired labels and annotations: existing ones kept, ours enforced, template keys we no longer manage removed. */
export function desiredMetadata(
  existing: Secret | undefined,
  cert: Certificate,
  spec: ResolvedSpec,
  info: CertInfo,
): { labels: Record<string, string>; annotations: Record<string, string> } {
  const template = cert.spec.secretTemplate ?? {};
  const previous = (existing?.metadata.annotations?.[TEMPLATE_KEYS_ANNOTATION] ?? "").split(",").filter((k) => k !== "");
  const labels = { ...(existing?.metadata.labels ?? {}) };
  const annotations = { ...(existing?.metadata.annotations ?? {}) };
  for (const k of previous) {
    if (k.startsWith("l:")) {
      const name = k.slice(2);
      if (template.labels?.[name] === undefined) delete labels[name];
    } else if (k.startsWith("a:")) {
      const name = k.slice(2);
      if (template.annotations?.[name] === undefined) delete annotations[name];
    }
  }
  Object.assign(labels, template.labels ?? {}, { [LABEL.fao]: "true" });
  // The certificate's detail annotations are ours alone and sent whole (cert-manager's server-side
  // apply drops those it no longer sends): one the previous certificate had and this one has not
  // (an e-mail SAN, a subject field) goes, or tooling would read names the certificate lacks.
  for (const k of DETAIL_ANNOTATIONS) delete annotations[k];
  // cert-manager.io/* keys are forbidden in secretTemplate; ours win regardless.
  Object.assign(annotations, template.annotations ?? {}, certificateAnnotations(cert, spec, info));
  const managed = [
    ...Object.keys(template.labels ?? {}).map((k) => `l:${k}`),
    ...Object.keys(template.annotations ?? {}).map((k) => `a:${k}`),
  ].sort();
  if (managed.length > 0) annotations[TEMPLATE_KEYS_ANNOTATION] = managed.join(",");
  else delete annotations[TEMPLATE_KEYS_ANNOTATION];
  return { labels, annotations };
}

export interface SecretPayload {
  readonly keyPem: string;
  readonly chainPem: string;
  readonly caPem: string | undefined;
}

const b64 = (s: string): string => Buffer.from(s, "utf8").toString("base64");

/** Secret keys of the additional output formats (cert-manager's CertificateOutputFormat*Key). */
export const OUTPUT_FORMAT_KEYS = { DER: "key.der", CombinedPEM: "tls-combined.pem" } as const;

/**
 * Sets (base64) the additional output formats the spec asks for, derived from
 * tls.key and tls.crt as cert-manager's OutputFormatDER / OutputFormatCombinedPEM
 * do, and removes those it no longer asks for.
 */
function applyOutputFormats(data: Record<string, string>, cert: Certificate, keyPem: string, chainPem: string): void {
  const wanted = new Set((cert.spec.additionalOutputFormats ?? []).map((f) => f.type));
  if (wanted.has("DER")) {
    // The DER of tls.key's PEM block, in the encoding tls.key uses.
    const body = /-----BEGIN [A-Z ]+-----([\s\S]*?)-----END [A-Z ]+-----/.exec(keyPem)?.[1] ?? "";
    data[OUTPUT_FORMAT_KEYS.DER] = Buffer.from(body.replace(/\s+/g, ""), "base64").toString("base64");
  } else delete data[OUTPUT_FORMAT_KEYS.DER];
  if (wanted.has("CombinedPEM")) data[OUTPUT_FORMAT_KEYS.CombinedPEM] = b64(`${keyPem}\n${chainPem}`);
  else delete data[OUTPUT_FORMAT_KEYS.CombinedPEM];
}

/** The Secret to write after an issuance (create when `existing` is undefined). */
export function buildSecret(existing: Secret | undefined, cert: Certificate, spec: ResolvedSpec, info: CertInfo, payload: SecretPayload): Secret {
  const { labels, annotations } = desiredMetadata(existing, cert, spec, info);
  const data: Record<string, string> = { ...(existing?.data ?? {}) };
  data["tls.crt"] = b64(payload.chainPem);
  data["tls.key"] = b64(payload.keyPem);
  if (payload.caPem !== undefined && payload.caPem !== "") data["ca.crt"] = b64(payload.caPem);
  else delete data["ca.crt"];
  applyOutputFormats(data, cert, payload.keyPem, payload.chainPem);
  return {
    apiVersion: "v1",
    kind: "Secret",
    type: existing?.type ?? "kubernetes.io/tls",
    metadata: {
      ...(existing?.metadata ?? {}),
      name: spec.secretName,
      namespace: cert.metadata.namespace,
      labels,
      annotations,
    },
    data,
  };
}

function sameRecord(a: Record<string, string> | undefined, b: Record<string, string>): boolean {
  const ak = Object.keys(a ?? {});
  if (ak.length !== Object.keys(b).length) return false;
  return ak.every((k) => a?.[k] === b[k]);
}

/**
 * The post-issuance check: when the Secret's metadata or additional output
 * formats drifted from what the spec and certificate call for, returns the
 * corrected Secret (same key and certificate, no new issuance); undefined
 * when it is up to date.
 */
export function reapplyMetadata(existing: Secret, cert: Certificate, spec: ResolvedSpec, info: CertInfo): Secret | undefined {
  const { labels, annotations } = desiredMetadata(existing, cert, spec, info);
  const data: Record<string, string> = { ...(existing.data ?? {}) };
  const text = (k: string) => Buffer.from(data[k] ?? "", "base64").toString("utf8");
  applyOutputFormats(data, cert, text("tls.key"), text("tls.crt"));
  if (sameRecord(existing.metadata.labels, labels) && sameRecord(existing.metadata.annotations, annotations) && sameRecord(existing.data, data)) return undefined;
  return { ...existing, metadata: { ...existing.metadata, labels, annotations }, data };
}
