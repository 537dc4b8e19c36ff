/**
 * meshsign's pure PKI core: parse, check, build and sign X.509 / PKCS#10 /
 * SPIFFE objects. No I/O. The DER writer and reader (`der/`) and the helpers
 * in `lib/` are internal and deliberately not exported.
 */

export { type ParseCertificateOptions, type ParsedCertificate, parseCertificate } from "./certificate.js";
export { isIssuedBy, orderChain, svidResponseChain, type VerifyOptions, verifyChain } from "./chain.js";
export { ChainVerifier } from "./chain-verifier.js";
export { type CsrLimits, csrSignatureProblem, DEFAULT_MAX_CSR_BYTES, type ParsedCsr, parseCsr, parseCsrDer } from "./csr.js";
export { DistinguishedNameError, parseDistinguishedName } from "./distinguished-name.js";
export {
  computeValidity,
  DEFAULT_BACKDATE_MS,
  DEFAULT_CERT_DURATION_MS,
  DEFAULT_MAX_CERT_DURATION_MS,
  type Validity,
  type ValidityPolicy,
} from "./duration.js";
export { readNameConstraints, readUtf8OtherNames } from "./extension-values.js";
export { keyIdentifier } from "./keyid.js";
export {
  buildCsr,
  buildCsrDer,
  type CsrOptions,
  generateKey,
  generateKeySync,
  generatePrivateKeyObject,
  generatePrivateKeyObjectSync,
  type KeySpec,
  type PrivateKeyFormat,
  privateKeyFromPem,
  privateKeyToPem,
  publicKeySpki,
} from "./keys.js";
export type { KeyAlgorithm, SignatureAlgorithm } from "./lib/algorithms.js";
export type { BasicConstraints, Extension } from "./lib/extensions.js";
/** The KeyUsage bits in the order RFC 5280 numbers them (and Go and cert-manager list them). */
export { KEY_USAGE_BITS } from "./lib/extensions.js";
export { CurveOid, ExtensionOid, ExtKeyUsageOid, KeyAlgorithmOid, NameOid, SignatureOid } from "./oids.js";
export { decodePemAll, decodePemBlocks, encodePem, type PemBlock, splitPemBundle } from "./pem.js";
export {
  type CaSigner,
  type CertificateSigner,
  type SignOptions,
  selfSignedSigner,
  signCertificate,
  signCertificateAsync,
  signerFromCertificate,
} from "./sign.js";
export {
  type IstioIdentity,
  istioIdentity,
  MAX_SPIFFE_ID_BYTES,
  MAX_TRUST_DOMAIN_BYTES,
  parseIstioIdentity,
  parseSpiffeId,
  type SpiffeId,
  validateTrustDomain,
} from "./spiffe.js";
export { spkiKeyType } from "./spki.js";
export { missingUsages, type Usages, type UsagesRefusal } from "./usages.js";
export type {
  CertificateTemplate,
  ExtKeyUsage,
  KeyUsage,
  Name,
  NameAttribute,
  NameConstraintSubtrees,
  NameConstraints,
  OtherName,
} from "./template.js";
