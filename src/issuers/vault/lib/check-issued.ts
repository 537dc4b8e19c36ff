/**
 * What a remote issuer returned is checked before it reaches a Secret or a
 * workload (Istio and istio-csr refuse such chains too; cert-manager passes
 * them on): the leaf certifies the CSR's key, carries exactly the requested
 * SANs, is valid now and no longer than asked, and chains to the root-most
 * certificate the issuer sent. The result is the chain leaf first without a
 * self-signed root, and that root-most certificate as `ca`.
 */
import { createHash } from "node:crypto";
import { MeshsignError } from "../../../errors/index.js";
import { type CertificateTemplate, type ParsedCertificate, decodePemAll, encodePem, orderChain, parseCertificate, verifyChain } from "../../../pki/index.js";

export interface IssuedBundle {
  /** The leaf, PEM. */
  readonly certificate: string;
  /** Every CA certificate the issuer sent (PEM), in any order. */
  readonly caCertificates: readonly string[];
}

export interface CheckedChain {
  readonly chain: readonly string[];
  readonly ca: string;
  readonly leaf: ParsedCertificate;
}

/** Slack for the issuer's clock and the time between building the template and signing. */
const CLOCK_SKEW_MS = 5 * 60_000;

function reject(what: string, detail: Record<string, unknown> = {}): never {
  throw new MeshsignError("ERR_CHAIN_INVALID", `the issuer returned a certificate meshsign refuses: ${what}`, { detail, retry: "terminal" });
}

function parseAll(pem: string, what: string): ParsedCertificate[] {
  try {
    return decodePemAll(pem, "CERTIFICATE").map((der) => parseCertificate(der));
  } catch (err) {
    return reject(`${what} is not a valid PEM certificate`, { error: err instanceof Error ? err.message : String(err) });
  }
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/** Canonical IP text (RFC 5952 for IPv6) so "::1" and "0:0::1" compare equal. */
function canonicalIp(ip: string): string {
  try {
    return ip.includes(":") ? new URL(`http://[${ip}]`).hostname.slice(1, -1) : ip;
  } catch {
    return ip;
  }
}

function sameSet(got: readonly string[], want: readonly string[], norm: (s: string) => string = (s) => s): boolean {
  const g = new Set(got.map(norm));
  const w = new Set(want.map(norm));
  return g.size === w.size && [...g].every((x) => w.has(x));
}

/**
 * An issuer sends the same CA certificates with every signature: they are
 * parsed, and their self-signatures checked, once per distinct PEM (a few
 * hundred microseconds per signature on the CreateCertificate hot path).
 */
const CA_CACHE_MAX = 16;
const parsedCas = new Map<string, ParsedCertificate[]>();
const selfSigned = new WeakMap<ParsedCertificate, boolean>();

function parseCa(pem: string): ParsedCertificate[] {
  let parsed = parsedCas.get(pem);
  if (parsed === undefined) {
    parsed = parseAll(pem, "a CA certificate");
    if (parsedCas.size >= CA_CACHE_MAX) parsedCas.clear();
    parsedCas.set(pem, parsed);
  }
  return parsed;
}

function isSelfSigned(c: ParsedCertificate): boolean {
  const known = selfSigned.get(c);
  if (known !== undefined) return known;
  let result = false;
  if (c.selfIssued) {
    try {
      result = c.verifySignature(c.publicKey());
    } catch {
      result = false;
    }
  }
  selfSigned.set(c, result);
  return result;
}

/** Checks `bundle` against `template` at `now`; throws ERR_CHAIN_INVALID naming what is wrong. */
export function checkIssued(bundle: IssuedBundle, template: CertificateTemplate, now: Date): CheckedChain {
  const leaves = parseAll(bundle.certificate, "the leaf certificate");
  const leaf = leaves[0];
  if (leaf === undefined || leaves.length !== 1) reject("expected exactly one leaf certificate");
  if (!bytesEqual(leaf.publicKeySpki, template.publicKeySpki)) reject("its public key is not the CSR's key", { serial: leaf.serialHex });
  if (!sameSet(leaf.uris, template.uris ?? [])) reject(`its URI SANs [${leaf.uris.join(", ")}] are not the requested [${(template.uris ?? []).join(", ")}]`);
  if (!sameSet(leaf.dnsNames, template.dnsNames ?? [], (s) => s.toLowerCase())) reject(`its DNS SANs [${leaf.dnsNames.join(", ")}] are not the requested [${(template.dnsNames ?? []).join(", ")}]`);
  if (!sameSet(leaf.ipAddresses, template.ipAddresses ?? [], canonicalIp)) reject(`its IP SANs [${leaf.ipAddresses.join(", ")}] are not the requested [${(template.ipAddresses ?? []).join(", ")}]`);
  if (leaf.basicConstraints?.isCA === true && !template.isCA) reject("it is a CA certificate but a leaf was requested");
  if (leaf.notAfter.getTime() > template.notAfter.getTime() + CLOCK_SKEW_MS) {
    reject(`it is valid until ${leaf.notAfter.toISOString()}, after the requested ${template.notAfter.toISOString()}`);
  }
  if (leaf.notBefore.getTime() > now.getTime() + CLOCK_SKEW_MS) reject(`it is not valid before ${leaf.notBefore.toISOString()}`);

  // The CA certificates: deduplicated, the leaf itself removed if the issuer repeated it.
  const seen = new Set<string>([createHash("sha256").update(leaf.der).digest("hex")]);
  const cas: ParsedCertificate[] = [];
  for (const pem of bundle.caCertificates) {
    for (const c of parseCa(pem)) {
      const fp = createHash("sha256").update(c.der).digest("hex");
      if (seen.has(fp)) continue;
      seen.add(fp);
      cas.push(c);
    }
  }
  if (cas.length === 0) reject("no CA certificate came with it, so its chain cannot be verified");
  let ordered: ParsedCertificate[];
  try {
    ordered = orderChain([leaf, ...cas]);
  } catch (err) {
    return reject(`its CA certificates do not form one chain (${err instanceof Error ? err.message : "unordered"})`);
  }
  if (!bytesEqual((ordered[0] as ParsedCertificate).der, leaf.der)) reject("the leaf is not at the bottom of the chain it came with");
  const rootMost = ordered.at(-1) as ParsedCertificate;
  try {
    verifyChain(leaf, ordered.slice(1, -1), [rootMost], { at: now });
  } catch (err) {
    return reject(`its chain does not verify (${err instanceof Error ? err.message : "invalid"})`);
  }
  const chain = ordered.filter((c, i) => i === 0 || !isSelfSigned(c)).map((c) => encodePem("CERTIFICATE", c.der));
  return { chain, ca: encodePem("CERTIFICATE", rootMost.der), leaf };
}
