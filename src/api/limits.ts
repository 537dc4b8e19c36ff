/**
 * How large a Certificate meshsign will issue. cert-manager has no such cap
 * (only etcd's 1.5 MiB object limit), but a certificate carrying hundreds of
 * kilobytes of names is not usable: OpenSSL's default limit for a peer's
 * whole certificate chain is 100 KiB, and Go's TLS stack refuses certificate
 * messages over 256 KiB. Public CAs cap a certificate at 100 to 250 names.
 *
 * The cap is on the encoded size of the names (subject and SANs), not on a
 * count, so that 2,000 short service names pass and 300 long URIs are held to
 * the same budget. The engine sizes its own CSR limit from it (a CSR at this
 * limit with an RSA 8192 key is about 95 KiB of PEM), so whatever validation
 * accepts can be issued, and the engine refuses the rest with the same
 * message instead of failing on every pass.
 */

/** Largest encoded size (DER bytes) of a Certificate's subject and subject alternative names: 64 KiB. */
export const MAX_CERTIFICATE_NAMES_BYTES = 64 * 1024;

/** The parts of a Certificate spec that end up as names in its certificate. */
export interface CertificateNamesInput {
  readonly commonName?: string | undefined;
  readonly literalSubject?: string | undefined;
  readonly subject?: Readonly<Record<string, readonly string[] | string | undefined>> | undefined;
  readonly dnsNames?: readonly string[] | undefined;
  readonly ipAddresses?: readonly string[] | undefined;
  readonly uris?: readonly string[] | undefined;
  readonly emailAddresses?: readonly string[] | undefined;
  readonly otherNames?: readonly { readonly oid?: string; readonly utf8Value?: string }[] | undefined;
}

/** A spec whose names exceed {@link MAX_CERTIFICATE_NAMES_BYTES}: the field that weighs most, and a message naming the limit. */
export interface CertificateSizeProblem {
  readonly path: readonly string[];
  readonly message: string;
}

/** DER length of a TLV whose contents take `n` bytes. */
function tlv(n: number): number {
  return 1 + (n < 0x80 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 4) + n;
}

function bytes(s: string): number {
  return Buffer.byteLength(s, "utf8");
}

/** One subject attribute: SET { SEQUENCE { OID (3 bytes), string } }. */
function attribute(value: string): number {
  return tlv(tlv(tlv(3) + tlv(bytes(value))));
}

/**
 * Encoded size (an upper bound, in DER bytes) of each name-bearing field of a
 * spec. An OID's dotted text is never shorter than its encoding, and a
 * literal subject is counted as one attribute per `=`.
 */
export function certificateNamesBytes(spec: CertificateNamesInput): Record<string, number> {
  const sum = (list: readonly string[] | undefined, size: (s: string) => number): number => (list ?? []).reduce((n, s) => n + size(s), 0);
  const subjectValues: string[] = [];
  for (const v of Object.values(spec.subject ?? {})) {
    if (typeof v === "string") subjectValues.push(v);
    else if (Array.isArray(v)) subjectValues.push(...v);
  }
  const literal = spec.literalSubject ?? "";
  return {
    commonName: spec.commonName === undefined || spec.commonName === "" ? 0 : attribute(spec.commonName),
    literalSubject: literal === "" ? 0 : bytes(literal) + 16 * (literal.split("=").length - 1),
    subject: sum(subjectValues, attribute),
    dnsNames: sum(spec.dnsNames, (s) => tlv(bytes(s))),
    ipAddresses: sum(spec.ipAddresses, (s) => tlv(s.includes(":") ? 16 : 4)),
    uris: sum(spec.uris, (s) => tlv(bytes(s))),
    emailAddresses: sum(spec.emailAddresses, (s) => tlv(bytes(s))),
    otherNames: (spec.otherNames ?? []).reduce((n, o) => n + tlv(tlv(bytes(o.oid ?? "")) + tlv(tlv(bytes(o.utf8Value ?? "")))), 0),
  };
}

/** Undefined when the spec's names fit {@link MAX_CERTIFICATE_NAMES_BYTES}; else what to tell the user. */
export function certificateSizeProblem(spec: CertificateNamesInput): CertificateSizeProblem | undefined {
  const sizes = certificateNamesBytes(spec);
  const total = Object.values(sizes).reduce((a, b) => a + b, 0);
  if (total <= MAX_CERTIFICATE_NAMES_BYTES) return undefined;
  const [field] = Object.entries(sizes).sort((a, b) => b[1] - a[1])[0] ?? ["dnsNames", 0];
  const list = (spec as Record<string, unknown>)[field];
  const count = Array.isArray(list) ? ` (${list.length} entries)` : "";
  return {
    path: [field],
    message: `the certificate's names would take ${total} bytes encoded, most of them in ${field}${count}; meshsign issues at most ${MAX_CERTIFICATE_NAMES_BYTES} bytes of names per certificate (TLS peers refuse much larger certificates): split the names over several Certificates`,
  };
}
