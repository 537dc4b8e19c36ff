/**
 * `spec.literalSubject` (an RFC 4514 string) as a {@link Name} in DER order:
 * the string is written last RDN first, so "CN=a, OU=b, O=c" encodes as
 * O, OU, CN, exactly as cert-manager encodes it (src/pki's
 * parseDistinguishedName). Memoized per string: it is read on every
 * reconcile of a Certificate that sets it.
 */
import { type Name, parseDistinguishedName } from "../../pki/index.js";

const cache = new Map<string, Name>();
const CACHE_LIMIT = 1000;

/** Parses an RFC 4514 distinguished name; throws DistinguishedNameError when meshsign cannot encode it. */
export function literalSubjectName(literal: string): Name {
  const hit = cache.get(literal);
  if (hit !== undefined) return hit;
  const name = parseDistinguishedName(literal);
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(literal, name);
  return name;
}

/** True when both Names hold the same RDNs in the same order (attributes within an RDN in any order). */
export function sameName(a: Name, b: Name): boolean {
  if (a.length !== b.length) return false;
  return a.every((rdn, i) => {
    const other = b[i] ?? [];
    if (rdn.length !== other.length) return false;
    const key = (x: { type: string; value: string }) => `${x.type}=${x.value}`;
    const want = rdn.map(key).sort();
    const got = other.map(key).sort();
    return want.every((v, j) => v === got[j]);
  });
}
