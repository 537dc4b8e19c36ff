/**
 * A challenge token (RFC 8555 §8.3): base64url without padding, at least 128
 * bits of entropy (22 characters). Anything else is refused both from the CA
 * and on the solver's URL path, so a token can never carry `/`, `.` or `%`.
 */
export const TOKEN_PATTERN = /^[A-Za-z0-9_-]{22,256}$/;

export function isValidToken(token: string): boolean {
  return TOKEN_PATTERN.test(token);
}
