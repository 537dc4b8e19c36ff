/**
 * Extension values of RFC 5280 §4.2 that meshsign reads or writes: SAN,
 * KeyUsage, ExtKeyUsage, BasicConstraints, SKI and AKI. The readers are
 * shared by the CSR and the certificate parser.
 */

import type { ErrorCode } from "../../errors/index.js";
import type { DerReader } from "../der/reader.js";
import { DerReader as Reader } from "../der/reader.js";
import {
  asciiString,
  boolean,
  constructed,
  explicit,
  implicitPrimitive,
  isIa5,
  namedBits,
  octetString,
  oid,
  sequence,
  smallInteger,
  Tag,
  tlv,
  utf8String,
} from "../der/writer.js";
import { ExtensionOid, ExtKeyUsageOid } from "../oids.js";
import type { ExtKeyUsage, KeyUsage, OtherName } from "../template.js";
import { formatIp, parseIp } from "./ip.js";

/** One extension as found in a certificate or a CSR's extensionRequest. */
export interface Extension {
  readonly oid: string;
  readonly critical: boolean;
  /** DER of extnValue's content (the inner encoding). */
  readonly value: Uint8Array;
}

export interface SubjectAltNames {
  readonly uris: string[];
  readonly dnsNames: string[];
  /** Canonical text (dotted quad, RFC 5952). */
  readonly ipAddresses: string[];
  readonly emailAddresses: string[];
  /** Count of GeneralNames of any other type (otherName, x400, directoryName, ediParty, registeredID). */
  otherNames: number;
}

export interface BasicConstraints {
  readonly isCA: boolean;
  readonly pathLen?: number;
}

/** Everything decoded from an Extensions list. */
export interface DecodedExtensions {
  readonly list: Extension[];
  san?: SubjectAltNames;
  sanCritical?: boolean;
  keyUsage?: KeyUsage[];
  /** Every EKU OID in order; `extKeyUsage` holds the names of the known ones. */
  extKeyUsageOids?: string[];
  extKeyUsage?: ExtKeyUsage[];
  basicConstraints?: BasicConstraints;
  subjectKeyId?: Uint8Array;
  authorityKeyId?: Uint8Array;
}

export const KEY_USAGE_BITS: readonly KeyUsage[] = [
  "digitalSignature",
  "contentCommitment",
  "keyEncipherment",
  "dataEncipherment",
  "keyAgreement",
  "keyCertSign",
  "cRLSign",
  "encipherOnly",
  "decipherOnly",
];

const EKU_BY_OID = new Map<string, ExtKeyUsage>(
  Object.entries(ExtKeyUsageOid).map(([name, o]) => [o, name as ExtKeyUsage]),
);

/** Reads `Extensions ::= SEQUENCE SIZE (1..MAX) OF Extension` from `r` (positioned at the SEQUENCE). */
export function decodeExtensions(r: DerReader): DecodedExtensions {
  const seq = r.sequence("Extensions");
  const out: DecodedExtensions = { list: [] };
  const seen = new Set<string>();
  while (!seq.atEnd()) {
    const e = seq.sequence("Extension");
    const id = e.oid(e.expect(Tag.OID, "extnID"));
    // DER omits a DEFAULT FALSE; an explicit FALSE is tolerated because Go and
    // several CSR generators write it, and it carries no ambiguity.
    const crit = e.optional(Tag.BOOLEAN);
    const critical = crit === undefined ? false : e.boolean(crit);
    const value = e.value(e.expect(Tag.OCTET_STRING, "extnValue"));
    e.finish("Extension");
    // RFC 5280 §4.2: "A certificate MUST NOT include more than one instance of a particular extension."
    if (seen.has(id)) seq.fail(`duplicate extension ${id}`);
    seen.add(id);
    out.list.push({ oid: id, critical, value });
    const v = new Reader(value, r.code);
    switch (id) {
      case ExtensionOid.subjectAltName:
        out.san = decodeSan(v);
        out.sanCritical = critical;
        break;
      case ExtensionOid.keyUsage:
        out.keyUsage = decodeKeyUsage(v);
        break;
      case ExtensionOid.extKeyUsage: {
        const oids = decodeEku(v);
        out.extKeyUsageOids = oids;
        out.extKeyUsage = oids.flatMap((o) => {
          const n = EKU_BY_OID.get(o);
          return n === undefined ? [] : [n];
        });
        break;
      }
      case ExtensionOid.basicConstraints:
        out.basicConstraints = decodeBasicConstraints(v);
        break;
      case ExtensionOid.subjectKeyIdentifier:
        out.subjectKeyId = v.value(v.expect(Tag.OCTET_STRING, "SubjectKeyIdentifier"));
        v.finish("SubjectKeyIdentifier");
        break;
      case ExtensionOid.authorityKeyIdentifier:
        out.authorityKeyId = decodeAki(v);
        break;
      default:
        break;
    }
  }
  if (out.list.length === 0) r.fail("empty Extensions");
  return out;
}

function decodeSan(r: DerReader): SubjectAltNames {
  const seq = r.sequence("SubjectAltName");
  r.finish("SubjectAltName");
  const san: SubjectAltNames = { uris: [], dnsNames: [], ipAddresses: [], emailAddresses: [], otherNames: 0 };
  while (!seq.atEnd()) {
    const g = seq.next();
    switch (g.tag) {
      case 0x81:
        san.emailAddresses.push(seq.ascii(seq.value(g), undefined, "rfc822Name"));
        break;
      case 0x82:
        san.dnsNames.push(seq.ascii(seq.value(g), undefined, "dNSName"));
        break;
      case 0x86:
        san.uris.push(seq.ascii(seq.value(g), undefined, "uniformResourceIdentifier"));
        break;
      case 0x87: {
        const ip = seq.value(g);
        if (ip.length !== 4 && ip.length !== 16) seq.fail("iPAddress length");
        san.ipAddresses.push(formatIp(ip));
        break;
      }
      case 0xa0: // otherName
      case 0xa3: // x400Address
      case 0xa4: // directoryName
      case 0xa5: // ediPartyName
      case 0x88: // registeredID
        san.otherNames++;
        break;
      default:
        seq.fail("unknown GeneralName type");
    }
  }
  return san;
}

function decodeKeyUsage(r: DerReader): KeyUsage[] {
  const { unusedBits, bytes } = r.bitString(r.expect(Tag.BIT_STRING, "KeyUsage"));
  r.finish("KeyUsage");
  const bits = bytes.length * 8 - unusedBits;
  const out: KeyUsage[] = [];
  for (let i = 0; i < bits; i++) {
    if (((bytes[i >> 3] as number) & (0x80 >> (i & 7))) === 0) continue;
    const name = KEY_USAGE_BITS[i];
    if (name === undefined) r.fail("undefined KeyUsage bit");
    out.push(name);
  }
  return out;
}

function decodeEku(r: DerReader): string[] {
  const seq = r.sequence("ExtKeyUsageSyntax");
  r.finish("ExtKeyUsageSyntax");
  const oids: string[] = [];
  while (!seq.atEnd()) oids.push(seq.oid(seq.expect(Tag.OID, "KeyPurposeId")));
  if (oids.length === 0) r.fail("empty ExtKeyUsageSyntax");
  return oids;
}

function decodeBasicConstraints(r: DerReader): BasicConstraints {
  const seq = r.sequence("BasicConstraints");
  r.finish("BasicConstraints");
  const ca = seq.optional(Tag.BOOLEAN);
  const isCA = ca === undefined ? false : seq.boolean(ca);
  const pl = seq.optional(Tag.INTEGER);
  seq.finish("BasicConstraints");
  if (pl === undefined) return { isCA };
  return { isCA, pathLen: seq.smallInteger(pl, "pathLenConstraint") };
}

function decodeAki(r: DerReader): Uint8Array | undefined {
  const seq = r.sequence("AuthorityKeyIdentifier");
  r.finish("AuthorityKeyIdentifier");
  const kid = seq.optional(0x80);
  // authorityCertIssuer [1] and authorityCertSerialNumber [2] are read and ignored.
  const issuer = seq.optional(0xa1);
  const serial = seq.optional(0x82);
  seq.finish("AuthorityKeyIdentifier");
  if ((issuer === undefined) !== (serial === undefined)) r.fail("AuthorityKeyIdentifier issuer/serial pair");
  return kid === undefined ? undefined : seq.value(kid);
}

// ---------------------------------------------------------------- encoding

export class ExtensionEncodingError extends Error {}

export function encodeExtension(id: string, critical: boolean, value: Uint8Array): Uint8Array {
  return critical
    ? sequence(oid(id), boolean(true), octetString(value))
    : sequence(oid(id), octetString(value));
}

const kuCache = new Map<string, Uint8Array>();
/** KeyUsage extension, always critical (RFC 5280 §4.2.1.3 SHOULD; X.509-SVID MUST). */
export function keyUsageExtension(usages: readonly KeyUsage[]): Uint8Array {
  const key = usages.join(",");
  let ext = kuCache.get(key);
  if (ext === undefined) {
    const bits = usages.map((u) => {
      const i = KEY_USAGE_BITS.indexOf(u);
      if (i < 0) throw new ExtensionEncodingError(`unknown key usage ${u}`);
      return i;
    });
    ext = encodeExtension(ExtensionOid.keyUsage, true, namedBits(bits));
    if (kuCache.size < 256) kuCache.set(key, ext);
  }
  return ext;
}

const ekuCache = new Map<string, Uint8Array>();
export function extKeyUsageExtension(usages: readonly ExtKeyUsage[]): Uint8Array {
  const key = usages.join(",");
  let ext = ekuCache.get(key);
  if (ext === undefined) {
    const oids = usages.map((u) => {
      const o = (ExtKeyUsageOid as Record<string, string>)[u];
      if (o === undefined) throw new ExtensionEncodingError(`unknown extended key usage ${u}`);
      return oid(o);
    });
    ext = encodeExtension(ExtensionOid.extKeyUsage, false, sequence(...oids));
    if (ekuCache.size < 256) ekuCache.set(key, ext);
  }
  return ext;
}

const LEAF_BASIC_CONSTRAINTS = encodeExtension(ExtensionOid.basicConstraints, true, sequence());
/** BasicConstraints, critical (RFC 5280 §4.2.1.9 MUST for CAs; also written for leaves, as Go does). */
export function basicConstraintsExtension(isCA: boolean, maxPathLen?: number): Uint8Array {
  if (!isCA) return LEAF_BASIC_CONSTRAINTS;
  const parts = [boolean(true)];
  if (maxPathLen !== undefined) parts.push(smallInteger(maxPathLen));
  return encodeExtension(ExtensionOid.basicConstraints, true, sequence(...parts));
}

export function subjectKeyIdExtension(keyId: Uint8Array): Uint8Array {
  return encodeExtension(ExtensionOid.subjectKeyIdentifier, false, octetString(keyId));
}

export function authorityKeyIdExtension(keyId: Uint8Array): Uint8Array {
  return encodeExtension(ExtensionOid.authorityKeyIdentifier, false, sequence(implicitPrimitive(0, keyId)));
}

function ia5Name(tagNumber: number, value: string, what: string): Uint8Array {
  if (value.length === 0 || !isIa5(value))
    throw new ExtensionEncodingError(`${what} must be non-empty ASCII`);
  return asciiString(0x80 | tagNumber, value);
}

/** One otherName GeneralName: `[0] { type-id OID, [0] EXPLICIT UTF8String }`. */
function otherName(o: OtherName): Uint8Array {
  if (!/^[0-2](\.(0|[1-9][0-9]*))+$/.test(o.oid)) throw new ExtensionEncodingError(`invalid otherName OID ${JSON.stringify(o.oid)}`);
  if (o.value.length === 0) throw new ExtensionEncodingError("otherName value must not be empty");
  return constructed(0xa0, [oid(o.oid), explicit(0, utf8String(o.value))]);
}

/**
 * The SAN extension value (without the Extension wrapper), in Go's order
 * (DNS, email, IP, URI, then otherName), which cert-manager keeps.
 */
export function encodeSanValue(names: {
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
  readonly uris?: readonly string[];
  readonly emailAddresses?: readonly string[];
  readonly otherNames?: readonly OtherName[];
}): Uint8Array | undefined {
  const parts: Uint8Array[] = [];
  for (const d of names.dnsNames ?? []) parts.push(ia5Name(2, d, "DNS name"));
  for (const e of names.emailAddresses ?? []) parts.push(ia5Name(1, e, "email address"));
  for (const ip of names.ipAddresses ?? []) {
    const b = parseIp(ip);
    if (b === undefined) throw new ExtensionEncodingError(`invalid IP address ${JSON.stringify(ip)}`);
    parts.push(tlv(0x87, b));
  }
  for (const u of names.uris ?? []) parts.push(ia5Name(6, u, "URI"));
  for (const o of names.otherNames ?? []) parts.push(otherName(o));
  return parts.length === 0 ? undefined : sequence(...parts);
}

/**
 * The otherName SANs whose value is a UTF8String, in order, from a SAN
 * extension value (other otherName values are skipped: meshsign cannot
 * re-encode them faithfully and does not ask for them).
 */
export function decodeUtf8OtherNames(value: Uint8Array, code: ErrorCode): OtherName[] {
  const top = new Reader(value, code);
  const seq = top.sequence("SubjectAltName");
  top.finish("SubjectAltName");
  const out: OtherName[] = [];
  while (!seq.atEnd()) {
    const g = seq.next();
    if (g.tag !== 0xa0) continue;
    const on = seq.inside(g, "otherName");
    const type = on.oid(on.expect(Tag.OID, "otherName type-id"));
    const wrapped = on.inside(on.expect(0xa0, "otherName value"), "otherName value");
    on.finish("otherName");
    const v = wrapped.next();
    wrapped.finish("otherName value");
    if (v.tag === Tag.UTF8_STRING) {
      const text = wrapped.string(v);
      if (text !== undefined) out.push({ oid: type, value: text });
    }
  }
  return out;
}
