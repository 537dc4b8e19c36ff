/**
 * Reads a SPIFFE bundle document fetched from a bundle endpoint (untrusted
 * bytes): the X.509 authorities, `spiffe_sequence` and `spiffe_refresh_hint`.
 * Keys of other uses (`jwt-svid`) are skipped, as relying parties do; an
 * `x509-svid` key must carry exactly one parseable certificate (§4.2.1).
 */
import { X509Certificate } from "node:crypto";
import { MeshsignError } from "../errors/index.js";
import type { SpiffeBundleDocument, SpiffeX509Key } from "./spiffe-bundle.js";

/** Larger than any real bundle; guards JSON.parse against a hostile endpoint. */
const MAX_BUNDLE_BYTES = 1024 * 1024;

export function parseSpiffeBundle(text: string): SpiffeBundleDocument {
  if (Buffer.byteLength(text) > MAX_BUNDLE_BYTES) throw invalid(`is larger than ${MAX_BUNDLE_BYTES} bytes`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw invalid("is not JSON");
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw invalid("is not a JSON object");
  const { keys, spiffe_sequence: sequence, spiffe_refresh_hint: refreshHint } = doc as Record<string, unknown>;
  if (!Array.isArray(keys)) throw invalid('has no "keys" array');
  if (sequence !== undefined && !(Number.isSafeInteger(sequence) && (sequence as number) >= 0)) throw invalid("spiffe_sequence is not a non-negative integer");
  if (refreshHint !== undefined && !(Number.isSafeInteger(refreshHint) && (refreshHint as number) > 0)) throw invalid("spiffe_refresh_hint is not a positive integer");
  const x509Keys: SpiffeX509Key[] = [];
  for (const [i, key] of keys.entries()) {
    if (typeof key !== "object" || key === null) throw invalid(`key ${i + 1} is not an object`);
    const k = key as Record<string, unknown>;
    if (k.use !== "x509-svid") continue;
    const x5c = k.x5c;
    if (!Array.isArray(x5c) || x5c.length !== 1 || typeof x5c[0] !== "string") throw invalid(`x509-svid key ${i + 1} must hold exactly one certificate in x5c`);
    try {
      new X509Certificate(Buffer.from(x5c[0], "base64"));
    } catch {
      throw invalid(`x509-svid key ${i + 1}: its certificate does not parse`);
    }
    x509Keys.push({ ...k, kty: String(k.kty), use: "x509-svid", x5c: [x5c[0]] });
  }
  return {
    keys: x509Keys,
    spiffe_sequence: (sequence as number | undefined) ?? 0,
    spiffe_refresh_hint: (refreshHint as number | undefined) ?? 0,
  };
}

function invalid(what: string): MeshsignError {
  return new MeshsignError("ERR_CERT_INVALID", `the SPIFFE bundle ${what}`);
}
