/**
 * Encodes and signs a {@link CertificateTemplate} with `@peculiar/x509`.
 *
 * Used by the CA and SelfSigned issuers until the lean DER encoder of
 * `src/pki` is available; everything that is per-CA (the WebCrypto signing
 * key, the issuer Name, the authority key identifier, the signature
 * algorithm) is computed once in {@link createTemplateSigner}, so a call to
 * `sign` only encodes the leaf.
 */
import "reflect-metadata";
import { type KeyObject, createPublicKey, randomBytes, webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";
import type { CertificateTemplate, ExtKeyUsage, KeyUsage, Name } from "../../../pki/template.js";

x509.cryptoProvider.set(webcrypto as never);

const KEY_USAGE_FLAGS: Record<KeyUsage, x509.KeyUsageFlags> = {
  digitalSignature: x509.KeyUsageFlags.digitalSignature,
  contentCommitment: x509.KeyUsageFlags.nonRepudiation,
  keyEncipherment: x509.KeyUsageFlags.keyEncipherment,
  dataEncipherment: x509.KeyUsageFlags.dataEncipherment,
  keyAgreement: x509.KeyUsageFlags.keyAgreement,
  keyCertSign: x509.KeyUsageFlags.keyCertSign,
  cRLSign: x509.KeyUsageFlags.cRLSign,
  encipherOnly: x509.KeyUsageFlags.encipherOnly,
  decipherOnly: x509.KeyUsageFlags.decipherOnly,
};

const EXT_KEY_USAGE_OIDS: Record<ExtKeyUsage, string> = {
  serverAuth: "1.3.6.1.5.5.7.3.1",
  clientAuth: "1.3.6.1.5.5.7.3.2",
  codeSigning: "1.3.6.1.5.5.7.3.3",
  emailProtection: "1.3.6.1.5.5.7.3.4",
  timeStamping: "1.3.6.1.5.5.7.3.8",
  ocspSigning: "1.3.6.1.5.5.7.3.9",
  any: "2.5.29.37.0",
};

/** Signs templates with one fixed issuer key. */
export interface TemplateSigner {
  /** Returns the DER certificate. */
  sign(template: CertificateTemplate): Promise<Uint8Array>;
}

export interface TemplateSignerOptions {
  readonly privateKey: KeyObject;
  /**
   * DER of the issuing CA certificate; absent for a self-signed certificate
   * (issuer = subject, authority key id = own key id).
   */
  readonly issuerCertificateDer?: Uint8Array;
}

interface Algorithms {
  readonly importAlg: webcrypto.RsaHashedImportParams | webcrypto.EcKeyImportParams | webcrypto.Algorithm;
  readonly signingAlg: webcrypto.Algorithm | webcrypto.EcdsaParams;
}

/**
 * The signature algorithm follows the issuer key, as cert-manager does:
 * RSA >= 4096 -> SHA-512, >= 3072 -> SHA-384, else SHA-256; P-256/384/521 ->
 * SHA-256/384/512; Ed25519 pure.
 */
function algorithmsFor(key: KeyObject): Algorithms {
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case "rsa": {
      const bits = details.modulusLength ?? 2048;
      const hash = bits >= 4096 ? "SHA-512" : bits >= 3072 ? "SHA-384" : "SHA-256";
      const alg = { name: "RSASSA-PKCS1-v1_5", hash };
      return { importAlg: alg, signingAlg: alg };
    }
    case "ec": {
      const curve = details.namedCurve;
      const named =
        curve === "prime256v1" ? "P-256" : curve === "secp384r1" ? "P-384" : curve === "secp521r1" ? "P-521" : undefined;
      if (named === undefined) throw new Error(`unsupported EC curve ${String(curve)}`);
      const hash = named === "P-256" ? "SHA-256" : named === "P-384" ? "SHA-384" : "SHA-512";
      return { importAlg: { name: "ECDSA", namedCurve: named }, signingAlg: { name: "ECDSA", hash } as webcrypto.EcdsaParams };
    }
    case "ed25519":
      return { importAlg: { name: "Ed25519" }, signingAlg: { name: "Ed25519" } };
    default:
      throw new Error(`unsupported key type ${String(key.asymmetricKeyType)}`);
  }
}

function toJsonName(name: Name | undefined): x509.JsonName {
  return (name ?? []).map((rdn) => {
    const out: Record<string, string[]> = {};
    for (const attr of rdn) {
      const values = out[attr.type] ?? [];
      values.push(attr.value);
      out[attr.type] = values;
    }
    return out;
  });
}

function randomSerialHex(): string {
  const bytes = randomBytes(16);
  // Positive INTEGER, and never a leading zero byte that DER would strip.
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x40;
  return bytes.toString("hex");
}

function sanNames(t: CertificateTemplate): x509.JsonGeneralName[] {
  return [
    ...(t.dnsNames ?? []).map((value) => ({ type: "dns" as const, value })),
    ...(t.ipAddresses ?? []).map((value) => ({ type: "ip" as const, value })),
    ...(t.uris ?? []).map((value) => ({ type: "url" as const, value })),
    ...(t.emailAddresses ?? []).map((value) => ({ type: "email" as const, value })),
  ];
}

/** Builds a signer; all per-issuer work happens here, once. */
export async function createTemplateSigner(options: TemplateSignerOptions): Promise<TemplateSigner> {
  const algs = algorithmsFor(options.privateKey);
  const pkcs8 = options.privateKey.export({ format: "der", type: "pkcs8" });
  const signingKey = await webcrypto.subtle.importKey("pkcs8", pkcs8, algs.importAlg, false, ["sign"]);
  const issuerCert =
    options.issuerCertificateDer === undefined ? undefined : new x509.X509Certificate(options.issuerCertificateDer);
  let authorityKeyId: string | undefined;
  if (issuerCert !== undefined) {
    const ski = issuerCert.getExtension(x509.SubjectKeyIdentifierExtension);
    authorityKeyId =
      ski?.keyId ?? Buffer.from(await issuerCert.publicKey.getKeyIdentifier()).toString("hex");
  } else {
    const spki = createPublicKey(options.privateKey).export({ format: "der", type: "spki" });
    authorityKeyId = Buffer.from(await new x509.PublicKey(spki).getKeyIdentifier()).toString("hex");
  }

  return {
    async sign(t) {
      const subjectEmpty = (t.subject ?? []).length === 0;
      const extensions: x509.Extension[] = [new x509.BasicConstraintsExtension(t.isCA, t.isCA ? t.maxPathLen : undefined, true)];
      const flags = t.keyUsage.reduce((acc, u) => acc | KEY_USAGE_FLAGS[u], 0);
      if (flags !== 0) extensions.push(new x509.KeyUsagesExtension(flags, true));
      if (t.extKeyUsage.length > 0) {
        extensions.push(new x509.ExtendedKeyUsageExtension(t.extKeyUsage.map((u) => EXT_KEY_USAGE_OIDS[u]), false));
      }
      const names = sanNames(t);
      // RFC 5280 4.2.1.6: the SAN is critical when the subject is empty.
      if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names, subjectEmpty));
      const publicKey = new x509.PublicKey(t.publicKeySpki);
      extensions.push(
        new x509.SubjectKeyIdentifierExtension(Buffer.from(await publicKey.getKeyIdentifier()).toString("hex")),
      );
      if (authorityKeyId !== undefined) extensions.push(new x509.AuthorityKeyIdentifierExtension(authorityKeyId));
      const subject = toJsonName(t.subject);
      const cert = await x509.X509CertificateGenerator.create({
        serialNumber: t.serialNumber === undefined ? randomSerialHex() : Buffer.from(t.serialNumber).toString("hex"),
        subject,
        issuer: issuerCert?.subjectName ?? subject,
        notBefore: t.notBefore,
        notAfter: t.notAfter,
        publicKey,
        signingKey,
        signingAlgorithm: algs.signingAlg,
        extensions,
      });
      return new Uint8Array(cert.rawData);
    },
  };
}
