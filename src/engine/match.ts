/**
 * Does an existing request or certificate still match the spec?
 * cert-manager's `RequestMatchesSpec` and `FuzzyX509AltNamesMatchSpec`
 * (`pkg/util/pki/match.go`). Each returns the names of the fields that
 * differ, so the condition message can say what changed.
 */
import { OID, type ParsedCsr, subjectFromSpec } from "./csr.js";
import type { CertificateRequest, CertificateSpec } from "./lib/api.js";
import { literalSubjectName, sameName } from "./lib/literal-subject.js";
import type { CertInfo } from "./lib/x509-info.js";
import { type ResolvedSpec, goDurationMs, resolveIssuerRef } from "./lib/spec.js";

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const sa = [...a].sort();
  const sb = [...b].sort();
  return sa.every((v, i) => v === sb[i]);
}

/** Equal to the nanosecond (Go's resolution), whatever floating point did to the fractions. */
function sameDuration(a: number | undefined, b: number): boolean {
  return a !== undefined && Math.round(a * 1e6) === Math.round(b * 1e6);
}

function normalizeIp(ip: string): string {
  // Compare IPv6 addresses in one canonical form ("::1" vs "0:0:0:0:0:0:0:1").
  if (!ip.includes(":")) return ip;
  try {
    return new URL(`http://[${ip}]/`).hostname;
  } catch {
    return ip;
  }
}

const SUBJECT_FIELDS: readonly [string, string][] = [
  [OID.commonName, "commonName"],
  [OID.organization, "subject.organizations"],
  [OID.organizationalUnit, "subject.organizationalUnits"],
  [OID.country, "subject.countries"],
  [OID.locality, "subject.localities"],
  [OID.province, "subject.provinces"],
  [OID.streetAddress, "subject.streetAddresses"],
  [OID.postalCode, "subject.postalCodes"],
  [OID.serialNumber, "subject.serialNumber"],
];

function valuesByOid(name: readonly (readonly { type: string; value: string }[])[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const rdn of name) for (const a of rdn) out.set(a.type, [...(out.get(a.type) ?? []), a.value]);
  return out;
}

/** Fields of `spec` that the request `cr` (with its parsed CSR) does not match. */
export function requestMismatches(cr: CertificateRequest, csr: ParsedCsr, certSpec: CertificateSpec, spec: ResolvedSpec): string[] {
  const out: string[] = [];
  if (certSpec.literalSubject !== undefined && certSpec.literalSubject !== "") {
    // cert-manager compares the DER; comparing the decoded RDNs is the same test without depending on
    // which string type (PrintableString or UTF8String) an encoder picked for the same text.
    let want: ReturnType<typeof literalSubjectName> | undefined;
    try {
      want = literalSubjectName(certSpec.literalSubject);
    } catch {
      want = undefined;
    }
    if (want === undefined || !sameName(want, csr.subject)) out.push("spec.literalSubject");
  } else {
    const want = valuesByOid(subjectFromSpec(certSpec));
    const got = valuesByOid(csr.subject);
    for (const [oid, field] of SUBJECT_FIELDS) {
      if (!sameSet(want.get(oid) ?? [], got.get(oid) ?? [])) out.push(`spec.${field}`);
    }
  }
  if (!sameSet(spec.dnsNames, csr.dnsNames)) out.push("spec.dnsNames");
  if (!sameSet(spec.ipAddresses.map(normalizeIp), csr.ipAddresses.map(normalizeIp))) out.push("spec.ipAddresses");
  if (!sameSet(spec.uris, csr.uris)) out.push("spec.uris");
  if (!sameSet(spec.emailAddresses, csr.emailAddresses)) out.push("spec.emailAddresses");
  // cert-manager compares otherNames only when the spec sets them (match.go).
  const otherNames = certSpec.otherNames ?? [];
  if (otherNames.length > 0 && !sameSet(otherNames.map((o) => `${o.oid}=${o.utf8Value}`), csr.otherNames.map((o) => `${o.oid}=${o.value}`))) {
    out.push("spec.otherNames");
  }
  if ((cr.spec.isCA ?? false) !== spec.isCA) out.push("spec.isCA");
  const crUsages = cr.spec.usages !== undefined && cr.spec.usages.length > 0 ? cr.spec.usages : ["digital signature", "key encipherment"];
  if (!sameSet(crUsages, spec.usages)) out.push("spec.usages");
  if (spec.durationSet && cr.spec.duration !== undefined && !sameDuration(goDurationMs(cr.spec.duration), spec.durationMs)) {
    out.push("spec.duration");
  }
  const a = resolveIssuerRef(cr.spec.issuerRef);
  const b = spec.issuerRef;
  if (a.name !== b.name || a.kind !== b.kind || a.group !== b.group) out.push("spec.issuerRef");
  return out;
}

/**
 * When no current request exists (deleted), compare the issued certificate's
 * names with the spec, tolerating a name moving between CN and dnsNames.
 */
export function certificateMismatches(info: CertInfo, spec: ResolvedSpec): string[] {
  const out: string[] = [];
  const want = new Set([...spec.dnsNames, ...(spec.commonName === undefined ? [] : [spec.commonName])]);
  const got = new Set([...info.dnsNames, ...(info.commonName === "" ? [] : [info.commonName])]);
  if (want.size !== got.size || [...want].some((n) => !got.has(n))) {
    // Name only the field that moved: a new commonName must not also list spec.dnsNames.
    if ((spec.commonName !== undefined && !got.has(spec.commonName)) || (info.commonName !== "" && !want.has(info.commonName))) out.push("spec.commonName");
    if (spec.dnsNames.some((n) => !got.has(n)) || info.dnsNames.some((n) => !want.has(n))) out.push("spec.dnsNames");
  }
  if (!sameSet(spec.ipAddresses.map(normalizeIp), info.ipAddresses.map(normalizeIp))) out.push("spec.ipAddresses");
  if (!sameSet(spec.uris, info.uris)) out.push("spec.uris");
  if (!sameSet(spec.emailAddresses, info.emailAddresses)) out.push("spec.emailAddresses");
  return out;
}
