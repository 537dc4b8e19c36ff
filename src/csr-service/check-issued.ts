/**
 * What a remote issuer (Vault) signed for CreateCertificate is checked before
 * it reaches a workload, the way Istio's and istio-csr's clients check it:
 * the leaf certifies the CSR's public key, its one URI SAN is the identity
 * meshsign authorized, it is not a CA, its validity lies inside the requested one, and it
 * chains through the intermediates the issuer sent up to one of the mesh
 * roots the response ends with. An in-process CA needs no such check (its
 * one start-up self-test proves its chain); a remote one can change under us.
 */
import { MeshsignError } from "../errors/index.js";
import {
  type CertificateTemplate,
  decodePemAll,
  type ParsedCertificate,
  parseCertificate,
  verifyChain,
} from "../pki/index.js";

/** Which check refused the certificate: the label of the refusal metric. */
export type IssuedCheck = "parse" | "public_key" | "uri_san" | "ca" | "validity" | "chain";

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

function parseOne(pem: string, what: string): ParsedCertificate[] {
  try {
    return decodePemAll(pem, "CERTIFICATE").map((der) => parseCertificate(der));
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
 * Checks a signed chain (leaf first, then intermediates) against what was
 * authorized; throws ERR_CHAIN_INVALID naming the failed check
 * (`detail.check`) otherwise.
 */
export function checkIssuedForWorkload(input: {
  readonly chain: readonly string[];
  readonly template: CertificateTemplate;
  readonly identity: string;
  /** Concatenated PEM of the mesh roots the response will end with. */
  readonly rootsPem: string;
  readonly now: Date;
}): void {
  const [leafPem, ...intermediatePems] = input.chain;
  if (leafPem === undefined) refuse("parse", "no certificate came back");
  const leaves = parseOne(leafPem, "the leaf certificate");
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
  if (leaf.basicConstraints?.isCA === true)
    refuse("ca", "it is a CA certificate, not a workload's", { serial });
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
  const intermediates = intermediatePems.flatMap((p) => parseOne(p, "an intermediate certificate"));
  const roots = parsedRoots(input.rootsPem);
  try {
    verifyChain(leaf, intermediates, roots, { at: input.now });
  } catch (err) {
    refuse(
      "chain",
      `it does not chain to the mesh roots (${err instanceof Error ? err.message : "invalid"})`,
      { serial },
    );
  }
}
