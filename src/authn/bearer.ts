import { MeshsignError } from "../errors/index.js";
import type { AuthnInput } from "./types.js";

/** The exact, case-sensitive prefix istio-agent and ztunnel send (reference §3.1). */
const BEARER_PREFIX = "Bearer ";

/**
 * Largest bearer token accepted, in characters. Kubernetes service-account
 * tokens are about 1 KiB; the cap keeps hostile input away from the JWT parser
 * and out of cache keys.
 */
export const MAX_BEARER_TOKEN_LENGTH = 16 * 1024;

/**
 * Returns the token of the first `authorization` value that starts with exactly
 * `"Bearer "` (one space, capital B), as Istio's `ExtractBearerToken` does.
 * Values with another scheme (or `bearer` in lower case) are skipped.
 *
 * @throws MeshsignError ERR_TOKEN_MISSING when no value carries a bearer token,
 *   ERR_TOKEN_MALFORMED when the token is larger than {@link MAX_BEARER_TOKEN_LENGTH}.
 */
export function extractBearerToken(input: Pick<AuthnInput, "authorization">): string {
  const value = input.authorization.find((v) => v.startsWith(BEARER_PREFIX));
  const token = value?.slice(BEARER_PREFIX.length);
  if (token === undefined || token.length === 0) {
    throw new MeshsignError(
      "ERR_TOKEN_MISSING",
      'no bearer token (expected "authorization: Bearer <token>")',
      {
        detail: { authorizationValues: input.authorization.length },
      },
    );
  }
  if (token.length > MAX_BEARER_TOKEN_LENGTH) {
    throw new MeshsignError("ERR_TOKEN_MALFORMED", "bearer token too large", {
      detail: { length: token.length, max: MAX_BEARER_TOKEN_LENGTH },
    });
  }
  return token;
}
