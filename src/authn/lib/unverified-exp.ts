/**
 * Reads `exp` from a JWT's payload WITHOUT verifying anything. Use it only to
 * make decisions stricter (bound a cache lifetime, refuse an obviously expired
 * token early), never to accept a token. Undefined when the token is not a
 * JWT or has no numeric exp.
 */
export function unverifiedExpiry(token: string): number | undefined {
  const parts = token.split(".");
  if (parts.length !== 3 || parts[1] === undefined) return undefined;
  try {
    const payload: unknown = JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8"));
    const exp = (payload as { exp?: unknown } | null)?.exp;
    return typeof exp === "number" && Number.isFinite(exp) ? exp : undefined;
  } catch {
    return undefined;
  }
}
