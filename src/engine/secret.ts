/**
 * The target Secret, as cert-manager's issuing controller writes it
 * (reference 5.3): type kubernetes.io/tls, tls.crt (leaf + intermediates),
 * tls.key (per privateKey.encoding), ca.crt when the issuer knows the CA, the
 * cert-manager.io/* annotations taken from the issued certificate, the
 * `controller.cert-manager.io/fao` label, and secretTemplate metadata.
 */
import { ANN, LABEL } from "./lib/annotations.js";
import type { Certificate, Secret } from "./lib/api.js";
import type { ResolvedSpec } from "./lib/spec.js";
import type { CertInfo } from "./lib/x509-info.js";
import { OID } from "./csr.js";

/** Keys of secretTemplate we applied last time, so removals propagate (cert-manager uses SSA managed fields). */
export const TEMPLATE_KEYS_ANNOTATION = "meshsign.io/secret-template-keys";

const csv = (values: readonly string[]): string => values.join(",");

/** The cert-manager.io/* annotations for an issued certificate. */
export function certificateAnnotations(cert: Certificate, spec: ResolvedSpec, info: CertInfo): Record<string, string> {
  const out: Record<string, string> = {
    [ANN.certificateName]: cert.metadata.name ?? "",
    [ANN.issuerName]: spec.issuerRef.name,
    [ANN.issuerKind]: spec.issuerRef.kind,
    [ANN.issuerGroup]: spec.issuerRef.group,
    [ANN.commonName]: info.commonName,
    [ANN.altNames]: csv(info.dnsNames),
    [ANN.ipSans]: csv(info.ipAddresses),
    [ANN.uriSans]: csv(info.uris),
    [ANN.emailSans]: csv(info.emailAddresses),
  };
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
    if (v !== undefined && v.length > 0) out[ann] = csv(v);
  }
  return out;
}

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

/** The Secret to write after an issuance (create when `existing` is undefined). */
export function buildSecret(existing: Secret | undefined, cert: Certificate, spec: ResolvedSpec, info: CertInfo, payload: SecretPayload): Secret {
  const { labels, annotations } = desiredMetadata(existing, cert, spec, info);
  const data: Record<string, string> = { ...(existing?.data ?? {}) };
  data["tls.crt"] = b64(payload.chainPem);
  data["tls.key"] = b64(payload.keyPem);
  if (payload.caPem !== undefined && payload.caPem !== "") data["ca.crt"] = b64(payload.caPem);
  else delete data["ca.crt"];
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
 * The post-issuance check: when the Secret's metadata drifted from what the
 * spec and certificate call for, returns the corrected Secret (same key and
 * certificate, no new issuance); undefined when it is up to date.
 */
export function reapplyMetadata(existing: Secret, cert: Certificate, spec: ResolvedSpec, info: CertInfo): Secret | undefined {
  const { labels, annotations } = desiredMetadata(existing, cert, spec, info);
  if (sameRecord(existing.metadata.labels, labels) && sameRecord(existing.metadata.annotations, annotations)) return undefined;
  return { ...existing, metadata: { ...existing.metadata, labels, annotations } };
}
