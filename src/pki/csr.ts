/**
 * A minimal PKCS#10 (RFC 2986) reader for untrusted CSRs: exactly what the
 * authorization checks need, in strict DER, with a size cap applied before
 * any parsing. Every failure is a MeshsignError:
 * ERR_CSR_TOO_LARGE, ERR_CSR_PEM, ERR_CSR_DER or ERR_CSR_KEY_UNSUPPORTED (which
 * includes an RSA public exponent Go's crypto/rsa would refuse, and an EC point
 * Go's x509 cannot parse).
 *
 * PEM policy (RFC 7468): the text must hold exactly one PEM block, labelled
 * "CERTIFICATE REQUEST" or, for compatibility with old tools (RFC 7468 §7),
 * "NEW CERTIFICATE REQUEST". Explanatory text around it is ignored; a second
 * block of any label (another CSR, a key sent by mistake) is rejected.
 */
import type { KeyObject } from "node:crypto";
import { MeshsignError } from "../errors/index.js";
import { DerReader } from "./der/reader.js";
import { Tag } from "./der/writer.js";
import {
  importSpki,
  type KeyAlgorithm,
  readSignatureAlgorithm,
  readSpki,
  type SignatureAlgorithm,
  verifySignature,
} from "./lib/algorithms.js";
import {
  type BasicConstraints,
  type DecodedExtensions,
  decodeExtensions,
  type Extension,
} from "./lib/extensions.js";
import { commonNameOf, decodeName } from "./lib/names.js";
import { EXTENSION_REQUEST_OID } from "./oids.js";
import { decodePemBlocks } from "./pem.js";
import type { ExtKeyUsage, KeyUsage, Name } from "./template.js";

/** Default cap on a CSR's PEM text (and its DER): 16 KiB. */
export const DEFAULT_MAX_CSR_BYTES = 16 * 1024;

export interface CsrLimits {
  /** Maximum size in bytes of the PEM text (parseCsr) or the DER (parseCsrDer). */
  readonly maxBytes?: number;
}

export interface ParsedCsr {
  /** The CSR's DER (a view of the decoded input). */
  readonly der: Uint8Array;
  readonly publicKeySpki: Uint8Array;
  readonly publicKey: KeyObject;
  readonly keyAlgorithm: KeyAlgorithm;
  readonly subject: Name;
  readonly subjectDer: Uint8Array;
  /** The first commonName attribute, or undefined. */
  readonly commonName: string | undefined;
  readonly uris: readonly string[];
  readonly dnsNames: readonly string[];
  /** Canonical text: dotted quad, RFC 5952 IPv6. */
  readonly ipAddresses: readonly string[];
  readonly emailAddresses: readonly string[];
  /** Number of SAN entries of other types (otherName, directoryName, registeredID, ...). */
  readonly otherNames: number;
  /** Whether the SAN extension is marked critical (undefined without a SAN). */
  readonly sanCritical: boolean | undefined;
  /** Every requested extension, in order. */
  readonly extensions: readonly Extension[];
  readonly keyUsage?: readonly KeyUsage[];
  /** Known EKU names; see {@link extKeyUsageOids} for every requested purpose. */
  readonly extKeyUsage?: readonly ExtKeyUsage[];
  readonly extKeyUsageOids?: readonly string[];
  readonly basicConstraints?: BasicConstraints;
  /** OIDs of CSR attributes other than extensionRequest (e.g. challengePassword). */
  readonly attributes: readonly string[];
  readonly signatureAlgorithm: SignatureAlgorithm;
  /** Proof of possession: the CSR's signature verifies under its own key (computed once). */
  verifySignature(): boolean;
}

function limitOf(limits: CsrLimits | undefined): number {
  const max = limits?.maxBytes ?? DEFAULT_MAX_CSR_BYTES;
  return max > 0 ? max : DEFAULT_MAX_CSR_BYTES;
}

function tooLarge(max: number): never {
  throw new MeshsignError("ERR_CSR_TOO_LARGE", `CSR exceeds ${max} bytes`);
}

/** Largest RSA public exponent accepted: Go's crypto/rsa refuses anything above 2^31-1. */
export const MAX_RSA_PUBLIC_EXPONENT = 2n ** 31n - 1n;

/**
 * The RSA public exponent must be what Go's crypto/rsa (istio-agent, istiod,
 * every Go TLS peer of the workload) accepts: odd, at least 3, at most
 * {@link MAX_RSA_PUBLIC_EXPONENT}. A larger one would be certified and then
 * refused by the peers; a huge one also makes each verification slow.
 */
function checkRsaExponent(key: KeyObject): void {
  const e = key.asymmetricKeyDetails?.publicExponent;
  if (e === undefined || e < 3n || e % 2n === 0n || e > MAX_RSA_PUBLIC_EXPONENT) {
    throw new MeshsignError(
      "ERR_CSR_KEY_UNSUPPORTED",
      "RSA public exponent must be odd and between 3 and 2^31-1, as Go's crypto/rsa requires (65537 is usual)",
      { detail: { exponentBits: e === undefined ? undefined : e.toString(2).length } },
    );
  }
}

/** Bytes of one coordinate of a point on each curve. */
const EC_COORDINATE_BYTES = { "P-256": 32, "P-384": 48, "P-521": 66 } as const;

/**
 * An EC key must be an uncompressed point (0x04 || X || Y), the one form RFC
 * 5480 §2.2 makes mandatory and the only one Go's x509 parses: the CSR's SPKI
 * is copied into the leaf as it is, and a compressed (or hybrid) point would
 * give istio-agent a certificate it cannot read. istio-csr refuses such a CSR.
 */
function checkUncompressedPoint(keyBits: Uint8Array, curve: keyof typeof EC_COORDINATE_BYTES): void {
  if (keyBits[0] !== 0x04 || keyBits.length !== 1 + 2 * EC_COORDINATE_BYTES[curve]) {
    throw new MeshsignError(
      "ERR_CSR_KEY_UNSUPPORTED",
      "EC public key must be an uncompressed point (RFC 5480 §2.2), as Go's x509 requires",
    );
  }
}

/**
 * Why a CSR's signature is no proof of possession, in words safe to show, or undefined when it
 * verifies. The one wording of this rule: CreateCertificate's signature-valid check and the
 * engine's CertificateRequests both say it. An algorithm refused for a stated reason (RSASSA-PSS
 * parameters Go and BoringSSL cannot verify) is named: the key and the request are fine, the
 * signature scheme is not.
 */
export function csrSignatureProblem(csr: Pick<ParsedCsr, "signatureAlgorithm" | "verifySignature">): string | undefined {
  if (csr.verifySignature()) return undefined;
  const alg = csr.signatureAlgorithm;
  return alg.kind === "unsupported" && alg.reason !== undefined
    ? `the CSR's signature algorithm is not accepted: ${alg.reason}`
    : "the CSR signature does not verify (proof of possession)";
}

/** Parses a PEM CSR (see the module comment for the PEM policy). */
export function parseCsr(pem: string, limits?: CsrLimits): ParsedCsr {
  const max = limitOf(limits);
  if (typeof pem !== "string") throw new MeshsignError("ERR_CSR_PEM", "CSR must be PEM text");
  if (pem.length > max || Buffer.byteLength(pem, "utf8") > max) tooLarge(max);
  const blocks = decodePemBlocks(pem, "ERR_CSR_PEM");
  if (blocks.length === 0) throw new MeshsignError("ERR_CSR_PEM", "no PEM CERTIFICATE REQUEST block found");
  if (blocks.length > 1) throw new MeshsignError("ERR_CSR_PEM", "CSR text holds more than one PEM block");
  const block = blocks[0] as (typeof blocks)[number];
  if (block.label !== "CERTIFICATE REQUEST" && block.label !== "NEW CERTIFICATE REQUEST") {
    throw new MeshsignError("ERR_CSR_PEM", "PEM block is not a CERTIFICATE REQUEST");
  }
  return parseCsrDer(block.der, limits);
}

/** Parses a DER CSR. */
export function parseCsrDer(der: Uint8Array, limits?: CsrLimits): ParsedCsr {
  const max = limitOf(limits);
  if (der.length > max) tooLarge(max);
  const top = new DerReader(der, "ERR_CSR_DER");
  const req = top.sequence("CertificationRequest");
  top.finish("CertificationRequest");
  const infoTlv = req.expect(Tag.SEQUENCE, "CertificationRequestInfo");
  const signatureAlgorithm = readSignatureAlgorithm(req);
  const sig = req.bitString(req.expect(Tag.BIT_STRING, "signature"));
  if (sig.unusedBits !== 0) req.fail("signature unused bits");
  req.finish("CertificationRequest");

  const info = req.inside(infoTlv, "CertificationRequestInfo");
  const version = info.smallInteger(info.expect(Tag.INTEGER, "version"), "version");
  if (version !== 0) info.fail("version must be 0");
  const subject = decodeName(info);
  const spki = readSpki(info);
  let ext: DecodedExtensions | undefined;
  const attributes: string[] = [];
  // RFC 2986 makes [0] attributes mandatory; some encoders omit an empty set, which is tolerated.
  const attrsTlv = info.optional(0xa0);
  info.finish("CertificationRequestInfo");
  if (attrsTlv !== undefined) {
    const attrs = info.inside(attrsTlv, "attributes");
    while (!attrs.atEnd()) {
      const a = attrs.sequence("Attribute");
      const type = a.oid(a.expect(Tag.OID, "attribute type"));
      const values = a.inside(a.expect(Tag.SET, "attribute values"), "attribute values");
      a.finish("Attribute");
      if (type === EXTENSION_REQUEST_OID) {
        if (ext !== undefined) attrs.fail("more than one extensionRequest");
        ext = decodeExtensions(values);
        values.finish("extensionRequest values");
      } else {
        if (values.atEnd()) attrs.fail("attribute without values");
        while (!values.atEnd()) values.next();
        attributes.push(type);
      }
    }
  }

  if (spki.algorithm.type === "unsupported") {
    throw new MeshsignError("ERR_CSR_KEY_UNSUPPORTED", "CSR key algorithm is not supported", {
      detail: { algorithm: spki.algorithm.oid },
    });
  }
  if (spki.algorithm.type === "ec") checkUncompressedPoint(spki.keyBits, spki.algorithm.curve);
  const imported = importSpki(spki.spki, spki.algorithm, spki.keyBits);
  if (imported === undefined) throw new MeshsignError("ERR_CSR_DER", "CSR public key is malformed");
  if (imported.algorithm.type === "rsa") checkRsaExponent(imported.key);

  const signedData = der.subarray(infoTlv.start, infoTlv.end);
  const signature = sig.bytes;
  let verified: boolean | undefined;
  const san = ext?.san;
  return {
    der,
    publicKeySpki: spki.spki,
    publicKey: imported.key,
    keyAlgorithm: imported.algorithm,
    subject: subject.name,
    subjectDer: subject.raw,
    commonName: commonNameOf(subject.name),
    uris: san?.uris ?? [],
    dnsNames: san?.dnsNames ?? [],
    ipAddresses: san?.ipAddresses ?? [],
    emailAddresses: san?.emailAddresses ?? [],
    otherNames: san?.otherNames ?? 0,
    sanCritical: ext?.sanCritical,
    extensions: ext?.list ?? [],
    keyUsage: ext?.keyUsage,
    extKeyUsage: ext?.extKeyUsage,
    extKeyUsageOids: ext?.extKeyUsageOids,
    basicConstraints: ext?.basicConstraints,
    attributes,
    signatureAlgorithm,
    verifySignature(): boolean {
      verified ??= verifySignature(signatureAlgorithm, signedData, signature, imported.key);
      return verified;
    },
  };
}
