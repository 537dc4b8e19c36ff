import { malformed } from "./token-errors.js";

/** Fatal on invalid UTF-8 (RFC 7515 §5.2: a JOSE header and a JWT's claims are UTF-8 JSON). */
const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * The JSON object `bytes` encode (a JOSE header, a JWT claims set).
 *
 * @throws MeshsignError ERR_TOKEN_MALFORMED naming `what` when the bytes are
 *   not UTF-8, not JSON, or not an object (an array or null included).
 */
export function parseJsonObject(bytes: Uint8Array, what: "header" | "claims"): Record<string, unknown> {
  const subject = what === "header" ? "header is" : "claims are";
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(bytes));
  } catch {
    throw malformed(`${subject} not UTF-8 JSON`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw malformed(`${subject} not a JSON object`);
  }
  return value as Record<string, unknown>;
}
