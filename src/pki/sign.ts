/**
 * Encodes and signs an X.509 v3 certificate (RFC 5280) from a
 * {@link CertificateTemplate}. This is the issuance hot path: the
 * issuer-dependent half (issuer Name, signature AlgorithmIdentifier, AKI) is
 * prepared once per signer, constant extensions are cached, and a leaf costs
 * one SPKI walk, one SHA-1 (its SKI), some concatenation and the signature.
 */
import { createPublicKey, type KeyObject, randomBytes, sign } from "node:crypto";
import { MeshsignError } from "../errors/index.js";
import { type ParsedCertificate, parseCertificate } from "./certificate.js";
import { DerReader } from "./der/reader.js";
import { bitString, explicit, sequence, Tag, time, unsignedInteger } from "./der/writer.js";
import { keyIdentifier } from "./keyid.js";
import { parseSpkiBytes, type SigningAlgorithm, signingAlgorithmFor } from "./lib/algorithms.js";
import {
  authorityKeyIdExtension,
  basicConstraintsExtension,
  ExtensionEncodingError,
  encodeExtension,
  encodeSanValue,
  extKeyUsageExtension,
  keyUsageExtension,
  subjectKeyIdExtension,
} from "./lib/extensions.js";
import { encodeNameConstraintsValue, NameConstraintsError } from "./lib/name-constraints.js";
import { decodeName, encodeName, NameEncodingError } from "./lib/names.js";
import { ExtensionOid } from "./oids.js";
import type { CertificateTemplate } from "./template.js";

/**
 * Who signs: a private key and the issuer half of the certificate. Treat it as
 * immutable: derived encodings are cached per signer object.
 */
export interface CertificateSigner {
  /** EC P-256/P-384/P-521 (ECDSA with SHA-256/384/512), RSA (PKCS#1 v1.5 SHA-256) or Ed25519. */
  readonly privateKey: KeyObject;
  /** DER Name of the issuer: the subject of the CA certificate, as raw bytes. */
  readonly issuerName: Uint8Array;
  /**
   * Subject key identifier of the issuer, written as the leaf's AKI. Absent for
   * self-signed roots: RFC 5280 §4.2.1.1 lets a self-signed CA omit the AKI,
   * as Go does.
   */
  readonly authorityKeyId?: Uint8Array;
  /** The signing certificate's notAfter when known; validity rules clamp to it. */
  readonly notAfter?: Date;
}

/** A signer built from a CA certificate, with that certificate parsed. */
export interface CaSigner extends CertificateSigner {
  readonly notAfter: Date;
  readonly certificate: ParsedCertificate;
}

export interface SignOptions {
  /** Source of serial-number randomness (tests inject a fixed one). Default: node:crypto randomBytes. */
  readonly randomBytes?: (n: number) => Uint8Array;
}

interface PreparedSigner {
  readonly algorithm: SigningAlgorithm;
  readonly issuerName: Uint8Array;
  readonly aki: Uint8Array | undefined;
}

const prepared = new WeakMap<CertificateSigner, PreparedSigner>();

function fail(message: string, cause?: unknown): never {
  throw new MeshsignError("ERR_SIGNING_FAILED", message, { cause });
}

/** The smallest RSA key meshsign signs certificates with (cert-manager's MinRSAKeySize). */
const MIN_RSA_SIGNING_BITS = 2048;

function prepare(signer: CertificateSigner): PreparedSigner {
  let p = prepared.get(signer);
  if (p !== undefined) return p;
  const algorithm = signingAlgorithmFor(signer.privateKey);
  if (algorithm === undefined || signer.privateKey.type !== "private") {
    fail("signing key type is not supported (EC P-256/P-384/P-521, RSA or Ed25519 private key)");
  }
  // cert-manager's MinRSAKeySize: a CA never signs with a weaker RSA key than clients may request.
  const rsaBits =
    signer.privateKey.asymmetricKeyType === "rsa"
      ? (signer.privateKey.asymmetricKeyDetails?.modulusLength ?? 0)
      : undefined;
  if (rsaBits !== undefined && rsaBits < MIN_RSA_SIGNING_BITS)
    fail(`RSA signing key has ${rsaBits} bits; at least ${MIN_RSA_SIGNING_BITS} are required`);
  const r = new DerReader(signer.issuerName, "ERR_SIGNING_FAILED");
  decodeName(r);
  r.finish("issuer Name");
  p = {
    algorithm,
    issuerName: signer.issuerName,
    aki: signer.authorityKeyId === undefined ? undefined : authorityKeyIdExtension(signer.authorityKeyId),
  };
  prepared.set(signer, p);
  return p;
}

const VERSION_3 = explicit(0, new Uint8Array([Tag.INTEGER, 1, 2]));

function serialNumber(template: CertificateTemplate, options: SignOptions | undefined): Uint8Array {
  const given = template.serialNumber;
  if (given !== undefined) {
    // RFC 5280 §4.1.2.2: positive, at most 20 octets.
    if (given.length === 0 || given.every((b) => b === 0)) fail("serial number must be positive");
    const encoded = unsignedInteger(given);
    if (encoded.length - 2 > 20) fail("serial number longer than 20 octets");
    return encoded;
  }
  const bytes = (options?.randomBytes ?? randomBytes)(16);
  if (bytes.length !== 16) fail("random source returned the wrong length");
  if (bytes.every((b) => b === 0)) bytes[15] = 1;
  return unsignedInteger(bytes);
}

/**
 * Builds, signs and returns the DER certificate described by `template`.
 * Throws MeshsignError ERR_SIGNING_FAILED when the template or the signer
 * cannot be encoded (the message names the field, never key material).
 */
export function signCertificate(
  template: CertificateTemplate,
  signer: CertificateSigner,
  options?: SignOptions,
): Uint8Array {
  const { tbs, algorithm } = toBeSigned(template, signer, options);
  let signature: Uint8Array;
  try {
    signature = sign(algorithm.hash, tbs, signer.privateKey);
  } catch (err) {
    fail("signature operation failed", err);
  }
  return sequence(tbs, algorithm.algorithmIdentifier, bitString(signature));
}

/**
 * {@link signCertificate} with the signature computed on libuv's thread pool
 * (node:crypto's callback form), so the JavaScript thread serves other
 * requests meanwhile and a process uses more than one core. The DER is built
 * on the calling thread; the same checks throw synchronously-built
 * MeshsignErrors (as a rejected promise).
 */
export async function signCertificateAsync(
  template: CertificateTemplate,
  signer: CertificateSigner,
  options?: SignOptions,
): Promise<Uint8Array> {
  const { tbs, algorithm } = toBeSigned(template, signer, options);
  const signature = await new Promise<Uint8Array>((resolve, reject) => {
    try {
      sign(algorithm.hash, tbs, signer.privateKey, (err, sig) => {
        if (err)
          reject(new MeshsignError("ERR_SIGNING_FAILED", "signature operation failed", { cause: err }));
        else resolve(sig);
      });
    } catch (err) {
      reject(new MeshsignError("ERR_SIGNING_FAILED", "signature operation failed", { cause: err }));
    }
  });
  return sequence(tbs, algorithm.algorithmIdentifier, bitString(signature));
}

/** The encoded TBSCertificate of `template` and the algorithm that signs it. */
function toBeSigned(
  template: CertificateTemplate,
  signer: CertificateSigner,
  options: SignOptions | undefined,
): { tbs: Uint8Array; algorithm: SigningAlgorithm } {
  const p = prepare(signer);
  const key = parseSpkiBytes(template.publicKeySpki, "ERR_SIGNING_FAILED");
  if (key.algorithm.type === "unsupported") fail("subject public key algorithm is not supported");
  const nb = template.notBefore.getTime();
  const na = template.notAfter.getTime();
  if (!Number.isFinite(nb) || !Number.isFinite(na) || na <= nb) fail("notAfter must be after notBefore");
  if (template.maxPathLen !== undefined) {
    if (!template.isCA) fail("maxPathLen is only allowed on CA certificates");
    if (!Number.isSafeInteger(template.maxPathLen) || template.maxPathLen < 0)
      fail("maxPathLen must be >= 0");
  }
  // RFC 5280 §4.2.1.10: NameConstraints MUST only be used in a CA certificate.
  if (template.nameConstraints !== undefined && !template.isCA)
    fail("nameConstraints are only allowed on CA certificates");

  let subject: Uint8Array;
  let validity: Uint8Array;
  let extensions: Uint8Array[];
  try {
    subject = encodeName(template.subject);
    validity = sequence(time(template.notBefore), time(template.notAfter));
    const emptySubject = subject.length === 2;
    const san = encodeSanValue(template);
    // RFC 5280 §4.1.2.6: an empty subject needs a critical subjectAltName.
    if (emptySubject && san === undefined) fail("an empty subject requires at least one subjectAltName");
    extensions = [];
    if (template.keyUsage.length > 0) extensions.push(keyUsageExtension(template.keyUsage));
    if (template.extKeyUsage.length > 0) extensions.push(extKeyUsageExtension(template.extKeyUsage));
    extensions.push(basicConstraintsExtension(template.isCA, template.maxPathLen));
    extensions.push(subjectKeyIdExtension(keyIdentifier(key.keyBits)));
    if (p.aki !== undefined) extensions.push(p.aki);
    if (san !== undefined) extensions.push(encodeExtension(ExtensionOid.subjectAltName, emptySubject, san));
    if (template.nameConstraints !== undefined) {
      const nc = encodeNameConstraintsValue(template.nameConstraints);
      // Never issue an unconstrained CA for a request that asked for constraints.
      if (nc === undefined) fail("nameConstraints must hold at least one permitted or excluded subtree");
      extensions.push(encodeExtension(ExtensionOid.nameConstraints, template.nameConstraints.critical, nc));
    }
  } catch (err) {
    if (err instanceof MeshsignError) throw err;
    if (
      err instanceof NameEncodingError ||
      err instanceof ExtensionEncodingError ||
      err instanceof NameConstraintsError ||
      err instanceof RangeError
    ) {
      fail(`invalid certificate template: ${err.message}`, err);
    }
    throw err;
  }

  const tbs = sequence(
    VERSION_3,
    serialNumber(template, options),
    p.algorithm.algorithmIdentifier,
    p.issuerName,
    validity,
    subject,
    template.publicKeySpki,
    explicit(3, sequence(...extensions)),
  );
  return { tbs, algorithm: p.algorithm };
}

function publicKeyMatches(privateKey: KeyObject, publicKey: KeyObject): boolean {
  try {
    return createPublicKey(privateKey).equals(publicKey);
  } catch {
    return false;
  }
}

/**
 * A signer for a CA certificate and its private key. Reads the subject and SKI
 * once; checks that the certificate is a CA (basicConstraints cA, keyCertSign
 * when KeyUsage is present) and that the key matches it.
 */
export function signerFromCertificate(certDer: Uint8Array, privateKey: KeyObject): CaSigner {
  const certificate = parseCertificate(certDer);
  if (certificate.basicConstraints?.isCA !== true) {
    throw new MeshsignError(
      "ERR_CERT_INVALID",
      "signing certificate is not a CA (basicConstraints cA is not true)",
    );
  }
  if (certificate.keyUsage !== undefined && !certificate.keyUsage.includes("keyCertSign")) {
    throw new MeshsignError("ERR_CERT_INVALID", "signing certificate's key usage lacks keyCertSign");
  }
  if (privateKey.type !== "private" || !publicKeyMatches(privateKey, certificate.publicKey())) {
    throw new MeshsignError("ERR_KEY_INVALID", "private key does not match the signing certificate");
  }
  const signer: CaSigner = {
    privateKey,
    issuerName: certificate.subjectDer,
    authorityKeyId: certificate.subjectKeyId ?? keyIdentifier(certificate.subjectPublicKeyBits),
    notAfter: certificate.notAfter,
    certificate,
  };
  prepare(signer);
  return signer;
}

/**
 * A signer for a self-signed certificate: the issuer is the template's own
 * subject and no AKI is written. The key must match the template's SPKI.
 */
export function selfSignedSigner(template: CertificateTemplate, privateKey: KeyObject): CertificateSigner {
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: Buffer.from(template.publicKeySpki), format: "der", type: "spki" });
  } catch (err) {
    throw new MeshsignError("ERR_SIGNING_FAILED", "template public key is not a valid SubjectPublicKeyInfo", {
      cause: err,
    });
  }
  if (privateKey.type !== "private" || !publicKeyMatches(privateKey, publicKey)) {
    throw new MeshsignError("ERR_KEY_INVALID", "private key does not match the template's public key");
  }
  let issuerName: Uint8Array;
  try {
    issuerName = encodeName(template.subject);
  } catch (err) {
    throw new MeshsignError("ERR_SIGNING_FAILED", `invalid certificate template: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return { privateKey, issuerName, notAfter: template.notAfter };
}
