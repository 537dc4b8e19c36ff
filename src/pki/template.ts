/**
 * What to put in a certificate, independent of who signs it. The CSR service
 * builds one from the authenticated identity (an X.509-SVID profile); the
 * Certificate engine builds one from a CertificateRequest's CSR and spec.
 * Issuers that sign in-process (CA, SelfSigned) encode it; remote issuers
 * (Vault, ACME) send the CSR and use the template only for policy.
 */

/** One attribute of a relative distinguished name: dotted OID and its string value. */
export interface NameAttribute {
  readonly type: string;
  readonly value: string;
}

/** An X.501 Name as an ordered list of RDNs (each RDN a set of attributes). */
export type Name = readonly (readonly NameAttribute[])[];

export type KeyUsage =
  | "digitalSignature"
  | "contentCommitment"
  | "keyEncipherment"
  | "dataEncipherment"
  | "keyAgreement"
  | "keyCertSign"
  | "cRLSign"
  | "encipherOnly"
  | "decipherOnly";

export type ExtKeyUsage =
  | "serverAuth"
  | "clientAuth"
  | "codeSigning"
  | "emailProtection"
  | "timeStamping"
  | "ocspSigning"
  | "any";

export interface CertificateTemplate {
  /** DER SubjectPublicKeyInfo of the key being certified. */
  readonly publicKeySpki: Uint8Array;
  /** Subject; empty or absent means an empty Name (the SAN is then marked critical). */
  readonly subject?: Name;
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
  readonly uris?: readonly string[];
  readonly emailAddresses?: readonly string[];
  readonly isCA: boolean;
  /** pathLenConstraint for CA certificates; absent means unlimited. */
  readonly maxPathLen?: number;
  readonly keyUsage: readonly KeyUsage[];
  readonly extKeyUsage: readonly ExtKeyUsage[];
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Positive serial number bytes; a random 128-bit one is used when absent. */
  readonly serialNumber?: Uint8Array;
}
