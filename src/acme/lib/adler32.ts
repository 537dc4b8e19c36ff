/**
 * Adler-32 (RFC 1950 §8.2) of a UTF-8 string, as an unsigned integer. Only
 * for cert-manager's HTTP-01 solver labels, which carry the decimal Adler-32
 * of the domain and the token (Go's hash/adler32); never for integrity.
 * Node's zlib exposes crc32 but not adler32, and the sum is four lines.
 */
export function adler32(text: string): number {
  let a = 1;
  let b = 0;
  for (const byte of Buffer.from(text, "utf8")) {
    a = (a + byte) % 65521;
    b = (b + a) % 65521;
  }
  return (b * 65536 + a) >>> 0;
}
