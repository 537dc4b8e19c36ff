import { createHash } from "node:crypto";

/**
 * Key identifier per RFC 5280 §4.2.1.2 method (1): the SHA-1 hash of the
 * subjectPublicKey BIT STRING value (without tag, length and unused-bits
 * octet). This is what Go's crypto/x509 and OpenSSL's "hash" compute, so
 * identifiers match certificates those tools issue for the same key. SHA-1 is
 * used here as an identifier, not for security.
 */
export function keyIdentifier(subjectPublicKeyBits: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha1").update(subjectPublicKeyBits).digest());
}
