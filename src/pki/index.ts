/**
 * meshsign's pure PKI core: parse, check, build and sign X.509 / PKCS#10 /
 * SPIFFE objects. No I/O. The DER writer and reader (`der/`) and the helpers
 * in `lib/` are internal and deliberately not exported.
 */
export type { CertificateTemplate, ExtKeyUsage, KeyUsage, Name, NameAttribute } from "./template.js";
export { CurveOid, ExtKeyUsageOid, ExtensionOid, KeyAlgorithmOid, NameOid, SignatureOid } from "./oids.js";
export type { KeyAlgorithm, SignatureAlgorithm } from "./lib/algorithms.js";
export type { BasicConstraints, Extension } from "./lib/extensions.js";
export {
  type CaSigner,
  type CertificateSigner,
  type SignOptions,
  selfSignedSigner,
  signCertificate,
  signerFromCertificate,
} from "./sign.js";
export { type CsrLimits, DEFAULT_MAX_CSR_BYTES, type ParsedCsr, parseCsr, parseCsrDer } from "./csr.js";
export { type ParsedCertificate, parseCertificate } from "./certificate.js";
export { type PemBlock, decodePemAll, decodePemBlocks, encodePem, splitPemBundle } from "./pem.js";
export {
  type IstioIdentity,
  MAX_SPIFFE_ID_BYTES,
  MAX_TRUST_DOMAIN_BYTES,
  type SpiffeId,
  istioIdentity,
  parseIstioIdentity,
  parseSpiffeId,
  validateTrustDomain,
} from "./spiffe.js";
export {
  DEFAULT_BACKDATE_MS,
  DEFAULT_CERT_DURATION_MS,
  DEFAULT_MAX_CERT_DURATION_MS,
  type Validity,
  type ValidityPolicy,
  computeValidity,
} from "./duration.js";
export { type VerifyOptions, isIssuedBy, orderChain, svidResponseChain, verifyChain } from "./chain.js";
export {
  type CsrOptions,
  type KeySpec,
  type PrivateKeyFormat,
  buildCsr,
  buildCsrDer,
  generateKey,
  generateKeySync,
  privateKeyFromPem,
  privateKeyToPem,
  publicKeySpki,
} from "./keys.js";
export { keyIdentifier } from "./keyid.js";
export { spkiKeyType } from "./spki.js";
