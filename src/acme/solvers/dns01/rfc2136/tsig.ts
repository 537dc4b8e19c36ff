/**
 * TSIG (RFC 8945): HMAC signatures over one DNS request and the answer to it,
 * with a key shared with the server. No maintained npm package signs DNS
 * messages with TSIG (dns-packet only names the record type), so this is the
 * small part written here: sign a request, verify its answer.
 *
 * Algorithms are the four cert-manager offers (HMAC-MD5, its default, SHA1,
 * SHA256, SHA512). MACs are never truncated (RFC 8945 5.2.2.1 allows it; we
 * neither send nor accept truncated ones). Checked against ISC's published
 * TSIG test vectors and a real Knot DNS server (test/dns).
 */
import { createHmac, type KeyObject, timingSafeEqual } from "node:crypto";
import { decodeName, decodeQuestion, decodeRecord, encodeName } from "../lib/wire.js";

export type TsigAlgorithm = "HMACMD5" | "HMACSHA1" | "HMACSHA256" | "HMACSHA512";

/** Algorithm names on the wire (RFC 8945 6). */
export const TSIG_ALGORITHM_NAMES: Readonly<Record<TsigAlgorithm, string>> = {
  HMACMD5: "hmac-md5.sig-alg.reg.int.",
  HMACSHA1: "hmac-sha1.",
  HMACSHA256: "hmac-sha256.",
  HMACSHA512: "hmac-sha512.",
};

const HASH: Readonly<Record<TsigAlgorithm, string>> = {
  HMACMD5: "md5",
  HMACSHA1: "sha1",
  HMACSHA256: "sha256",
  HMACSHA512: "sha512",
};

/** Seconds of clock skew allowed either way; cert-manager and BIND's nsupdate use 300. */
export const TSIG_FUDGE_SECONDS = 300;

/** TSIG error field values (RFC 8945 3, RFC 2845, RFC 4635). */
const TSIG_ERRORS: Readonly<Record<number, string>> = {
  16: "BADSIG",
  17: "BADKEY",
  18: "BADTIME",
  19: "BADMODE",
  20: "BADNAME",
  21: "BADALG",
  22: "BADTRUNC",
};

const TYPE_TSIG = 250;
const CLASS_ANY = 255;

export interface TsigKey {
  /** Key name as configured on the server, e.g. `meshsign-key.` */
  readonly name: string;
  readonly algorithm: TsigAlgorithm;
  /** The shared secret (decoded from base64), kept as a KeyObject so it is never printed by accident. */
  readonly secret: KeyObject;
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

function u48(n: number): Buffer {
  const b = Buffer.alloc(6);
  b.writeUIntBE(n, 0, 6);
  return b;
}

interface TsigFields {
  readonly keyName: string;
  readonly algorithmName: string;
  readonly timeSigned: number;
  readonly fudge: number;
  readonly error: number;
  readonly other: Buffer;
}

/** The TSIG variables that follow the message in the MAC input (RFC 8945 4.3.3). */
function tsigVariables(f: TsigFields): Buffer {
  return Buffer.concat([
    encodeName(f.keyName),
    u16(CLASS_ANY),
    Buffer.alloc(4), // TTL 0
    encodeName(f.algorithmName),
    u48(f.timeSigned),
    u16(f.fudge),
    u16(f.error),
    u16(f.other.length),
    f.other,
  ]);
}

function mac(key: TsigKey, parts: readonly Buffer[]): Buffer {
  const h = createHmac(HASH[key.algorithm], key.secret);
  for (const p of parts) h.update(p);
  return h.digest();
}

export interface SignedRequest {
  /** The message with the TSIG record appended and ARCOUNT raised by one. */
  readonly message: Buffer;
  /** The request MAC, needed to verify the answer. */
  readonly mac: Buffer;
}

/** Signs `message` (a complete DNS message without TSIG) at `timeSigned` (Unix seconds). */
export function signTsig(
  message: Buffer,
  key: TsigKey,
  timeSigned: number,
  fudge = TSIG_FUDGE_SECONDS,
): SignedRequest {
  const fields: TsigFields = {
    keyName: key.name,
    algorithmName: TSIG_ALGORITHM_NAMES[key.algorithm],
    timeSigned,
    fudge,
    error: 0,
    other: Buffer.alloc(0),
  };
  const digest = mac(key, [message, tsigVariables(fields)]);
  const rdata = Buffer.concat([
    encodeName(fields.algorithmName),
    u48(timeSigned),
    u16(fudge),
    u16(digest.length),
    digest,
    message.subarray(0, 2), // original ID
    u16(0), // error
    u16(0), // other len
  ]);
  const rr = Buffer.concat([
    encodeName(key.name),
    u16(TYPE_TSIG),
    u16(CLASS_ANY),
    Buffer.alloc(4),
    u16(rdata.length),
    rdata,
  ]);
  const out = Buffer.concat([message, rr]);
  out.writeUInt16BE(message.readUInt16BE(10) + 1, 10);
  return { message: out, mac: digest };
}

/** What the TSIG record of an answer says. */
export type TsigVerdict =
  | { readonly ok: true }
  /** The answer is not signed: no TSIG record, or a TSIG error with an empty MAC (BADKEY/BADSIG). */
  | { readonly ok: false; readonly kind: "unsigned"; readonly tsigError?: string }
  /** Signed and verified, but the server reports a TSIG error (BADTIME). */
  | { readonly ok: false; readonly kind: "server-error"; readonly tsigError: string }
  /** The signature does not verify, names another key or algorithm, or is out of time. */
  | { readonly ok: false; readonly kind: "invalid"; readonly why: string };

interface ParsedTsig {
  /** Offset of the TSIG record: the message before it is what was signed. */
  readonly start: number;
  readonly fields: TsigFields;
  readonly mac: Buffer;
  readonly originalId: number;
}

function tsigErrorName(code: number): string {
  return TSIG_ERRORS[code] ?? `TSIG error ${code}`;
}

/** Finds the TSIG record, which must be the last additional record (RFC 8945 5.1). */
function parseTsig(msg: Buffer): ParsedTsig | undefined {
  const counts = [4, 6, 8, 10].map((o) => msg.readUInt16BE(o));
  const [qd = 0, an = 0, ns = 0, ar = 0] = counts;
  if (ar === 0) return undefined;
  let offset = 12;
  for (let i = 0; i < qd; i++) offset += decodeQuestion(msg, offset).bytes;
  for (let i = 0; i < an + ns + ar - 1; i++) offset += decodeRecord(msg, offset).bytes;
  const start = offset;
  const owner = decodeName(msg, offset);
  offset += owner.bytes;
  if (msg.readUInt16BE(offset) !== TYPE_TSIG) return undefined;
  offset += 8; // type, class, TTL
  const rdlength = msg.readUInt16BE(offset);
  offset += 2;
  const end = offset + rdlength;
  if (end > msg.length) throw new RangeError("TSIG record overruns the message");
  const alg = decodeName(msg, offset);
  offset += alg.bytes;
  const timeSigned = msg.readUIntBE(offset, 6);
  const fudge = msg.readUInt16BE(offset + 6);
  const macSize = msg.readUInt16BE(offset + 8);
  offset += 10;
  const digest = msg.subarray(offset, offset + macSize);
  offset += macSize;
  const originalId = msg.readUInt16BE(offset);
  const error = msg.readUInt16BE(offset + 2);
  const otherLen = msg.readUInt16BE(offset + 4);
  const other = msg.subarray(offset + 6, offset + 6 + otherLen);
  if (offset + 6 + otherLen !== end) throw new RangeError("TSIG record length does not match its fields");
  return {
    start,
    fields: {
      keyName: owner.name,
      algorithmName: alg.name,
      timeSigned,
      fudge,
      error,
      other: Buffer.from(other),
    },
    mac: Buffer.from(digest),
    originalId,
  };
}

function sameName(a: string, b: string): boolean {
  return a.toLowerCase().replace(/\.$/, "") === b.toLowerCase().replace(/\.$/, "");
}

/**
 * Verifies the TSIG record of `answer` to a request signed with `key` whose
 * MAC was `requestMac` (RFC 8945 5.3), at `nowSeconds`. Throws RangeError
 * on a malformed message.
 */
export function verifyTsigAnswer(
  answer: Buffer,
  key: TsigKey,
  requestMac: Buffer,
  nowSeconds: number,
): TsigVerdict {
  const t = parseTsig(answer);
  if (t === undefined) return { ok: false, kind: "unsigned" };
  if (t.fields.error !== 0 && t.mac.length === 0)
    return { ok: false, kind: "unsigned", tsigError: tsigErrorName(t.fields.error) };
  if (!sameName(t.fields.keyName, key.name))
    return { ok: false, kind: "invalid", why: `signed with key ${t.fields.keyName}, not ${key.name}` };
  if (!sameName(t.fields.algorithmName, TSIG_ALGORITHM_NAMES[key.algorithm])) {
    return { ok: false, kind: "invalid", why: `signed with algorithm ${t.fields.algorithmName}` };
  }
  // The signed message is the answer without its TSIG record, with the original ID and ARCOUNT less one.
  const signed = Buffer.from(answer.subarray(0, t.start));
  signed.writeUInt16BE(t.originalId, 0);
  signed.writeUInt16BE(signed.readUInt16BE(10) - 1, 10);
  const expected = mac(key, [u16(requestMac.length), requestMac, signed, tsigVariables(t.fields)]);
  if (t.mac.length !== expected.length || !timingSafeEqual(t.mac, expected)) {
    return { ok: false, kind: "invalid", why: "the answer's TSIG signature does not verify" };
  }
  if (t.fields.error !== 0)
    return { ok: false, kind: "server-error", tsigError: tsigErrorName(t.fields.error) };
  if (Math.abs(nowSeconds - t.fields.timeSigned) > t.fields.fudge) {
    return { ok: false, kind: "invalid", why: "the answer's TSIG time is outside its fudge (clock skew)" };
  }
  return { ok: true };
}
