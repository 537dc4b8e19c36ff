import { type KeyObject, X509Certificate, createPrivateKey } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { MeshsignError } from "../../errors/index.js";
import type { Issuer, IssuerStatus, SignRequest, SignResult } from "../issuer.js";
import { derToPem, pemCertificatesToDer } from "./lib/pem.js";
import { type TemplateSigner, createTemplateSigner } from "./lib/x509-sign.js";

/** Where the CA key pair comes from, for status messages ("secret ns/name", "file /etc/..."). */
export interface CaKeyPairSource {
  /** PEM chain: the signing CA first, then its issuers (a Secret's `tls.crt`, plus `ca.crt` if present). */
  readonly certificatePem: string;
  /** PEM private key: PKCS#1, PKCS#8 or SEC1. */
  readonly privateKeyPem: string;
  /** Human-readable origin, used in messages. */
  readonly origin: string;
}

/** Issuer Ready reasons, as cert-manager's CA issuer sets them. */
export const CA_READY_REASONS = {
  verified: "KeyPairVerified",
  getKeyPair: "ErrGetKeyPair",
  invalidKeyPair: "ErrInvalidKeyPair",
} as const;

interface Prepared {
  readonly signer: TemplateSigner;
  readonly caNotAfter: number;
  /** PEM intermediates to append after the leaf (the CA chain without a self-signed root). */
  readonly chainTail: readonly string[];
  /** PEM of the root-most certificate. */
  readonly caPem: string;
}

function isSelfSigned(cert: X509Certificate): boolean {
  return cert.checkIssued(cert) && cert.verify(cert.publicKey);
}

/**
 * Signs with a CA key pair (cert-manager's `ca` issuer). Build it with
 * {@link CaIssuer.create}; all parsing and key import happen there, once, so
 * `sign` is cheap enough for the CSR service hot path.
 *
 * Ready only when the certificate is a CA (basicConstraints CA:true and, when
 * keyUsage is present, keyCertSign) and the private key matches it. Issued
 * certificates never outlive the CA: notAfter is clamped to the CA's notAfter.
 */
export class CaIssuer implements Issuer {
  readonly kind = "ca";
  readonly #status: IssuerStatus;
  readonly #prepared: Prepared | undefined;

  private constructor(status: IssuerStatus, prepared: Prepared | undefined) {
    this.#status = status;
    this.#prepared = prepared;
  }

  /** An issuer that is not ready because its key pair could not be read (e.g. the Secret is missing). */
  static unavailable(message: string): CaIssuer {
    return new CaIssuer({ ready: false, reason: CA_READY_REASONS.getKeyPair, message }, undefined);
  }

  /** Validates the key pair and precomputes the signer. Never throws: problems become a not-ready status. */
  static async create(source: CaKeyPairSource): Promise<CaIssuer> {
    const invalid = (why: string): CaIssuer =>
      new CaIssuer(
        { ready: false, reason: CA_READY_REASONS.invalidKeyPair, message: `Error parsing CA key pair from ${source.origin}: ${why}` },
        undefined,
      );
    const ders = pemCertificatesToDer(source.certificatePem);
    const first = ders[0];
    if (first === undefined) return invalid("no certificate found in tls.crt");
    let certs: X509Certificate[];
    try {
      certs = ders.map((d) => new X509Certificate(d));
    } catch {
      return invalid("tls.crt does not hold valid certificates");
    }
    let key: KeyObject;
    try {
      key = createPrivateKey(source.privateKeyPem);
    } catch {
      return invalid("tls.key does not hold a valid private key");
    }
    const ca = certs[0] as X509Certificate;
    if (!ca.ca) return invalid("the certificate is not a CA (basicConstraints CA:true is missing)");
    if (!ca.checkPrivateKey(key)) return invalid("the private key does not match the certificate");
    if (!hasKeyCertSign(first)) return invalid("the certificate's keyUsage does not allow certificate signing");
    let signer: TemplateSigner;
    try {
      signer = await createTemplateSigner({ privateKey: key, issuerCertificateDer: first });
    } catch (err) {
      return invalid(err instanceof Error ? err.message : "unsupported key");
    }
    // The chain after the leaf: the signing CA itself unless it is a self-signed root, then the rest
    // of tls.crt / ca.crt, dropping self-signed roots and duplicates.
    const seen = new Set<string>();
    const tail: X509Certificate[] = [];
    for (const c of certs) {
      if (seen.has(c.fingerprint256) || isSelfSigned(c)) continue;
      seen.add(c.fingerprint256);
      tail.push(c);
    }
    const root = certs.find((c) => isSelfSigned(c)) ?? tail.at(-1) ?? ca;
    const prepared: Prepared = {
      signer,
      caNotAfter: Date.parse(ca.validTo),
      chainTail: tail.map((c) => derToPem(new Uint8Array(c.raw))),
      caPem: derToPem(new Uint8Array(root.raw)),
    };
    return new CaIssuer({ ready: true, reason: CA_READY_REASONS.verified, message: "Signing CA verified" }, prepared);
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
    if (notAfter <= t.notBefore.getTime()) {
      throw new MeshsignError("ERR_SIGNING_FAILED", "the CA certificate has expired", {
        detail: { requestId: request.requestId },
      });
    }
    let der: Uint8Array;
    try {
      der = await p.signer.sign(notAfter === t.notAfter.getTime() ? t : { ...t, notAfter: new Date(notAfter) });
    } catch (err) {
      throw new MeshsignError("ERR_SIGNING_FAILED", "the CA failed to sign the certificate", {
        cause: err,
        detail: { requestId: request.requestId },
      });
    }
    return { status: "issued", chain: [derToPem(der), ...p.chainTail], ca: p.caPem };
  }
}

/** keyUsage absent means any usage (RFC 5280 4.2.1.3); present, it must include keyCertSign. */
function hasKeyCertSign(der: Uint8Array): boolean {
  const ku = new x509.X509Certificate(der).getExtension(x509.KeyUsagesExtension);
  return ku === null || (ku.usages & x509.KeyUsageFlags.keyCertSign) !== 0;
}
