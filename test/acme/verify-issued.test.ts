/**
 * verifyIssued on chains built here (no CA needed): what an ACME server sends
 * back is checked before the engine uses it.
 */
import { describe, expect, it } from "vitest";
import { verifyIssued } from "../../src/acme/index.js";
import type { MeshsignError } from "../../src/errors/index.js";
import {
  type CertificateTemplate,
  type ExtKeyUsage,
  type KeyUsage,
  encodePem,
  generateKeySync,
  NameOid,
  publicKeySpki,
  selfSignedSigner,
  signCertificate,
  signerFromCertificate,
} from "../../src/pki/index.js";

const now = Date.now();

function ca(name: string): { der: Uint8Array; signer: ReturnType<typeof signerFromCertificate> } {
  const key = generateKeySync({ type: "ec", curve: "P-256" });
  const template: CertificateTemplate = {
    publicKeySpki: publicKeySpki(key),
    subject: [[{ type: NameOid.commonName, value: name }]],
    isCA: true,
    keyUsage: ["keyCertSign", "cRLSign"],
    extKeyUsage: [],
    notBefore: new Date(now - 3_600_000),
    notAfter: new Date(now + 86_400_000),
  };
  const der = signCertificate(template, selfSignedSigner(template, key));
  return { der, signer: signerFromCertificate(der, key) };
}

describe("verifyIssued", () => {
  const leafKey = generateKeySync({ type: "ec", curve: "P-256" });
  const spki = publicKeySpki(leafKey);
  const issuer = ca("Issuing CA");
  const other = ca("Some Other CA");
  const leaf = signCertificate(
    {
      publicKeySpki: spki,
      subject: [],
      dnsNames: ["shop.example.com"],
      isCA: false,
      keyUsage: ["digitalSignature"],
      extKeyUsage: ["serverAuth"],
      notBefore: new Date(now - 60_000),
      notAfter: new Date(now + 3_600_000),
    },
    issuer.signer,
  );
  const check = (chain: Uint8Array[]) =>
    verifyIssued({
      chainPem: chain.map((d) => encodePem("CERTIFICATE", d)).join(""),
      csrPublicKeySpki: spki,
      identifiers: [{ type: "dns", value: "shop.example.com" }],
      at: new Date(now),
    });

  it("takes a chain whose every certificate is issued by the next", () => {
    expect(check([leaf, issuer.der]).intermediates).toHaveLength(1);
  });

  it("refuses, without trust anchors, a chain whose next certificate did not issue the leaf", () => {
    let err: MeshsignError | undefined;
    try {
      check([leaf, other.der]);
    } catch (e) {
      err = e as MeshsignError;
    }
    expect(err?.code).toBe("ERR_CHAIN_INVALID");
    expect(err?.message).toMatch(/certificate 2 .*did not issue certificate 1/);
  });

  describe("the leaf's usages, which the Gateway it is for needs for a TLS server", () => {
    const withUsages = (keyUsage: KeyUsage[], extKeyUsage: ExtKeyUsage[]) =>
      signCertificate(
        {
          publicKeySpki: spki,
          subject: [],
          dnsNames: ["shop.example.com"],
          isCA: false,
          keyUsage,
          extKeyUsage,
          notBefore: new Date(now - 60_000),
          notAfter: new Date(now + 3_600_000),
        },
        issuer.signer,
      );

    it.each([
      // Public CAs drop clientAuth from their certificates in 2026; it is never required of one,
      // whatever the Certificate's `usages` say (cert-manager ignores them for ACME).
      { what: "serverAuth only, no clientAuth", ku: ["digitalSignature"], eku: ["serverAuth"] },
      { what: "serverAuth and clientAuth", ku: ["digitalSignature", "keyEncipherment"], eku: ["serverAuth", "clientAuth"] },
      { what: "no extendedKeyUsage extension at all (RFC 5280 §4.2.1.12: any purpose)", ku: ["digitalSignature"], eku: [] },
      { what: "no keyUsage extension at all", ku: [], eku: ["serverAuth"] },
    ] as { what: string; ku: KeyUsage[]; eku: ExtKeyUsage[] }[])("takes a leaf with $what", ({ ku, eku }) => {
      expect(check([withUsages(ku, eku), issuer.der]).intermediates).toHaveLength(1);
    });

    it.each([
      {
        what: "an extendedKeyUsage of clientAuth only",
        ku: ["digitalSignature"],
        eku: ["clientAuth"],
        message: "its extended key usages [clientAuth] do not allow serverAuth",
      },
      {
        // OpenSSL and BoringSSL refuse a TLS server whose only purpose is anyExtendedKeyUsage (src/pki/usages.ts).
        what: "an extendedKeyUsage of anyExtendedKeyUsage only",
        ku: ["digitalSignature"],
        eku: ["any"],
        message: "its extended key usages [any] do not allow serverAuth",
      },
      {
        what: "a keyUsage without digitalSignature",
        ku: ["keyAgreement"],
        eku: ["serverAuth"],
        message: "its key usages [keyAgreement] do not allow digitalSignature",
      },
    ] as { what: string; ku: KeyUsage[]; eku: ExtKeyUsage[]; message: string }[])(
      "refuses a leaf with $what, naming the usage check",
      ({ ku, eku, message }) => {
        let err: MeshsignError | undefined;
        try {
          check([withUsages(ku, eku), issuer.der]);
        } catch (e) {
          err = e as MeshsignError;
        }
        expect(err?.code).toBe("ERR_CERT_INVALID");
        expect(err?.detail.check).toBe("usage");
        expect(err?.message).toContain(`the ACME server's certificate is unusable: it cannot serve TLS: ${message}`);
      },
    );
  });
});
