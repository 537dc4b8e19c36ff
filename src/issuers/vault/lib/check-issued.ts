/**
 * What a remote issuer returned is checked before it reaches a Secret or a
 * workload (Istio and istio-csr refuse such chains too; cert-manager passes
 * them on): the leaf certifies the CSR's key, carries exactly the requested
 * SANs, allows the key usages and extended key usages asked for (Vault's
 * `sign/<role>` writes the role's, whatever the CSR or the Certificate's
 * `usages` say), is valid now and no longer than asked, and chains to the
 * root-most certificate the issuer sent. The result is the chain leaf first without a
 * self-signed root, and that root-most certificate as `ca`.
 */
import { createHash } from "node:crypto";
import { MeshsignError } from "../../../errors/index.js";
import {
  type CertificateTemplate,
  ChainVerifier,
  decodePemAll,
  encodePem,
  isIssuedBy,
  missingUsages,
  orderChain,
  type ParseCertificateOptions,
  type ParsedCertificate,
  parseCertificate,
} from "../../../pki/index.js";

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
  throw new MeshsignError(
    "ERR_CHAIN_INVALID",
    `the issuer returned a certificate meshsign refuses: ${what}`,
    { detail, retry: "terminal" },
  );
}

function parseAll(pem: string, what: string, options: ParseCertificateOptions = {}): ParsedCertificate[] {
  try {
    return decodePemAll(pem, "CERTIFICATE").map((der) => parseCertificate(der, options));
  } catch (err) {
    return reject(`${what} is not a valid PEM certificate`, {
      error: err instanceof Error ? err.message : String(err),
    });
  }
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return (
    a.length === b.length &&
    Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(
      Buffer.from(b.buffer, b.byteOffset, b.byteLength),
    )
  );
}

/** Canonical IP text (RFC 5952 for IPv6) so "::1" and "0:0::1" compare equal. */
function canonicalIp(ip: string): string {
  try {
    return ip.includes(":") ? new URL(`http://[${ip}]`).hostname.slice(1, -1) : ip;
  } catch {
    return ip;
  }
}

function sameSet(
  got: readonly string[],
  want: readonly string[],
  norm: (s: string) => string = (s) => s,
): boolean {
  const g = new Set(got.map(norm));
  const w = new Set(want.map(norm));
  return g.size === w.size && [...g].every((x) => w.has(x));
}

/**
 * The CA certificates an issuer sent, checked once per distinct value: Vault
 * sends the same `ca_chain` and `issuing_ca` with every signature, and
 * parsing, ordering and verifying them cost several hundred microseconds
 * per signature on the CreateCertificate hot path.
 */
interface CaChain {
  /** Deduplicated, ordered issuing CA first, root-most last. */
  readonly ordered: readonly ParsedCertificate[];
  /** PEM of each ordered CA certificate but a self-signed root: what follows the leaf in the chain. */
  readonly chainPems: readonly string[];
  /** PEM of the root-most certificate. */
  readonly caPem: string;
  /** Verifies leaves up to the root-most certificate through the others. */
  readonly verifier: ChainVerifier;
}

const CA_CACHE_MAX = 16;
/** Joined PEMs -> their checked chain, or the refusal they earned (thrown again for every leaf). */
const caChains = new Map<string, CaChain | MeshsignError>();

function isSelfSigned(c: ParsedCertificate): boolean {
  if (!c.selfIssued) return false;
  try {
    return c.verifySignature(c.publicKey());
  } catch {
    return false;
  }
}

function buildCaChain(caCertificates: readonly string[]): CaChain {
  const seen = new Set<string>();
  const cas: ParsedCertificate[] = [];
  for (const pem of caCertificates) {
    for (const c of parseAll(pem, "a CA certificate")) {
      const fp = createHash("sha256").update(c.der).digest("hex");
      if (seen.has(fp)) continue;
      seen.add(fp);
      cas.push(c);
    }
  }
  if (cas.length === 0) reject("no CA certificate came with it, so its chain cannot be verified");
  let ordered: ParsedCertificate[];
  try {
    ordered = orderChain(cas);
  } catch (err) {
    return reject(
      `its CA certificates do not form one chain (${err instanceof Error ? err.message : "unordered"})`,
    );
  }
  const rootMost = ordered.at(-1) as ParsedCertificate;
  return {
    ordered,
    chainPems: ordered.filter((c) => !isSelfSigned(c)).map((c) => encodePem("CERTIFICATE", c.der)),
    caPem: encodePem("CERTIFICATE", rootMost.der),
    verifier: new ChainVerifier(ordered.slice(0, -1), [rootMost]),
  };
}

function caChainOf(caCertificates: readonly string[]): CaChain {
  const key = caCertificates.join("\n");
  let entry = caChains.get(key);
  if (entry === undefined) {
    try {
      entry = buildCaChain(caCertificates);
    } catch (err) {
      if (!(err instanceof MeshsignError)) throw err;
      entry = err;
    }
    if (caChains.size >= CA_CACHE_MAX) caChains.clear();
    caChains.set(key, entry);
  }
  if (entry instanceof MeshsignError) throw entry;
  return entry;
}

/**
 * The chain of a leaf whose checks its caller makes itself (CreateCertificate
 * checks every answer against the mesh roots in the process that answers the
 * workload): the leaf as sent, then the CA certificates, checked and ordered
 * once per distinct value, and the root-most one as `ca`.
 */
export function chainOfUncheckedLeaf(bundle: IssuedBundle): {
  readonly chain: readonly string[];
  readonly ca: string;
} {
  const ca = caChainOf(bundle.caCertificates);
  return { chain: [bundle.certificate, ...ca.chainPems], ca: ca.caPem };
}

/** Checks `bundle` against `template` at `now`; throws ERR_CHAIN_INVALID naming what is wrong. */
export function checkIssued(bundle: IssuedBundle, template: CertificateTemplate, now: Date): CheckedChain {
  // The leaf's key is compared byte for byte with the template's (a key meshsign holds or parsed), never used.
  const leaves = parseAll(bundle.certificate, "the leaf certificate", { lazyKey: true });
  const leaf = leaves[0];
  if (leaf === undefined || leaves.length !== 1) reject("expected exactly one leaf certificate");
  if (!bytesEqual(leaf.publicKeySpki, template.publicKeySpki))
    reject("its public key is not the CSR's key", { serial: leaf.serialHex });
  if (!sameSet(leaf.uris, template.uris ?? []))
    reject(
      `its URI SANs [${leaf.uris.join(", ")}] are not the requested [${(template.uris ?? []).join(", ")}]`,
    );
  if (!sameSet(leaf.dnsNames, template.dnsNames ?? [], (s) => s.toLowerCase()))
    reject(
      `its DNS SANs [${leaf.dnsNames.join(", ")}] are not the requested [${(template.dnsNames ?? []).join(", ")}]`,
    );
  if (!sameSet(leaf.ipAddresses, template.ipAddresses ?? [], canonicalIp))
    reject(
      `its IP SANs [${leaf.ipAddresses.join(", ")}] are not the requested [${(template.ipAddresses ?? []).join(", ")}]`,
    );
  if (leaf.basicConstraints?.isCA === true && !template.isCA)
    reject("it is a CA certificate but a leaf was requested");
  const usages = missingUsages(leaf, template);
  if (usages !== undefined)
    reject(usages.message, { check: "usage", serial: leaf.serialHex, missing: usages.missing });
  if (leaf.notAfter.getTime() > template.notAfter.getTime() + CLOCK_SKEW_MS) {
    reject(
      `it is valid until ${leaf.notAfter.toISOString()}, after the requested ${template.notAfter.toISOString()}`,
    );
  }
  if (leaf.notBefore.getTime() > now.getTime() + CLOCK_SKEW_MS)
    reject(`it is not valid before ${leaf.notBefore.toISOString()}`);

  // The CA certificates (the leaf itself dropped if the issuer repeated it) must form one chain with
  // the leaf at its bottom: issued by the bottom CA and by no other, issuing none of them.
  let ca = caChainOf(bundle.caCertificates);
  if (ca.ordered.some((c) => bytesEqual(c.der, leaf.der))) {
    ca = caChainOf(
      bundle.caCertificates
        .flatMap((pem) => decodePemAll(pem, "CERTIFICATE"))
        .filter((der) => !bytesEqual(der, leaf.der))
        .map((der) => encodePem("CERTIFICATE", der)),
    );
  }
  const [bottom, ...above] = ca.ordered as [ParsedCertificate, ...ParsedCertificate[]];
  const notOneChain = (why: string) => reject(`its CA certificates do not form one chain (${why})`);
  if (ca.ordered.some((c) => isIssuedBy(c, leaf)))
    reject("the leaf is not at the bottom of the chain it came with");
  if (above.some((c) => bytesEqual(c.subjectDer, leaf.issuerDer) && isIssuedBy(leaf, c)))
    notOneChain("a certificate has more than one issuer in the chain");
  if (!bytesEqual(leaf.issuerDer, bottom.subjectDer))
    notOneChain("the leaf's issuer is not the bottom CA certificate");
  let path: ParsedCertificate[];
  try {
    path = ca.verifier.verify(leaf, now);
  } catch (err) {
    return reject(`its chain does not verify (${err instanceof Error ? err.message : "invalid"})`);
  }
  if (path[1] !== bottom) notOneChain("the leaf is not issued by the bottom CA certificate");
  return { chain: [encodePem("CERTIFICATE", leaf.der), ...ca.chainPems], ca: ca.caPem, leaf };
}
