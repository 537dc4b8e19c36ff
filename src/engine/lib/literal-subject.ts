/**
 * `spec.literalSubject` (an RFC 4514 string) as a {@link Name}, RDN order
 * preserved as written (cert-manager's LiteralCertificateSubject keeps the
 * order). src/pki has no RFC 4514 parser, so this is the one place the engine
 * still uses @peculiar/x509; it runs only for Certificates that set
 * literalSubject and is memoized per string.
 */
import "reflect-metadata";
import { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { NameOid } from "../../pki/index.js";
import type { Name } from "../../pki/index.js";

x509.cryptoProvider.set(webcrypto as never);

/** peculiar's short attribute names back to OIDs (its Name.toJSON uses them). */
const SHORT_NAMES: Record<string, string> = {
  CN: NameOid.commonName,
  L: NameOid.localityName,
  ST: NameOid.stateOrProvinceName,
  O: NameOid.organizationName,
  OU: NameOid.organizationalUnitName,
  C: NameOid.countryName,
  DC: NameOid.domainComponent,
  E: NameOid.emailAddress,
  G: "2.5.4.42",
  I: "2.5.4.43",
  SN: "2.5.4.4",
  T: "2.5.4.12",
};

const cache = new Map<string, Name>();
const CACHE_LIMIT = 1000;

/** Parses an RFC 4514 distinguished name; throws when it is not one. */
export function literalSubjectName(literal: string): Name {
  const hit = cache.get(literal);
  if (hit !== undefined) return hit;
  const name: Name = new x509.Name(literal)
    .toJSON()
    .map((rdn) => Object.entries(rdn).flatMap(([type, values]) => values.map((value) => ({ type: SHORT_NAMES[type] ?? type, value }))));
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
