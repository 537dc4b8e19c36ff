/**
 * A minimal, strict DER (X.690 §10) reader for untrusted bytes.
 *
 * - definite lengths only, in minimal form (no leading zero length octets,
 *   long form only for lengths >= 128), at most 4 length octets;
 * - low-tag-number form only (X.509 and PKCS#10 never need tag numbers > 30);
 * - every length is checked against the enclosing value before use, so a
 *   hostile length can neither read out of bounds nor allocate;
 * - primitive decoders enforce DER canonical forms (minimal INTEGERs,
 *   BOOLEAN 0x00/0xFF, zero unused bits, UTCTime/GeneralizedTime with "Z").
 *
 * The reader never recurses on its own; structure depth is bounded by the
 * code that walks it. Every failure is a MeshsignError with the code the
 * caller chose (ERR_CSR_DER, ERR_CERT_INVALID, ...).
 *
 * Internal to src/pki: not re-exported from src/pki/index.ts.
 */
import { type ErrorCode, MeshsignError } from "../../errors/index.js";
import { Tag } from "./writer.js";

/** One tag-length-value: offsets into the reader's buffer. */
export interface Tlv {
  readonly tag: number;
  /** Offset of the tag octet. */
  readonly start: number;
  /** Offset of the first content octet. */
  readonly valueStart: number;
  /** Offset just past the content. */
  readonly end: number;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

export class DerReader {
  pos: number;

  constructor(
    readonly buf: Uint8Array,
    readonly code: ErrorCode,
    start = 0,
    readonly end: number = buf.length,
  ) {
    this.pos = start;
  }

  fail(what: string): never {
    throw new MeshsignError(this.code, `malformed DER: ${what}`, { detail: { offset: this.pos } });
  }

  atEnd(): boolean {
    return this.pos >= this.end;
  }

  /** Requires that nothing follows in this reader's range. */
  finish(what: string): void {
    if (this.pos !== this.end) this.fail(`trailing data after ${what}`);
  }

  peekTag(): number | undefined {
    return this.pos < this.end ? this.buf[this.pos] : undefined;
  }

  next(): Tlv {
    const buf = this.buf;
    const start = this.pos;
    if (start >= this.end) this.fail("unexpected end of data");
    const tag = buf[start] as number;
    if ((tag & 0x1f) === 0x1f) this.fail("high tag number form");
    if (start + 1 >= this.end) this.fail("missing length");
    let len = buf[start + 1] as number;
    let valueStart = start + 2;
    if (len & 0x80) {
      const n = len & 0x7f;
      if (n === 0) this.fail("indefinite length");
      if (n > 4) this.fail("length too large");
      if (valueStart + n > this.end) this.fail("truncated length");
      if (buf[valueStart] === 0) this.fail("non-minimal length");
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + (buf[valueStart + i] as number);
      if (len < 0x80) this.fail("non-minimal length");
      valueStart += n;
    }
    if (len > this.end - valueStart) this.fail("length exceeds data");
    const end = valueStart + len;
    this.pos = end;
    return { tag, start, valueStart, end };
  }

  expect(tag: number, what: string): Tlv {
    if (this.peekTag() !== tag) this.fail(`expected ${what}`);
    return this.next();
  }

  /** The next TLV if it has `tag`, else undefined (nothing consumed). */
  optional(tag: number): Tlv | undefined {
    return this.peekTag() === tag ? this.next() : undefined;
  }

  /** A reader over the content of a constructed TLV. */
  inside(t: Tlv, what: string): DerReader {
    if ((t.tag & 0x20) === 0) this.fail(`${what} is not constructed`);
    return new DerReader(this.buf, this.code, t.valueStart, t.end);
  }

  /** Reads a SEQUENCE and returns a reader over its content. */
  sequence(what: string): DerReader {
    return this.inside(this.expect(Tag.SEQUENCE, what), what);
  }

  value(t: Tlv): Uint8Array {
    return this.buf.subarray(t.valueStart, t.end);
  }

  raw(t: Tlv): Uint8Array {
    return this.buf.subarray(t.start, t.end);
  }

  // ---- primitive decoders (the TLV's tag was already checked by the caller) ----

  /** INTEGER content bytes (two's complement), checked minimal. */
  integer(t: Tlv, what: string): Uint8Array {
    const v = this.value(t);
    if (v.length === 0) this.fail(`empty ${what}`);
    if (v.length > 1) {
      const a = v[0] as number;
      const b = v[1] as number;
      if ((a === 0 && b < 0x80) || (a === 0xff && b >= 0x80)) this.fail(`non-minimal ${what}`);
    }
    return v;
  }

  /** A non-negative INTEGER that fits 31 bits (versions, path lengths, salt lengths). */
  smallInteger(t: Tlv, what: string): number {
    const v = this.integer(t, what);
    if (((v[0] as number) & 0x80) !== 0) this.fail(`negative ${what}`);
    if (v.length > 4 && !(v.length === 5 && v[0] === 0)) this.fail(`${what} too large`);
    let n = 0;
    for (const b of v) n = n * 256 + b;
    if (n > 0x7fffffff) this.fail(`${what} too large`);
    return n;
  }

  boolean(t: Tlv): boolean {
    if (t.end - t.valueStart !== 1) this.fail("BOOLEAN length");
    const b = this.buf[t.valueStart];
    if (b === 0) return false;
    if (b === 0xff) return true;
    return this.fail("non-canonical BOOLEAN");
  }

  null(t: Tlv): void {
    if (t.end !== t.valueStart) this.fail("NULL with content");
  }

  /** OBJECT IDENTIFIER as dotted text. */
  oid(t: Tlv): string {
    const buf = this.buf;
    if (t.end === t.valueStart) this.fail("empty OID");
    if (((buf[t.end - 1] as number) & 0x80) !== 0) this.fail("truncated OID");
    const arcs: string[] = [];
    let i = t.valueStart;
    let first = true;
    while (i < t.end) {
      if (buf[i] === 0x80) this.fail("non-minimal OID arc");
      let n = 0;
      let big: bigint | undefined;
      for (;;) {
        const b = buf[i++] as number;
        if (big !== undefined) big = (big << 7n) | BigInt(b & 0x7f);
        else if (n >= 2 ** 45) big = (BigInt(n) << 7n) | BigInt(b & 0x7f);
        else n = n * 128 + (b & 0x7f);
        if ((b & 0x80) === 0) break;
      }
      if (first) {
        first = false;
        if (big !== undefined) {
          arcs.push("2", String(big - 80n));
        } else if (n < 40) arcs.push("0", String(n));
        else if (n < 80) arcs.push("1", String(n - 40));
        else arcs.push("2", String(n - 80));
      } else arcs.push(big !== undefined ? big.toString() : String(n));
    }
    return arcs.join(".");
  }

  /** BIT STRING: returns the unused-bit count and the data octets (unused bits checked zero). */
  bitString(t: Tlv): { unusedBits: number; bytes: Uint8Array } {
    const v = this.value(t);
    if (v.length === 0) this.fail("empty BIT STRING");
    const unusedBits = v[0] as number;
    if (unusedBits > 7) this.fail("BIT STRING unused bits");
    if (v.length === 1 && unusedBits !== 0) this.fail("BIT STRING unused bits");
    if (unusedBits !== 0 && ((v[v.length - 1] as number) & ((1 << unusedBits) - 1)) !== 0) {
      this.fail("BIT STRING padding bits set");
    }
    return { unusedBits, bytes: v.subarray(1) };
  }

  /** UTCTime or GeneralizedTime in the DER forms RFC 5280 §4.1.2.5 allows. */
  time(t: Tlv, what: string): Date {
    const v = this.value(t);
    let s = "";
    for (const b of v) s += String.fromCharCode(b);
    let year: number;
    let rest: string;
    if (t.tag === Tag.UTC_TIME) {
      if (!/^[0-9]{12}Z$/.test(s)) this.fail(`${what} UTCTime format`);
      const yy = Number(s.slice(0, 2));
      year = yy >= 50 ? 1900 + yy : 2000 + yy;
      rest = s.slice(2);
    } else if (t.tag === Tag.GENERALIZED_TIME) {
      if (!/^[0-9]{14}Z$/.test(s)) this.fail(`${what} GeneralizedTime format`);
      year = Number(s.slice(0, 4));
      rest = s.slice(4);
    } else {
      return this.fail(`${what} is not a time`);
    }
    const month = Number(rest.slice(0, 2));
    const day = Number(rest.slice(2, 4));
    const hour = Number(rest.slice(4, 6));
    const minute = Number(rest.slice(6, 8));
    const second = Number(rest.slice(8, 10));
    const ms = Date.UTC(year, month - 1, day, hour, minute, second);
    const d = new Date(ms);
    if (year < 100) d.setUTCFullYear(year);
    if (
      month < 1 ||
      month > 12 ||
      hour > 23 ||
      minute > 59 ||
      second > 59 ||
      d.getUTCDate() !== day ||
      d.getUTCMonth() !== month - 1
    ) {
      this.fail(`${what} out of range`);
    }
    return d;
  }

  /** A directory string (or IA5/Printable/...) as text; undefined for non-string tags. */
  string(t: Tlv): string | undefined {
    const v = this.value(t);
    switch (t.tag) {
      case Tag.UTF8_STRING:
        try {
          return utf8.decode(v);
        } catch {
          return this.fail("invalid UTF8String");
        }
      case Tag.PRINTABLE_STRING:
        return this.ascii(v, /^[A-Za-z0-9 '()+,\-./:=?]*$/, "PrintableString");
      case Tag.IA5_STRING:
      case 0x12: // NumericString
      case 0x1a: // VisibleString
        return this.ascii(v, undefined, "IA5String");
      case Tag.TELETEX_STRING: {
        // T.61 is treated as Latin-1, as OpenSSL and Go do.
        let s = "";
        for (const b of v) s += String.fromCharCode(b);
        return s;
      }
      case Tag.BMP_STRING: {
        if (v.length % 2 !== 0) this.fail("BMPString length");
        let s = "";
        for (let i = 0; i < v.length; i += 2)
          s += String.fromCharCode(((v[i] as number) << 8) | (v[i + 1] as number));
        return s;
      }
      case Tag.UNIVERSAL_STRING: {
        if (v.length % 4 !== 0) this.fail("UniversalString length");
        let s = "";
        for (let i = 0; i < v.length; i += 4) {
          const cp =
            (((v[i] as number) << 24) |
              ((v[i + 1] as number) << 16) |
              ((v[i + 2] as number) << 8) |
              (v[i + 3] as number)) >>>
            0;
          if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) this.fail("UniversalString code point");
          s += String.fromCodePoint(cp);
        }
        return s;
      }
      default:
        return undefined;
    }
  }

  /** IA5 (7-bit) text of a primitive value, used for GeneralName strings too. */
  ascii(v: Uint8Array, charset: RegExp | undefined, what: string): string {
    let s = "";
    for (const b of v) {
      if (b > 0x7f) this.fail(`non-ASCII ${what}`);
      s += String.fromCharCode(b);
    }
    if (charset !== undefined && !charset.test(s)) this.fail(`invalid ${what}`);
    return s;
  }
}
