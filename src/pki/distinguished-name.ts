/**
 * RFC 4514 distinguished-name strings to a {@link Name}, as cert-manager reads
 * `spec.literalSubject` (go-ldap's ParseDN, then its own attribute table):
 *
 * - the string is written last RDN first (RFC 4514 §2.1), so the RDNs are
 *   reversed: "CN=a, OU=b, O=c" is the DER sequence O, OU, CN;
 * - "+" joins attributes into one multi-valued RDN;
 * - attribute types are the short names cert-manager knows (C, O, OU, CN,
 *   SERIALNUMBER, L, ST, STREET, DC, UID; case as written) or a dotted OID;
 *   anything else is refused with the type named, never encoded as garbage;
 * - values take RFC 4514 escapes (`\,` and `\2C`) and the `#hex` form of a
 *   DER string; unescaped spaces around a value are dropped.
 */
import { NameOid } from "./oids.js";
import type { Name, NameAttribute } from "./template.js";

/** The string is not an RFC 4514 name meshsign can encode; the message says why. */
export class DistinguishedNameError extends Error {
  /** For an unknown attribute type: the type as written and its value (cert-manager's message quotes the value). */
  readonly unknownType?: { readonly type: string; readonly value: string };

  constructor(message: string, unknownType?: { type: string; value: string }) {
    super(message);
    if (unknownType !== undefined) this.unknownType = unknownType;
  }
}

/** cert-manager's attributeTypeNames table (pkg/util/pki/subject.go). */
const TYPES: Readonly<Record<string, string>> = {
  C: NameOid.countryName,
  O: NameOid.organizationName,
  OU: NameOid.organizationalUnitName,
  CN: NameOid.commonName,
  SERIALNUMBER: NameOid.serialNumber,
  L: NameOid.localityName,
  ST: NameOid.stateOrProvinceName,
  STREET: NameOid.streetAddress,
  DC: NameOid.domainComponent,
  UID: NameOid.userId,
};

const OID_TEXT = /^[0-2](\.(0|[1-9][0-9]*))+$/;
const SPECIAL = new Set([",", "+", '"', "\\", "<", ">", ";", "=", " ", "#"]);

function attributeType(raw: string, value: string): string {
  const t = raw.trim();
  const known = Object.hasOwn(TYPES, t) ? TYPES[t] : undefined;
  if (known !== undefined) return known;
  if (OID_TEXT.test(t)) return t;
  throw new DistinguishedNameError(
    `unknown attribute type ${JSON.stringify(t)}: use one of ${Object.keys(TYPES).join(", ")} or a dotted OID`,
    { type: t, value },
  );
}

/** A `#hex` value: the DER of a UTF8String, PrintableString or IA5String, decoded to its text. */
function hexValue(hex: string): string {
  if (hex.length === 0 || hex.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(hex)) {
    throw new DistinguishedNameError("a #hex value must be an even number of hex digits");
  }
  const b = Buffer.from(hex, "hex");
  const tag = b[0];
  if (tag !== 0x0c && tag !== 0x13 && tag !== 0x16) {
    throw new DistinguishedNameError("a #hex value must encode a UTF8String, PrintableString or IA5String");
  }
  let len = b[1] ?? 0;
  let off = 2;
  if (len === 0x81 || len === 0x82) {
    const n = len - 0x80;
    len = n === 1 ? (b[2] ?? 0) : ((b[2] ?? 0) << 8) | (b[3] ?? 0);
    off = 2 + n;
  } else if (len > 0x7f) {
    throw new DistinguishedNameError("a #hex value has an unsupported length");
  }
  if (off + len !== b.length) throw new DistinguishedNameError("a #hex value's length does not match its content");
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(b.subarray(off));
  } catch {
    throw new DistinguishedNameError("a #hex value is not valid UTF-8");
  }
}

/**
 * Parses `text` (RFC 4514, as cert-manager accepts it) into DER RDN order.
 * Throws DistinguishedNameError. An empty string is the empty name.
 */
export function parseDistinguishedName(text: string): Name {
  const rdns: NameAttribute[][] = [];
  let rdn: NameAttribute[] = [];
  let i = 0;
  const n = text.length;
  if (text.trim() === "") return [];
  for (;;) {
    // Attribute type up to "=".
    const eq = text.indexOf("=", i);
    if (eq < 0) throw new DistinguishedNameError(`expected "type=value" at position ${i}`);
    const typeText = text.slice(i, eq);
    if (/[,+;\\"]/.test(typeText) || typeText.trim() === "") throw new DistinguishedNameError(`expected "type=value" at position ${i}`);
    i = eq + 1;
    while (i < n && text[i] === " ") i++;
    let value: string;
    if (text[i] === "#") {
      let j = i + 1;
      while (j < n && /[0-9a-fA-F]/.test(text[j] as string)) j++;
      value = hexValue(text.slice(i + 1, j));
      i = j;
      while (i < n && text[i] === " ") i++;
      if (i < n && text[i] !== "," && text[i] !== "+" && text[i] !== ";") {
        throw new DistinguishedNameError(`unexpected ${JSON.stringify(text[i])} after a #hex value at position ${i}`);
      }
    } else {
      const bytes: number[] = [];
      let trailingSpaces = 0; // unescaped spaces at the end are not part of the value
      const enc = new TextEncoder();
      while (i < n) {
        const c = text[i] as string;
        if (c === "," || c === "+" || c === ";") break;
        if (c === "\\") {
          const next = text[i + 1];
          if (next !== undefined && /[0-9a-fA-F]/.test(next) && /[0-9a-fA-F]/.test(text[i + 2] ?? "")) {
            bytes.push(Number.parseInt(text.slice(i + 1, i + 3), 16));
            i += 3;
          } else if (next !== undefined && SPECIAL.has(next)) {
            bytes.push(...enc.encode(next));
            i += 2;
          } else {
            throw new DistinguishedNameError(`invalid escape at position ${i}`);
          }
          trailingSpaces = 0;
          continue;
        }
        // RFC 4514 §2.4: these must be escaped inside a value ("=" need not be).
        if (c === '"' || c === "<" || c === ">") {
          throw new DistinguishedNameError(`character ${JSON.stringify(c)} at position ${i} must be escaped`);
        }
        const cp = text.codePointAt(i) as number;
        const ch = String.fromCodePoint(cp);
        bytes.push(...enc.encode(ch));
        trailingSpaces = c === " " ? trailingSpaces + 1 : 0;
        i += ch.length;
      }
      const kept = bytes.slice(0, bytes.length - trailingSpaces);
      try {
        value = new TextDecoder("utf-8", { fatal: true }).decode(new Uint8Array(kept));
      } catch {
        throw new DistinguishedNameError("an escaped value is not valid UTF-8");
      }
    }
    rdn.push({ type: attributeType(typeText, value), value });
    if (i >= n) break;
    const sep = text[i];
    i++;
    if (sep !== "+") {
      rdns.push(rdn);
      rdn = [];
    }
    while (i < n && text[i] === " ") i++;
    if (i >= n) throw new DistinguishedNameError("the name ends with a separator");
  }
  rdns.push(rdn);
  return rdns.reverse();
}
