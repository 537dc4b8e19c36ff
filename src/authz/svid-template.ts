import { type CertificateTemplate, spkiKeyType } from "../pki/index.js";

/**
 * The X.509-SVID leaf profile (issue 2; SPIFFE X509-SVID.md §3-4; istiod's
 * genCertTemplateFromCSR), built from the authenticated identity, never from
 * the CSR's requested fields: empty subject (so the URI SAN is critical),
 * exactly one URI SAN, KeyUsage digitalSignature (+ keyEncipherment for RSA
 * keys, which can do key transport), EKU serverAuth + clientAuth, CA:false,
 * and a random serial (left to the signer).
 */
export function buildSvidTemplate(
  identity: string,
  publicKeySpki: Uint8Array,
  validity: { readonly notBefore: Date; readonly notAfter: Date },
): CertificateTemplate {
  const rsa = spkiKeyType(publicKeySpki) === "rsa";
  return {
    publicKeySpki,
    subject: [],
    uris: [identity],
    isCA: false,
    keyUsage: rsa ? ["digitalSignature", "keyEncipherment"] : ["digitalSignature"],
    extKeyUsage: ["serverAuth", "clientAuth"],
    notBefore: validity.notBefore,
    notAfter: validity.notAfter,
  };
}
