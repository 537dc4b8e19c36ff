/**
 * istiod's Certificate as meshsign keeps it (istio-csr's `istiod` Certificate):
 * its names, key and lifetime from the istiod flags, and the flags' checks.
 */
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/server/config.js";
import { istiodCertificate } from "../../src/server/istiod-certificate.js";
import { configRefusal } from "../lib/config-refusal.js";

const ISSUER = { name: "istio-ca", kind: "Issuer", group: "cert-manager.io" };

interface CertificateSpec {
  readonly commonName: string;
  readonly dnsNames: string[];
  readonly uris: string[];
  readonly privateKey: { algorithm: string; size: number; rotationPolicy: string };
  readonly duration: string;
  readonly renewBefore: string;
}
const specOf = (flags: Record<string, unknown>): CertificateSpec =>
  (
    istiodCertificate(loadConfig({ env: {}, flags: { mode: "kubernetes", ...flags } }), ISSUER) as {
      spec: CertificateSpec;
    }
  ).spec;

describe("istiod's Certificate", () => {
  it("by default: istiod's names per revision, an RSA-2048 key, 1h renewed 30m before", () => {
    const spec = specOf({ istioRevisions: ["default", "canary"] });
    expect(spec.commonName).toBe("istiod.istio-system.svc");
    expect(spec.dnsNames).toEqual(["istiod.istio-system.svc", "istiod-canary.istio-system.svc"]);
    expect(spec.uris).toEqual(["spiffe://cluster.local/ns/istio-system/sa/istiod-service-account"]);
    expect(spec.privateKey).toEqual({ rotationPolicy: "Always", algorithm: "RSA", size: 2048 });
    expect([spec.duration, spec.renewBefore]).toEqual(["3600s", "1800s"]);
  });

  it("adds the additional DNS names after istiod's own, without repeating one", () => {
    const spec = specOf({
      istiodCertificateAdditionalDnsNames: ["istiod.mesh.example.com", "istiod.istio-system.svc"],
    });
    expect(spec.dnsNames).toEqual(["istiod.istio-system.svc", "istiod.mesh.example.com"]);
  });

  it.each([
    [{ istiodCertificateKeyAlgorithm: "ECDSA" }, { algorithm: "ECDSA", size: 256 }],
    [
      { istiodCertificateKeyAlgorithm: "ECDSA", istiodCertificateKeySize: 384 },
      { algorithm: "ECDSA", size: 384 },
    ],
    [{ istiodCertificateKeySize: 4096 }, { algorithm: "RSA", size: 4096 }],
  ])("takes the key algorithm and size %j", (flags, key) => {
    expect(specOf(flags).privateKey).toMatchObject(key);
  });

  it.each([
    [
      { istiodCertificateKeyAlgorithm: "ECDSA", istiodCertificateKeySize: 521 },
      "an ECDSA key must be 256 or 384",
    ],
    [{ istiodCertificateKeySize: 1024 }, "an RSA key must be 2048-8192 bits"],
    [{ istiodCertificateKeyAlgorithm: "ed25519" }, "--istiod-certificate-key-algorithm"],
    [
      { istiodCertificateAdditionalDnsNames: ["Istiod.Example.com"] },
      '"Istiod.Example.com" is not a DNS-1123 subdomain',
    ],
    [
      { istiodCertificateRenewBefore: "1h" },
      "--istiod-certificate-renew-before: must be shorter than --istiod-certificate-duration",
    ],
  ])("refuses %j at start-up, naming the flag", (flags, message) => {
    expect(configRefusal({ env: {}, flags: { mode: "kubernetes", ...flags } })).toContain(message);
  });

  it("does not check the istiod flags when istiod's certificate is off", () => {
    expect(() =>
      loadConfig({
        env: {},
        flags: { mode: "kubernetes", istiodCertificateEnable: false, istiodCertificateKeySize: 1024 },
      }),
    ).not.toThrow();
  });
});
