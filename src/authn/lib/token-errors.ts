import { type ErrorCode, MeshsignError } from "../../errors/index.js";

/**
 * A client-safe token rejection: `message` names the rule that failed and is
 * what the caller sees; `reason` says more for the log. Neither ever holds the
 * token or a claim value.
 */
export function tokenError(code: ErrorCode, message: string, reason: string): MeshsignError {
  return new MeshsignError(code, message, { detail: { reason } });
}

/** The token is not a well-formed compact JWS / JWT. */
export function malformed(reason: string): MeshsignError {
  return tokenError("ERR_TOKEN_MALFORMED", "token malformed", reason);
}
