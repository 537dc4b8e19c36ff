/**
 * {@link verifyChain} for many leaves under the same CA certificates, as a
 * remote issuer (Vault) returns them: every leaf it signs comes with the same
 * intermediates and chains to the same roots. What does not depend on the
 * leaf (the CA certificates' links, signatures, CA constraints and pathLen)
 * is checked once, by a full {@link verifyChain} of the first leaf; the path
 * it found is remembered per leaf issuer (name and authority key id). A later
 * leaf of that issuer then costs its own validity, one name link and one
 * signature, plus the validity of each CA on the path at `at`. Anything else
 * (a leaf of another issuer, a CA that expired, a signature that does not
 * verify) goes through the full {@link verifyChain}, so the verdict and its
 * error are the same as without this class.
 */
import { type ParsedCertificate, parseCertificate } from "./certificate.js";
import { isIssuedBy, type VerifyOptions, verifyChain } from "./chain.js";
import { bytesEqual } from "./lib/bytes.js";

/** Paths remembered per verifier; an issuer that sends more distinct leaf issuers than this is unusual. */
const MAX_PATHS = 8;

export class ChainVerifier {
  readonly #intermediates: readonly ParsedCertificate[];
  readonly #roots: readonly ParsedCertificate[];
  readonly #extKeyUsage: VerifyOptions["extKeyUsage"];
  readonly #maxDepth: number | undefined;
  /** Per leaf issuer (name DER and AKI), the CA part of the path verifyChain found (issuer first, anchor last). */
  readonly #paths: {
    readonly issuerDer: Uint8Array;
    readonly aki: Uint8Array | undefined;
    readonly cas: readonly ParsedCertificate[];
  }[] = [];

  constructor(
    intermediates: readonly (Uint8Array | ParsedCertificate)[],
    roots: readonly (Uint8Array | ParsedCertificate)[],
    options: Omit<VerifyOptions, "at"> = {},
  ) {
    const parse = (c: Uint8Array | ParsedCertificate) => (c instanceof Uint8Array ? parseCertificate(c) : c);
    this.#intermediates = intermediates.map(parse);
    this.#roots = roots.map(parse);
    this.#extKeyUsage = options.extKeyUsage;
    this.#maxDepth = options.maxDepth;
  }

  /** Exactly {@link verifyChain}`(leaf, intermediates, roots, { at, ...options })`: the path leaf -> anchor, or ERR_CHAIN_INVALID. */
  verify(leaf: ParsedCertificate, at: Date): ParsedCertificate[] {
    const aki = leaf.authorityKeyId;
    const known = this.#paths.find(
      (p) =>
        bytesEqual(p.issuerDer, leaf.issuerDer) &&
        (p.aki === undefined ? aki === undefined : aki !== undefined && bytesEqual(p.aki, aki)),
    );
    if (known !== undefined && this.#fastPathHolds(leaf, known.cas, at)) return [leaf, ...known.cas];
    const path = verifyChain(leaf, this.#intermediates, this.#roots, {
      at,
      ...(this.#extKeyUsage !== undefined ? { extKeyUsage: this.#extKeyUsage } : {}),
      ...(this.#maxDepth !== undefined ? { maxDepth: this.#maxDepth } : {}),
    });
    // A leaf that is itself an anchor has no CA part to remember.
    if (path.length >= 2 && known === undefined) {
      if (this.#paths.length >= MAX_PATHS) this.#paths.pop();
      this.#paths.unshift({ issuerDer: leaf.issuerDer, aki, cas: path.slice(1) });
    }
    return path;
  }

  /**
   * What verifyChain checks that depends on the leaf or on the time, along a
   * path it accepted for another leaf of the same issuer. False sends the
   * leaf through the full check.
   */
  #fastPathHolds(leaf: ParsedCertificate, cas: readonly ParsedCertificate[], at: Date): boolean {
    const t = at.getTime();
    const inTime = (c: ParsedCertificate) => t >= c.notBefore.getTime() && t <= c.notAfter.getTime();
    if (!inTime(leaf) || !cas.every(inTime)) return false;
    // verifyChain stops at a leaf that is itself one of the anchors.
    if (this.#roots.some((r) => bytesEqual(r.der, leaf.der))) return false;
    const ekus = leaf.extKeyUsage;
    for (const e of this.#extKeyUsage ?? [])
      if (ekus !== undefined && !ekus.includes(e) && !ekus.includes("any")) return false;
    // verifyChain tries the anchors before the intermediates: a leaf an anchor issued takes that path.
    const issuer = cas[0] as ParsedCertificate;
    if (
      cas.length > 1 &&
      this.#roots.some((r) => bytesEqual(r.subjectDer, leaf.issuerDer) && isIssuedBy(leaf, r))
    )
      return false;
    return isIssuedBy(leaf, issuer);
  }
}
