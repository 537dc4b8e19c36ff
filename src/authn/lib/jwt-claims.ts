import type { JWTPayload } from "jose";
import { parseJsonObject } from "./json-object.js";
import { tokenError } from "./token-errors.js";

/** What a verified token's claims must satisfy. */
export interface JwtClaimsPolicy {
  /** The exact `iss`. */
  readonly issuer: string;
  /** `aud` (a string or an array of strings) must contain one of these. */
  readonly audiences: readonly string[];
  /** Tolerance on `nbf`/`exp`, in seconds. */
  readonly clockToleranceSeconds: number;
}

/**
 * Parses the claims of a JWS payload whose signature was verified and checks
 * them (RFC 7519 §4.1): `iss`, `aud` and `exp` are required, `iss` must equal
 * the issuer, `aud` must contain an accepted audience, `iat`/`nbf`/`exp` must be
 * numbers, `nbf` not in the future and `exp` not in the past beyond the
 * tolerance. Checked in jose's order, so the first failure reported is the same.
 *
 * @throws MeshsignError ERR_TOKEN_MALFORMED (not a JSON object),
 *   ERR_TOKEN_ISSUER, ERR_TOKEN_AUDIENCE, ERR_TOKEN_CLAIMS,
 *   ERR_TOKEN_NOT_YET_VALID or ERR_TOKEN_EXPIRED. Messages never quote claim values.
 */
export function checkJwtClaims(payload: Uint8Array, policy: JwtClaimsPolicy, nowMs: number): JWTPayload {
  const claims = parseJsonObject(payload, "claims");
  if (!Object.hasOwn(claims, "iss"))
    throw tokenError("ERR_TOKEN_ISSUER", "token has no issuer", "iss missing");
  if (!Object.hasOwn(claims, "aud"))
    throw tokenError("ERR_TOKEN_AUDIENCE", "token has no audience", "aud missing");
  if (!Object.hasOwn(claims, "exp"))
    throw tokenError("ERR_TOKEN_CLAIMS", "token has no expiry (exp)", "exp missing");
  if (claims.iss !== policy.issuer)
    throw tokenError("ERR_TOKEN_ISSUER", "token issuer mismatch", "iss is not the expected issuer");
  if (!hasAudience(claims.aud, policy.audiences)) {
    throw tokenError("ERR_TOKEN_AUDIENCE", "token audience mismatch", "aud holds no accepted audience");
  }
  const now = Math.floor(nowMs / 1000);
  const tolerance = policy.clockToleranceSeconds;
  if (claims.iat !== undefined && typeof claims.iat !== "number") {
    throw tokenError("ERR_TOKEN_CLAIMS", 'token claim "iat" is invalid', "iat is not a number");
  }
  const nbf = claims.nbf;
  if (nbf !== undefined && typeof nbf !== "number") {
    throw tokenError("ERR_TOKEN_NOT_YET_VALID", "token not-before (nbf) is invalid", "nbf is not a number");
  }
  if (nbf !== undefined && nbf > now + tolerance) {
    throw tokenError("ERR_TOKEN_NOT_YET_VALID", "token not yet valid", "nbf is in the future");
  }
  const exp = claims.exp;
  if (typeof exp !== "number")
    throw tokenError("ERR_TOKEN_CLAIMS", "token expiry (exp) is invalid", "exp is not a number");
  if (exp <= now - tolerance) throw tokenError("ERR_TOKEN_EXPIRED", "token expired", "exp is in the past");
  return claims as JWTPayload;
}

function hasAudience(aud: unknown, accepted: readonly string[]): boolean {
  if (typeof aud === "string") return accepted.includes(aud);
  return Array.isArray(aud) && accepted.some((a) => aud.includes(a));
}
