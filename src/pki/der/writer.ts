/**
 * A small DER (X.690 §10) writer: every function returns the complete
 * encoding of one value as a fresh Uint8Array. Callers compose values
 * bottom-up; each constructed value copies its children once, which for
 * certificate-sized structures (about 1 KiB, depth < 10) is cheaper than a
 * general-purpose ASN.1 object model.
 *
 * Internal to src/pki: not re-exported from src/pki/index.ts.
 */

/** Universal tags used by X.509 and PKCS#10. */
export const Tag = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  TELETEX_STRING: 0x14,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  UNIVERSAL_STRING: 0x1c,
  BMP_STRING: 0x1e,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** Length of the DER length octets for a content of `n` bytes. */
function lengthSize(n: number): number {
  if (n < 0x80) return 1;
  if (n < 0x100) return 2;
  if (n < 0x10000) return 3;
  if (n < 0x1000000) return 4;
  return 5;
}

function writeLength(out: Uint8Array, pos: number, n: number): number {
  if (n < 0x80) {
    out[pos] = n;
    return pos + 1;
  }
  const size = lengthSize(n) - 1;
  out[pos++] = 0x80 | size;
  for (let i = size - 1; i >= 0; i--) out[pos++] = (n / 2 ** (8 * i)) & 0xff;
  return pos;
}

/** One TLV with a single-byte tag (all tags meshsign writes are < 31). */
export function tlv(tag: number, content: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + lengthSize(content.length) + content.length);
  out[0] = tag;
  out.set(content, writeLength(out, 1, content.length));
  return out;
}

/** One TLV whose content is the concatenation of `parts` (copied once). */
export function constructed(tag: number, parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(1 + lengthSize(n) + n);
  out[0] = tag;
  let pos = writeLength(out, 1, n);
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

export function sequence(...parts: Uint8Array[]): Uint8Array {
  return constructed(Tag.SEQUENCE, parts);
}

/** SET OF: DER (X.690 §11.6) orders the elements by their encodings. */
export function setOf(parts: readonly Uint8Array[]): Uint8Array {
  const sorted = parts.length > 1 ? [...parts].sort(compareBytes) : parts;
  return constructed(Tag.SET, sorted);
}

export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

/** Context-specific EXPLICIT tag `[n]` around a complete encoding. */
export function explicit(n: number, inner: Uint8Array): Uint8Array {
  return tlv(0xa0 | n, inner);
}

/** Context-specific IMPLICIT primitive tag `[n]` with raw content. */
export function implicitPrimitive(n: number, content: Uint8Array): Uint8Array {
  return tlv(0x80 | n, content);
}

export const NULL_VALUE = new Uint8Array([Tag.NULL, 0]);
const TRUE_VALUE = new Uint8Array([Tag.BOOLEAN, 1, 0xff]);
const FALSE_VALUE = new Uint8Array([Tag.BOOLEAN, 1, 0x00]);

export function boolean(v: boolean): Uint8Array {
  return v ? TRUE_VALUE : FALSE_VALUE;
}

/**
 * INTEGER from unsigned big-endian magnitude bytes: strips redundant leading
 * zeros and adds one 0x00 when the top bit is set, so the value stays positive.
 */
export function unsignedInteger(magnitude: Uint8Array): Uint8Array {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const body = magnitude.subarray(start);
  if (body.length === 0) return new Uint8Array([Tag.INTEGER, 1, 0]);
  if (((body[0] as number) & 0x80) !== 0) {
    const content = new Uint8Array(body.length + 1);
    content.set(body, 1);
    return tlv(Tag.INTEGER, content);
  }
  return tlv(Tag.INTEGER, body);
}

/** INTEGER from a small non-negative safe integer. */
export function smallInteger(v: number): Uint8Array {
  if (!Number.isSafeInteger(v) || v < 0)
    throw new RangeError("smallInteger expects a non-negative safe integer");
  const bytes: number[] = [];
  let x = v;
  do {
    bytes.unshift(x % 256);
    x = Math.floor(x / 256);
  } while (x > 0);
  return unsignedInteger(Uint8Array.from(bytes));
}

/** BIT STRING with `unusedBits` (0..7) in the last octet. */
export function bitString(bytes: Uint8Array, unusedBits = 0): Uint8Array {
  const content = new Uint8Array(bytes.length + 1);
  content[0] = unusedBits;
  content.set(bytes, 1);
  return tlv(Tag.BIT_STRING, content);
}

/**
 * A NamedBitList BIT STRING (X.690 §11.2.2: trailing zero bits removed) from
 * the positions of the bits that are set (bit 0 is the most significant bit
 * of the first octet).
 */
export function namedBits(positions: readonly number[]): Uint8Array {
  if (positions.length === 0) return new Uint8Array([Tag.BIT_STRING, 1, 0]);
  const highest = Math.max(...positions);
  const bytes = new Uint8Array((highest >> 3) + 1);
  for (const p of positions) bytes[p >> 3] = (bytes[p >> 3] as number) | (0x80 >> (p & 7));
  return bitString(bytes, 7 - (highest & 7));
}

export function octetString(bytes: Uint8Array): Uint8Array {
  return tlv(Tag.OCTET_STRING, bytes);
}

const oidCache = new Map<string, Uint8Array>();

/** OBJECT IDENTIFIER from dotted text; encodings are cached (the set of OIDs is small). */
export function oid(dotted: string): Uint8Array {
  const cached = oidCache.get(dotted);
  if (cached !== undefined) return cached;
  const arcs = dotted.split(".").map((s) => {
    if (!/^(0|[1-9][0-9]*)$/.test(s)) throw new RangeError(`invalid OID ${dotted}`);
    return BigInt(s);
  });
  const [a, b] = arcs;
  if (a === undefined || b === undefined || a > 2n || (a < 2n && b > 39n))
    throw new RangeError(`invalid OID ${dotted}`);
  const bytes: number[] = [];
  const push = (v: bigint) => {
    const chunk: number[] = [Number(v & 0x7fn)];
    for (let x = v >> 7n; x > 0n; x >>= 7n) chunk.unshift(Number(x & 0x7fn) | 0x80);
    bytes.push(...chunk);
  };
  push(a * 40n + b);
  for (const arc of arcs.slice(2)) push(arc);
  const out = tlv(Tag.OID, Uint8Array.from(bytes));
  if (oidCache.size < 1024) oidCache.set(dotted, out);
  return out;
}

const encoder = new TextEncoder();

export function utf8String(s: string): Uint8Array {
  return tlv(Tag.UTF8_STRING, encoder.encode(s));
}

/** Caller must have checked the character set (see isPrintable / isIa5). */
export function asciiString(tag: number, s: string): Uint8Array {
  const content = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) content[i] = s.charCodeAt(i);
  return tlv(tag, content);
}

const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;
export function isPrintable(s: string): boolean {
  return PRINTABLE.test(s);
}

export function isIa5(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, "0");
}

/**
 * X.509 Time (RFC 5280 §4.1.2.5): UTCTime for 1950-2049, GeneralizedTime
 * otherwise; seconds precision, always "Z". Sub-second parts are truncated.
 */
export function time(date: Date): Uint8Array {
  const ms = date.getTime();
  if (!Number.isFinite(ms)) throw new RangeError("invalid date");
  const y = date.getUTCFullYear();
  if (y < 0 || y > 9999) throw new RangeError("year out of range");
  const rest =
    pad(date.getUTCMonth() + 1, 2) +
    pad(date.getUTCDate(), 2) +
    pad(date.getUTCHours(), 2) +
    pad(date.getUTCMinutes(), 2) +
    pad(date.getUTCSeconds(), 2) +
    "Z";
  if (y >= 1950 && y < 2050) return asciiString(Tag.UTC_TIME, pad(y % 100, 2) + rest);
  return asciiString(Tag.GENERALIZED_TIME, pad(y, 4) + rest);
}
