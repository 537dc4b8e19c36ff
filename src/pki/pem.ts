/**
 * PEM (RFC 7468) encode, decode and bundle splitting. Text outside the
 * encapsulation boundaries is ignored (RFC 7468 §2); inside, only base64 and
 * whitespace are accepted (strict base64, as RFC 7468 §3 "stricttextualmsg"
 * with tolerance for CRLF and trailing spaces).
 */
import { type ErrorCode, MeshsignError } from "../errors/index.js";

export interface PemBlock {
  /** The label, e.g. "CERTIFICATE". */
  readonly label: string;
  readonly der: Uint8Array;
}

const BEGIN = /-----BEGIN ([A-Z0-9 ]{0,64})-----/g;

/** PEM text for `der` under `label`, 64-character lines, ending with a newline. */
export function encodePem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString("base64");
  let body = "";
  for (let i = 0; i < b64.length; i += 64) body += `${b64.slice(i, i + 64)}\n`;
  return `-----BEGIN ${label}-----\n${body}-----END ${label}-----\n`;
}

const BASE64_BODY = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Every PEM block in `text`, in order. Throws `code` (default ERR_CERT_INVALID)
 * on an unterminated block, a mismatched END label or invalid base64.
 */
export function decodePemBlocks(text: string, code: ErrorCode = "ERR_CERT_INVALID"): PemBlock[] {
  const out: PemBlock[] = [];
  BEGIN.lastIndex = 0;
  for (let m = BEGIN.exec(text); m !== null; m = BEGIN.exec(text)) {
    const label = m[1] as string;
    const bodyStart = m.index + m[0].length;
    const endMarker = `-----END ${label}-----`;
    const end = text.indexOf("-----", bodyStart);
    if (end < 0 || !text.startsWith(endMarker, end)) {
      throw new MeshsignError(code, `PEM block ${label} has no matching END line`);
    }
    const body = text.slice(bodyStart, end).replace(/[ \t\r\n]+/g, "");
    if (!BASE64_BODY.test(body) || body.length % 4 !== 0) {
      throw new MeshsignError(code, `PEM block ${label} is not valid base64`);
    }
    out.push({ label, der: new Uint8Array(Buffer.from(body, "base64")) });
    BEGIN.lastIndex = end + endMarker.length;
  }
  return out;
}

/** The DER of every block labelled `label`; other labels are ignored. */
export function decodePemAll(
  text: string,
  label: string,
  code: ErrorCode = "ERR_CERT_INVALID",
): Uint8Array[] {
  return decodePemBlocks(text, code)
    .filter((b) => b.label === label)
    .map((b) => b.der);
}

/** Splits a PEM bundle into one PEM string per CERTIFICATE block (re-encoded canonically). */
export function splitPemBundle(text: string): string[] {
  return decodePemAll(text, "CERTIFICATE").map((der) => encodePem("CERTIFICATE", der));
}
