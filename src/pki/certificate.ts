/**
 * A minimal X.509 certificate reader (RFC 5280 §4.1) for CA loading, chain
 * ordering and verification: names, serial, validity, key, and the
 * extensions meshsign acts on. Strict DER; any malformation is a
 * MeshsignError ERR_CERT_INVALID.
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
import { bytesEqual, toHex } from "./lib/bytes.js";
import { type BasicConstraints, decodeExtensions, type Extension } from "./lib/extensions.js";
import { decodeName } from "./lib/names.js";
import type { ExtKeyUsage, KeyUsage, Name } from "./template.js";

export interface ParsedCertificate {
  /** The whole certificate (a view of the input). */
  readonly der: Uint8Array;
  /** The signed part, TBSCertificate. */
  readonly tbs: Uint8Array;
  /** 1, 2 or 3. */
  readonly version: number;
  /** Content octets of the serial INTEGER (two's complement, as encoded). */
  readonly serialNumber: Uint8Array;
  /** Lower-case hex of the serial's value (the DER sign octet 0x00 dropped), as `openssl x509 -serial` shows. */
  readonly serialHex: string;
  readonly signatureAlgorithm: SignatureAlgorithm;
  readonly signature: Uint8Array;
  readonly issuer: Name;
  readonly issuerDer: Uint8Array;
  readonly subject: Name;
  readonly subjectDer: Uint8Array;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly publicKeySpki: Uint8Array;
  /** The subjectPublicKey BIT STRING value (what key identifiers hash). */
  readonly subjectPublicKeyBits: Uint8Array;
  /** undefined when meshsign does not support the key algorithm. */
  readonly keyAlgorithm: KeyAlgorithm | undefined;
  readonly extensions: readonly Extension[];
  readonly subjectKeyId?: Uint8Array;
  readonly authorityKeyId?: Uint8Array;
  readonly basicConstraints?: BasicConstraints;
  readonly keyUsage?: readonly KeyUsage[];
  readonly extKeyUsage?: readonly ExtKeyUsage[];
  readonly extKeyUsageOids?: readonly string[];
  readonly uris: readonly string[];
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
  readonly emailAddresses: readonly string[];
  /** Subject alternative names of any other type (otherName, x400Address, directoryName, ediPartyName, registeredID). */
  readonly otherSanCount: number;
  /** True when issuer and subject are byte-identical (self-issued, RFC 5280 §3.2). */
  readonly selfIssued: boolean;
  /** The subject public key; throws ERR_CERT_INVALID when the algorithm is unsupported. */
  publicKey(): KeyObject;
  /** True when this certificate's signature verifies under `issuerKey`. Never throws. */
  verifySignature(issuerKey: KeyObject): boolean;
}

const CODE = "ERR_CERT_INVALID" as const;

export interface ParseCertificateOptions {
  /**
   * Import the subject public key on first use instead of while parsing (the
   * import is most of a leaf's parse time). For a leaf whose
   * `publicKeySpki` the caller compares byte for byte with a key it already
   * imported (the CSR's): a key that does not import then shows as
   * `keyAlgorithm` undefined and `publicKey()` throwing, instead of failing
   * the parse.
   */
  readonly lazyKey?: boolean;
}

/** Parses one DER certificate. */
export function parseCertificate(der: Uint8Array, options: ParseCertificateOptions = {}): ParsedCertificate {
  const top = new DerReader(der, CODE);
  const certSeq = top.sequence("Certificate");
  top.finish("Certificate");
  const tbsTlv = certSeq.expect(Tag.SEQUENCE, "TBSCertificate");
  const outerAlgStart = certSeq.pos;
  const signatureAlgorithm = readSignatureAlgorithm(certSeq);
  const outerAlg = der.subarray(outerAlgStart, certSeq.pos);
  const sig = certSeq.bitString(certSeq.expect(Tag.BIT_STRING, "signatureValue"));
  if (sig.unusedBits !== 0) certSeq.fail("signatureValue unused bits");
  certSeq.finish("Certificate");

  const t = certSeq.inside(tbsTlv, "TBSCertificate");
  let version = 1;
  const v = t.optional(0xa0);
  if (v !== undefined) {
    const vr = t.inside(v, "version");
    const n = vr.smallInteger(vr.expect(Tag.INTEGER, "version"), "version");
    vr.finish("version");
    // v1 is the DEFAULT and must be omitted in DER.
    if (n !== 1 && n !== 2) t.fail("version");
    version = n + 1;
  }
  const serialNumber = t.integer(t.expect(Tag.INTEGER, "serialNumber"), "serialNumber");
  // RFC 5280 §4.1.2.2 allows 20 octets; tolerate a little more from non-conforming CAs.
  if (serialNumber.length > 32) t.fail("serialNumber too long");
  const innerAlgStart = t.pos;
  readSignatureAlgorithm(t);
  if (!bytesEqual(der.subarray(innerAlgStart, t.pos), outerAlg)) {
    t.fail("signature algorithm differs from TBSCertificate.signature"); // RFC 5280 §4.1.1.2
  }
  const issuer = decodeName(t);
  const validity = t.sequence("Validity");
  const notBefore = validity.time(validity.next(), "notBefore");
  const notAfter = validity.time(validity.next(), "notAfter");
  validity.finish("Validity");
  const subject = decodeName(t);
  const spki = readSpki(t);
  const issuerUid = t.optional(0x81);
  const subjectUid = t.optional(0x82);
  if ((issuerUid !== undefined || subjectUid !== undefined) && version < 2) {
    t.fail("unique identifiers in a v1 certificate");
  }
  const extTlv = t.optional(0xa3);
  t.finish("TBSCertificate");
  let ext: ReturnType<typeof decodeExtensions> | undefined;
  if (extTlv !== undefined) {
    if (version !== 3) t.fail("extensions in a non-v3 certificate");
    const er = t.inside(extTlv, "extensions");
    ext = decodeExtensions(er);
    er.finish("extensions");
  }

  // null: not imported yet (lazyKey); undefined: unsupported or not a valid key.
  let imported: ReturnType<typeof importSpki> | null = null;
  const key = (): ReturnType<typeof importSpki> => {
    if (imported === null) {
      imported =
        spki.algorithm.type === "unsupported"
          ? undefined
          : importSpki(spki.spki, spki.algorithm, spki.keyBits);
    }
    return imported;
  };
  if (options.lazyKey !== true && spki.algorithm.type !== "unsupported" && key() === undefined) {
    t.fail("subject public key is not a valid key");
  }
  const tbs = der.subarray(tbsTlv.start, tbsTlv.end);
  const signature = sig.bytes;
  return {
    der,
    tbs,
    version,
    serialNumber,
    serialHex: toHex(
      serialNumber.length > 1 && serialNumber[0] === 0 ? serialNumber.subarray(1) : serialNumber,
    ),
    signatureAlgorithm,
    signature,
    issuer: issuer.name,
    issuerDer: issuer.raw,
    subject: subject.name,
    subjectDer: subject.raw,
    notBefore,
    notAfter,
    publicKeySpki: spki.spki,
    subjectPublicKeyBits: spki.keyBits,
    get keyAlgorithm(): KeyAlgorithm | undefined {
      return key()?.algorithm;
    },
    extensions: ext?.list ?? [],
    subjectKeyId: ext?.subjectKeyId,
    authorityKeyId: ext?.authorityKeyId,
    basicConstraints: ext?.basicConstraints,
    keyUsage: ext?.keyUsage,
    extKeyUsage: ext?.extKeyUsage,
    extKeyUsageOids: ext?.extKeyUsageOids,
    uris: ext?.san?.uris ?? [],
    dnsNames: ext?.san?.dnsNames ?? [],
    ipAddresses: ext?.san?.ipAddresses ?? [],
    emailAddresses: ext?.san?.emailAddresses ?? [],
    otherSanCount: ext?.san?.otherNames ?? 0,
    selfIssued: bytesEqual(issuer.raw, subject.raw),
    publicKey(): KeyObject {
      const k = key();
      if (k === undefined) {
        throw new MeshsignError(
          CODE,
          spki.algorithm.type === "unsupported"
            ? "certificate key algorithm is not supported"
            : "subject public key is not a valid key",
        );
      }
      return k.key;
    },
    verifySignature(issuerKey: KeyObject): boolean {
      return verifySignature(signatureAlgorithm, tbs, signature, issuerKey);
    },
  };
}
