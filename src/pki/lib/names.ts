/**
 * X.501 Name encode/decode (RFC 5280 §4.1.2.4, §4.1.2.6).
 *
 * Encoding picks PrintableString when the value fits its character set and
 * UTF8String otherwise (RFC 5280 §4.1.2.4 "MUST use UTF8String" for new
 * values, PrintableString allowed for backward compatibility and what Go and
 * OpenSSL emit for ASCII). countryName is always PrintableString (X.520), and
 * emailAddress / domainComponent are IA5String (RFC 5280 Appendix A).
 */

import type { DerReader, Tlv } from "../der/reader.js";
import { asciiString, isIa5, isPrintable, oid, sequence, setOf, Tag, utf8String } from "../der/writer.js";
import { NameOid } from "../oids.js";
import type { Name, NameAttribute } from "../template.js";

const EMPTY_NAME = new Uint8Array([Tag.SEQUENCE, 0]);

export class NameEncodingError extends Error {}

function encodeValue(a: NameAttribute): Uint8Array {
  if (a.type === NameOid.countryName) {
    if (!isPrintable(a.value)) throw new NameEncodingError("countryName must be a PrintableString");
    return asciiString(Tag.PRINTABLE_STRING, a.value);
  }
  if (a.type === NameOid.emailAddress || a.type === NameOid.domainComponent) {
    if (!isIa5(a.value)) throw new NameEncodingError("emailAddress and domainComponent must be IA5 text");
    return asciiString(Tag.IA5_STRING, a.value);
  }
  return isPrintable(a.value) ? asciiString(Tag.PRINTABLE_STRING, a.value) : utf8String(a.value);
}

/** DER of a Name; an absent or empty name is the empty SEQUENCE. */
export function encodeName(name: Name | undefined): Uint8Array {
  if (name === undefined || name.length === 0) return EMPTY_NAME;
  return sequence(
    ...name.map((rdn) => {
      if (rdn.length === 0) throw new NameEncodingError("empty RDN");
      return setOf(rdn.map((a) => sequence(oid(a.type), encodeValue(a))));
    }),
  );
}

/**
 * Reads a Name at the reader's position. Values that are not strings keep
 * their raw encoding as RFC 4514 "#hex" text.
 */
export function decodeName(r: DerReader): { name: Name; raw: Uint8Array } {
  const outer: Tlv = r.expect(Tag.SEQUENCE, "Name");
  const rdns = r.inside(outer, "Name");
  const name: NameAttribute[][] = [];
  while (!rdns.atEnd()) {
    const set = rdns.inside(rdns.expect(Tag.SET, "RelativeDistinguishedName"), "RDN");
    const rdn: NameAttribute[] = [];
    while (!set.atEnd()) {
      const atv = set.sequence("AttributeTypeAndValue");
      const type = atv.oid(atv.expect(Tag.OID, "attribute type"));
      const v = atv.next();
      atv.finish("AttributeTypeAndValue");
      const text = atv.string(v);
      rdn.push({ type, value: text ?? `#${Buffer.from(atv.raw(v)).toString("hex")}` });
    }
    if (rdn.length === 0) r.fail("empty RDN");
    name.push(rdn);
  }
  return { name, raw: r.raw(outer) };
}

/** The first commonName value, or undefined. */
export function commonNameOf(name: Name): string | undefined {
  for (const rdn of name) for (const a of rdn) if (a.type === NameOid.commonName) return a.value;
  return undefined;
}
