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

/** Every extended key usage cert-manager's API can ask for (RFC 5280 §4.2.1.12 and the SGC purposes). */
export type ExtKeyUsage =
  | "serverAuth"
  | "clientAuth"
  | "codeSigning"
  | "emailProtection"
  | "ipsecEndSystem"
  | "ipsecTunnel"
  | "ipsecUser"
  | "timeStamping"
  | "ocspSigning"
  | "microsoftServerGatedCrypto"
  | "netscapeServerGatedCrypto"
  | "any";

/** An otherName SAN (RFC 5280 §4.2.1.6) with a UTF8String value, as cert-manager's `otherNames`. */
export interface OtherName {
  /** Dotted type-id OID, e.g. 1.3.6.1.4.1.311.20.2.3 (Microsoft UPN). */
  readonly oid: string;
  readonly value: string;
}

/** One side (permitted or excluded) of a NameConstraints extension (RFC 5280 §4.2.1.10). */
export interface NameConstraintSubtrees {
  readonly dnsDomains?: readonly string[];
  /** CIDR ranges, "10.0.0.0/8" or "fd00::/8". */
  readonly ipRanges?: readonly string[];
  readonly emailAddresses?: readonly string[];
  readonly uriDomains?: readonly string[];
}

/** NameConstraints for a CA certificate. */
export interface NameConstraints {
  readonly critical: boolean;
  readonly permitted?: NameConstraintSubtrees;
  readonly excluded?: NameConstraintSubtrees;
}

export interface CertificateTemplate {
  /** DER SubjectPublicKeyInfo of the key being certified. */
  readonly publicKeySpki: Uint8Array;
  /** Subject; empty or absent means an empty Name (the SAN is then marked critical). */
  readonly subject?: Name;
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
  readonly uris?: readonly string[];
  readonly emailAddresses?: readonly string[];
  /** otherName SANs with UTF8String values, written after the other SANs (as Go and cert-manager order them). */
  readonly otherNames?: readonly OtherName[];
  readonly isCA: boolean;
  /** NameConstraints; CA certificates only. */
  readonly nameConstraints?: NameConstraints;
  /** pathLenConstraint for CA certificates; absent means unlimited. */
  readonly maxPathLen?: number;
  readonly keyUsage: readonly KeyUsage[];
  readonly extKeyUsage: readonly ExtKeyUsage[];
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Positive serial number bytes; a random 128-bit one is used when absent. */
  readonly serialNumber?: Uint8Array;
}
