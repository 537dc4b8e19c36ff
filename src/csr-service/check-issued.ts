/**
 * What a remote issuer (Vault) signed for CreateCertificate is checked before
 * it reaches a workload, the way Istio's and istio-csr's clients check it:
 * the leaf certifies the CSR's public key, its one URI SAN is the identity
 * meshsign authorized, its DNS and IP SANs are the requested ones (none for
 * an SVID), it is not a CA, it allows what a workload does with it (the
 * X.509-SVID minimum: digitalSignature if it has a KeyUsage, serverAuth and
 * clientAuth if it has an ExtKeyUsage), its validity lies inside the
 * requested one, and it is issued by the first intermediate the issuer sent
 * (if any) and chains through them up to one of the mesh roots the response
 * ends with. An
 * in-process CA needs no such check (its one start-up self-test proves its
 * chain); a remote one can change under us.
 *
 * It is the last gate before the workload and the only check of the leaf on
 * this path (the remote issuer checks only its CA certificates,
 * `leafCheckedByCaller`), and it runs for every answer: the intermediates
 * and roots are parsed, and the links between them verified, once per
 * distinct value ({@link ChainVerifier}), so a leaf costs one parse and one
 * signature verification.
 */
import { MeshsignError } from "../errors/index.js";
import {
  type CertificateTemplate,
  ChainVerifier,
  decodePemAll,
  missingUsages,
  type ParseCertificateOptions,
  type ParsedCertificate,
  parseCertificate,
} from "../pki/index.js";

/** Which check refused the certificate: the label of the refusal metric. */
export type IssuedCheck = "parse" | "public_key" | "uri_san" | "san" | "ca" | "usage" | "validity" | "chain";

/** Slack for the issuer's clock: Vault back-dates notBefore by 30 s and rounds the TTL to seconds. */
const CLOCK_SKEW_MS = 5 * 60_000;

function refuse(check: IssuedCheck, what: string, detail: Record<string, unknown> = {}): never {
  throw new MeshsignError(
    "ERR_CHAIN_INVALID",
    `the issuer returned a certificate meshsign refuses: ${what}`,
    {
      retry: "terminal",
      detail: { check, ...detail },
    },
  );
}

function parseOne(pem: string, what: string, options: ParseCertificateOptions = {}): ParsedCertificate[] {
  try {
    return decodePemAll(pem, "CERTIFICATE").map((der) => parseCertificate(der, options));
  } catch (err) {
    return refuse("parse", `${what} is not a valid PEM certificate`, {
      error: err instanceof Error ? err.message : String(err),
    });
  }
}

/** The mesh roots change rarely (rotation): parsed once per bundle, not once per call. */
let rootsCache: { pem: string; parsed: ParsedCertificate[] } | undefined;

function parsedRoots(pem: string): ParsedCertificate[] {
  if (rootsCache?.pem !== pem) rootsCache = { pem, parsed: parseOne(pem, "the mesh roots") };
  return rootsCache.parsed;
}

/**
 * A remote issuer sends the same intermediates with every leaf: parsed and
 * linked to the roots once. Compared by value (string equality) rather than
 * through a joined key, which would copy and hash kilobytes per call.
 */
const VERIFIER_CACHE_MAX = 16;
const verifiers: {
  readonly rootsPem: string;
  readonly pems: readonly string[];
  readonly intermediates: ParsedCertificate[];
  readonly verifier: ChainVerifier;
}[] = [];

function verifierFor(intermediatePems: readonly string[], rootsPem: string) {
  const same = (e: (typeof verifiers)[number]) =>
    e.rootsPem === rootsPem &&
    e.pems.length === intermediatePems.length &&
    e.pems.every((p, i) => p === intermediatePems[i]);
  let entry = verifiers.find(same);
  if (entry === undefined) {
    const intermediates = intermediatePems.flatMap((p) => parseOne(p, "an intermediate certificate"));
    entry = {
      rootsPem,
      pems: [...intermediatePems],
      intermediates,
      verifier: new ChainVerifier(intermediates, parsedRoots(rootsPem)),
    };
    if (verifiers.length >= VERIFIER_CACHE_MAX) verifiers.pop();
    verifiers.unshift(entry);
  }
  return entry;
}

/**
 * What a sidecar or ztunnel does with its certificate, as SPIFFE X509-SVID §4.3-4.4 requires of a
 * leaf: sign TLS handshakes (digitalSignature), as a server and as a client. keyEncipherment, which
 * meshsign's own SVIDs carry for RSA keys, is not required of a remote issuer's leaf: it serves only
 * RSA key transport, which proxies negotiating TLS 1.3 or ECDHE suites do not use, and a Vault role
 * may leave it out (refusing such leaves would stop every RSA workload for no gain).
 */
const WORKLOAD_USAGES = { keyUsage: ["digitalSignature"], extKeyUsage: ["serverAuth", "clientAuth"] } as const;

/** Canonical IP text (RFC 5952 for IPv6) so "::1" and "0:0::1" compare equal. */
function canonicalIp(ip: string): string {
  try {
    return ip.includes(":") ? new URL(`http://[${ip}]`).hostname.slice(1, -1) : ip;
  } catch {
    return ip;
  }
}

function sameSet(got: readonly string[], want: readonly string[], norm: (s: string) => string): boolean {
  if (got.length === 0 && want.length === 0) return true;
  const g = new Set(got.map(norm));
  const w = new Set(want.map(norm));
  return g.size === w.size && [...g].every((x) => w.has(x));
}

/**
 * Checks a signed chain (leaf first, then intermediates) against what was
 * authorized and returns the leaf's notAfter (what was issued, which a remote
 * issuer may have cut short); throws ERR_CHAIN_INVALID naming the failed
 * check (`detail.check`) otherwise.
 */
export function checkIssuedForWorkload(input: {
  readonly chain: readonly string[];
  readonly template: CertificateTemplate;
  readonly identity: string;
  /** Concatenated PEM of the mesh roots the response will end with. */
  readonly rootsPem: string;
  readonly now: Date;
}): { readonly notAfter: Date } {
  const [leafPem, ...intermediatePems] = input.chain;
  if (leafPem === undefined) refuse("parse", "no certificate came back");
  // The leaf's key is compared byte for byte with the CSR's (imported when the CSR was parsed), never used.
  const leaves = parseOne(leafPem, "the leaf certificate", { lazyKey: true });
  const leaf = leaves[0];
  if (leaf === undefined || leaves.length !== 1) refuse("parse", "expected exactly one leaf certificate");
  const serial = leaf.serialHex;
  if (!Buffer.from(leaf.publicKeySpki).equals(Buffer.from(input.template.publicKeySpki)))
    refuse("public_key", "its public key is not the CSR's key", { serial });
  if (leaf.uris.length !== 1 || leaf.uris[0] !== input.identity) {
    refuse(
      "uri_san",
      `its URI SANs [${leaf.uris.join(", ")}] are not the authorized identity ${input.identity}`,
      { serial },
    );
  }
  const { dnsNames = [], ipAddresses = [] } = input.template;
  if (
    !sameSet(leaf.dnsNames, dnsNames, (n) => n.toLowerCase()) ||
    !sameSet(leaf.ipAddresses, ipAddresses, canonicalIp)
  ) {
    refuse(
      "san",
      `its DNS and IP SANs [${[...leaf.dnsNames, ...leaf.ipAddresses].join(", ")}] are not the requested [${[...dnsNames, ...ipAddresses].join(", ")}]`,
      { serial },
    );
  }
  if (leaf.basicConstraints?.isCA === true)
    refuse("ca", "it is a CA certificate, not a workload's", { serial });
  const usages = missingUsages(leaf, WORKLOAD_USAGES);
  if (usages !== undefined) refuse("usage", usages.message, { serial, missing: usages.missing });
  const { notBefore, notAfter } = input.template;
  if (
    leaf.notAfter.getTime() > notAfter.getTime() + CLOCK_SKEW_MS ||
    leaf.notBefore.getTime() < notBefore.getTime() - CLOCK_SKEW_MS
  ) {
    refuse(
      "validity",
      `its validity ${leaf.notBefore.toISOString()} - ${leaf.notAfter.toISOString()} is not inside the requested ${notBefore.toISOString()} - ${notAfter.toISOString()}`,
      { serial },
    );
  }
  const { intermediates, verifier } = verifierFor(intermediatePems, input.rootsPem);
  let path: ParsedCertificate[] = [];
  try {
    path = verifier.verify(leaf, input.now);
  } catch (err) {
    refuse(
      "chain",
      `it does not chain to the mesh roots (${err instanceof Error ? err.message : "invalid"})`,
      { serial },
    );
  }
  // The chain is served as sent: the leaf's issuer must come right after it.
  const first = intermediates[0];
  if (
    first !== undefined &&
    !Buffer.from((path[1] as ParsedCertificate).der).equals(Buffer.from(first.der))
  ) {
    refuse("chain", "it is not issued by the first intermediate certificate that came with it", { serial });
  }
  return { notAfter: leaf.notAfter };
}
