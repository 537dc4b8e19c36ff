import { describe, expect, it } from "vitest";
import { parseCertificate } from "../../src/pki/certificate.js";
import { publicKeySpki } from "../../src/pki/keys.js";
import { ExtKeyUsageOid } from "../../src/pki/oids.js";
import { signCertificate } from "../../src/pki/sign.js";
import type { ExtKeyUsage, KeyUsage } from "../../src/pki/template.js";
import { type Usages, missingUsages } from "../../src/pki/usages.js";
import { key, makeRoot, svidTemplate } from "./helpers.js";

const SPKI = {
  rsa: publicKeySpki(key({ type: "rsa", bits: 2048 })),
  ec: publicKeySpki(key({ type: "ec", curve: "P-256" })),
  ed25519: publicKeySpki(key({ type: "ed25519" })),
};

function cert(
  type: keyof typeof SPKI,
  keyUsage: readonly KeyUsage[] | undefined,
  extKeyUsage: readonly ExtKeyUsage[] | undefined,
  unknownEkuOids: readonly string[] = [],
) {
  return {
    publicKeySpki: SPKI[type],
    keyUsage,
    extKeyUsage,
    extKeyUsageOids:
      extKeyUsage === undefined ? undefined : [...extKeyUsage.map((u) => ExtKeyUsageOid[u]), ...unknownEkuOids],
  };
}

const MTLS: Usages = { keyUsage: ["digitalSignature", "keyEncipherment"], extKeyUsage: ["serverAuth", "clientAuth"] };

describe("the usages a certificate does not allow", () => {
  it.each([
    ["a certificate without either extension allows everything", cert("rsa", undefined, undefined), MTLS, undefined],
    [
      "a certificate with every usage asked for (and more) allows them",
      cert("rsa", ["digitalSignature", "keyEncipherment", "keyAgreement"], ["serverAuth", "clientAuth", "codeSigning"]),
      MTLS,
      undefined,
    ],
    [
      "an EC key is not asked for keyEncipherment (RFC 8813)",
      cert("ec", ["digitalSignature"], ["serverAuth", "clientAuth"]),
      MTLS,
      undefined,
    ],
    [
      "an Ed25519 key is asked only for what it can do (RFC 8410)",
      cert("ed25519", ["digitalSignature"], undefined),
      { keyUsage: ["digitalSignature", "keyEncipherment", "keyAgreement", "dataEncipherment"], extKeyUsage: [] },
      undefined,
    ],
    [
      "an RSA key is not asked for keyAgreement",
      cert("rsa", ["digitalSignature"], undefined),
      { keyUsage: ["digitalSignature", "keyAgreement"], extKeyUsage: [] },
      undefined,
    ],
    [
      "an RSA key is asked for keyEncipherment",
      cert("rsa", ["digitalSignature"], undefined),
      MTLS,
      "its key usages [digitalSignature] do not allow keyEncipherment, which was asked for",
    ],
    [
      "digitalSignature missing",
      cert("ec", ["keyAgreement"], undefined),
      MTLS,
      "its key usages [keyAgreement] do not allow digitalSignature, which was asked for",
    ],
    [
      "clientAuth missing",
      cert("ec", undefined, ["serverAuth"]),
      MTLS,
      "its extended key usages [serverAuth] do not allow clientAuth, which was asked for",
    ],
    [
      "anyExtendedKeyUsage does not stand in for serverAuth and clientAuth",
      cert("ec", undefined, ["any"]),
      MTLS,
      "its extended key usages [any] do not allow serverAuth, clientAuth, which were asked for",
    ],
    [
      "an EKU extension of purposes meshsign has no name for, shown by OID",
      cert("ec", undefined, [], ["1.3.6.1.4.1.99999.1"]),
      { keyUsage: [], extKeyUsage: ["serverAuth"] },
      "its extended key usages [1.3.6.1.4.1.99999.1] do not allow serverAuth, which was asked for",
    ],
    [
      "both missing, both named",
      cert("rsa", ["keyEncipherment"], ["codeSigning"]),
      MTLS,
      "its key usages [keyEncipherment] do not allow digitalSignature, which was asked for; its extended key usages [codeSigning] do not allow serverAuth, clientAuth, which were asked for",
    ],
  ] as const)("%s", (_name, c, wanted, message) => {
    const refusal = missingUsages(c, wanted);
    expect(refusal?.message).toBe(message);
  });

  it("lists what is missing, for the log", () => {
    expect(missingUsages(cert("ec", ["keyAgreement"], ["serverAuth"]), MTLS)?.missing).toEqual({
      keyUsage: ["digitalSignature"],
      extKeyUsage: ["clientAuth"],
    });
  });

  it("reads a parsed certificate's extensions", () => {
    const root = makeRoot({ type: "ec", curve: "P-256" });
    const leafKey = key({ type: "ec", curve: "P-256" }, "leaf");
    const t = svidTemplate(publicKeySpki(leafKey), "spiffe://cluster.local/ns/a/sa/b");
    const leaf = parseCertificate(signCertificate({ ...t, extKeyUsage: ["serverAuth"] }, root.signer));
    expect(missingUsages(leaf, MTLS)?.missing).toEqual({ keyUsage: [], extKeyUsage: ["clientAuth"] });
  });
});
