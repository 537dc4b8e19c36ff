/** Value of each base64url character (RFC 4648 §5), -1 for anything else. */
const VALUES = new Int8Array(128).fill(-1);
for (const [i, c] of [..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"].entries()) {
  VALUES[c.charCodeAt(0)] = i;
}

/**
 * Whether `text` is base64url in the one form RFC 7515 §2 allows: the URL-safe
 * alphabet only, no padding, no whitespace, and unused trailing bits zero (so
 * every byte string has exactly one encoding and a token cannot be altered
 * without changing what it decodes to).
 */
export function isStrictBase64url(text: string): boolean {
  const length = text.length;
  if (length % 4 === 1) return false;
  let last = 0;
  for (let i = 0; i < length; i++) {
    const code = text.charCodeAt(i);
    last = code < 128 ? (VALUES[code] ?? -1) : -1;
    if (last < 0) return false;
  }
  switch (length % 4) {
    case 2:
      return (last & 0x0f) === 0;
    case 3:
      return (last & 0x03) === 0;
    default:
      return true;
  }
}

/** The bytes of strict base64url `text`, or undefined when it is not (see {@link isStrictBase64url}). */
export function decodeBase64urlStrict(text: string): Buffer | undefined {
  return isStrictBase64url(text) ? Buffer.from(text, "base64url") : undefined;
}
