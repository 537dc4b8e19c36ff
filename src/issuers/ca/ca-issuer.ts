import { createHash, createPublicKey, type KeyObject } from "node:crypto";
import { isMeshsignError, MeshsignError } from "../../errors/index.js";
import {
  type CaSigner,
  type CertificateTemplate,
  decodePemAll,
  encodePem,
  type ParsedCertificate,
  parseCertificate,
  privateKeyFromPem,
  signCertificate,
  signCertificateAsync,
  signerFromCertificate,
} from "../../pki/index.js";
import type { Issuer, IssuerStatus, SignRequest, SignResult } from "../issuer.js";

/** Where the CA key pair comes from, for status messages ("secret ns/name", "file /etc/..."). */
export interface CaKeyPairSource {
  /** PEM chain: the signing CA first, then its issuers (a Secret's `tls.crt`, plus `ca.crt` if present). */
  readonly certificatePem: string;
  /** PEM private key: PKCS#1, PKCS#8 or SEC1. */
  readonly privateKeyPem: string;
  /** Human-readable origin, used in messages. */
  readonly origin: string;
}

export interface CaIssuerOptions {
  /**
   * Sign on libuv's thread pool (node:crypto's callback form) so the calling
   * thread serves other work meanwhile; off, the signature runs on the calling
   * thread, which costs less CPU (no job object, thread wake-ups or promise).
   * Default true.
   */
  readonly signOnThreadPool?: boolean;
  /** Current time in ms (tests freeze it). Default Date.now. */
  readonly clock?: () => number;
}

/** Issuer Ready reasons, as cert-manager's CA issuer sets them. */
export const CA_READY_REASONS = {
  verified: "KeyPairVerified",
  getKeyPair: "ErrGetKeyPair",
  invalidKeyPair: "ErrInvalidKeyPair",
} as const;

interface Prepared {
  /** The lean DER signer of src/pki: issuer Name, AKI and algorithm encoded once. */
  readonly signer: CaSigner;
  readonly caNotAfter: number;
  /** PEM intermediates to append after the leaf (the CA chain without a self-signed root). */
  readonly chainTail: readonly string[];
  /** PEM of the root-most certificate. */
  readonly caPem: string;
}

function isSelfSigned(cert: ParsedCertificate): boolean {
  if (!cert.selfIssued) return false;
  try {
    return cert.verifySignature(cert.publicKey());
  } catch {
    return false; // a key algorithm meshsign does not support cannot be a root we recognise
  }
}

/** keyUsage absent means any usage (RFC 5280 4.2.1.3); present, it must include keyCertSign. */
function hasKeyCertSign(cert: ParsedCertificate): boolean {
  return cert.keyUsage === undefined || cert.keyUsage.includes("keyCertSign");
}

function keyMatches(cert: ParsedCertificate, key: KeyObject): boolean {
  try {
    return cert.publicKey().equals(key.type === "private" ? createPublicKey(key) : key);
  } catch {
    return false;
  }
}

/**
 * Signs with a CA key pair (cert-manager's `ca` issuer). Build it with
 * {@link CaIssuer.create}; all parsing, key import and issuer-side encoding
 * happen there, once, so `sign` only encodes the leaf and signs it: it is on
 * the CSR service hot path.
 *
 * Ready only when the certificate is a CA (basicConstraints CA:true and, when
 * keyUsage is present, keyCertSign) and the private key matches it. Issued
 * certificates never outlive the CA: notAfter is clamped to the CA's notAfter.
 */
export class CaIssuer implements Issuer {
  readonly kind = "ca";
  readonly #status: IssuerStatus;
  readonly #prepared: Prepared | undefined;

  readonly #signOnThreadPool: boolean;
  readonly #clock: () => number;

  private constructor(status: IssuerStatus, prepared: Prepared | undefined, options: CaIssuerOptions) {
    this.#status = status;
    this.#prepared = prepared;
    this.#signOnThreadPool = options.signOnThreadPool ?? true;
    this.#clock = options.clock ?? Date.now;
  }

  /** An issuer that is not ready because its key pair could not be read (e.g. the Secret is missing). */
  static unavailable(message: string): CaIssuer {
    return new CaIssuer({ ready: false, reason: CA_READY_REASONS.getKeyPair, message }, undefined, {});
  }

  /** Validates the key pair and precomputes the signer. Never throws: problems become a not-ready status. */
  static async create(source: CaKeyPairSource, options: CaIssuerOptions = {}): Promise<CaIssuer> {
    const invalid = (why: string): CaIssuer =>
      new CaIssuer(
        {
          ready: false,
          reason: CA_READY_REASONS.invalidKeyPair,
          message: `Error parsing CA key pair from ${source.origin}: ${why}`,
        },
        undefined,
        options,
      );
    let certs: ParsedCertificate[];
    try {
      certs = decodePemAll(source.certificatePem, "CERTIFICATE").map((der) => parseCertificate(der));
    } catch {
      return invalid("tls.crt does not hold valid certificates");
    }
    const ca = certs[0];
    if (ca === undefined) return invalid("no certificate found in tls.crt");
    let key: KeyObject;
    try {
      key = privateKeyFromPem(source.privateKeyPem);
    } catch {
      return invalid("tls.key does not hold a valid private key");
    }
    // An RSASSA-PSS key (id-RSASSA-PSS) is neither read from a certificate nor signed with: said as
    // such, not as a key that "does not match". Go's crypto/x509 cannot parse such a key either.
    if (key.asymmetricKeyType === "rsa-pss")
      return invalid(
        "an RSASSA-PSS key (id-RSASSA-PSS) is not supported for a CA, as Go's crypto/x509 cannot read it; use an RSA key of type rsaEncryption (meshsign signs with it using PKCS#1 v1.5 and SHA-256), ECDSA or Ed25519",
      );
    // cert-manager's checks and messages first; signerFromCertificate below repeats them as a guard.
    if (ca.basicConstraints?.isCA !== true)
      return invalid("the certificate is not a CA (basicConstraints CA:true is missing)");
    if (!keyMatches(ca, key)) return invalid("the private key does not match the certificate");
    // Every certificate of the chain but a root is verified by the workload's peers: one signed with
    // an algorithm they cannot verify (RSASSA-PSS with a salt other than the hash's length, SHA-1)
    // would make every chain this CA hands out fail there.
    for (const c of certs) {
      const alg = c.signatureAlgorithm;
      if (c.selfIssued || alg.kind !== "unsupported") continue;
      const cn = c.subject.flat().find((a) => a.type === "2.5.4.3")?.value;
      return invalid(
        `the certificate ${cn === undefined ? `with serial ${c.serialHex}` : `"CN=${cn}"`} is signed with an algorithm Go's crypto/x509 and Envoy cannot verify (${alg.reason ?? `OID ${alg.oid}`}), so no peer could verify the chains this CA issues`,
      );
    }
    if (!hasKeyCertSign(ca)) return invalid("the certificate's keyUsage does not allow certificate signing");
    let signer: CaSigner;
    try {
      signer = signerFromCertificate(ca.der, key);
    } catch (err) {
      return invalid(isMeshsignError(err) ? err.message : "unsupported key");
    }
    // The chain after the leaf: the signing CA itself unless it is a self-signed root, then the rest
    // of tls.crt / ca.crt, dropping self-signed roots and duplicates.
    const seen = new Set<string>();
    const tail: ParsedCertificate[] = [];
    for (const c of certs) {
      const fingerprint = createHash("sha256").update(c.der).digest("hex");
      if (seen.has(fingerprint) || isSelfSigned(c)) continue;
      seen.add(fingerprint);
      tail.push(c);
    }
    const root = certs.find((c) => isSelfSigned(c)) ?? tail.at(-1) ?? ca;
    const prepared: Prepared = {
      signer,
      caNotAfter: signer.notAfter.getTime(),
      chainTail: tail.map((c) => encodePem("CERTIFICATE", c.der)),
      caPem: encodePem("CERTIFICATE", root.der),
    };
    return new CaIssuer(
      { ready: true, reason: CA_READY_REASONS.verified, message: "Signing CA verified" },
      prepared,
      options,
    );
  }

  status(): IssuerStatus {
    return this.#status;
  }

  async sign(request: SignRequest): Promise<SignResult> {
    const p = this.#prepared;
    if (p === undefined) {
      throw new MeshsignError("ERR_ISSUER_NOT_READY", `CA issuer is not ready: ${this.#status.message}`, {
        retry: "transient",
      });
    }
    const t = request.template;
    const notAfter = Math.min(t.notAfter.getTime(), p.caNotAfter);
    // The CA's expiry is checked against now, not only against notBefore: the CSR service back-dates
    // notBefore (2 min), and a CA that expired within that window would sign leaves already expired.
    if (notAfter <= t.notBefore.getTime() || p.caNotAfter <= this.#clock()) {
      throw new MeshsignError("ERR_SIGNING_FAILED", "the CA certificate has expired", {
        detail: { requestId: request.requestId },
      });
    }
    const template: CertificateTemplate =
      notAfter === t.notAfter.getTime() ? t : { ...t, notAfter: new Date(notAfter) };
    let der: Uint8Array;
    try {
      der = this.#signOnThreadPool
        ? await signCertificateAsync(template, p.signer)
        : signCertificate(template, p.signer);
    } catch (err) {
      // signCertificate's messages name the template field at fault and are client-safe.
      const message = isMeshsignError(err) ? err.message : "the CA failed to sign the certificate";
      throw new MeshsignError("ERR_SIGNING_FAILED", message, {
        cause: err,
        detail: { requestId: request.requestId },
      });
    }
    return {
      status: "issued",
      chain: [encodePem("CERTIFICATE", der), ...p.chainTail],
      ca: p.caPem,
      // X.509 times hold whole seconds: the encoder drops the milliseconds.
      notAfter: new Date(notAfter - (notAfter % 1000)),
    };
  }
}
