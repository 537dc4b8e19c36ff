import { describe, expect, it } from "vitest";
import { applyCertificateDefaults, type Certificate } from "../../src/api/index.js";

function cert(spec: Partial<Certificate["spec"]>): Certificate {
  return {
    apiVersion: "cert-manager.io/v1",
    kind: "Certificate",
    metadata: { name: "c", namespace: "ns" },
    spec: { secretName: "c-tls", issuerRef: { name: "ca" }, dnsNames: ["a.example.com"], ...spec },
  };
}

describe("Certificate defaults", () => {
  it("fill in cert-manager's documented values when nothing is set", () => {
    const d = applyCertificateDefaults(cert({})).spec;
    expect(d.duration).toBe("2160h");
    expect(d.privateKey).toEqual({ algorithm: "RSA", size: 2048, encoding: "PKCS1", rotationPolicy: "Always" });
    expect(d.usages).toEqual(["digital signature", "key encipherment"]);
    expect(d.issuerRef).toEqual({ name: "ca", kind: "Issuer", group: "cert-manager.io" });
    expect(d.revisionHistoryLimit).toBe(1);
    expect(d.encodeUsagesInRequest).toBe(true);
    expect(d.renewBefore).toBeUndefined();
  });

  const keyCases: [string, Certificate["spec"]["privateKey"], unknown][] = [
    ["ECDSA without size gets P-256", { algorithm: "ECDSA" }, { algorithm: "ECDSA", size: 256, encoding: "PKCS1", rotationPolicy: "Always" }],
    ["Ed25519 is always PKCS8 and sizeless", { algorithm: "Ed25519", encoding: "PKCS1" }, { algorithm: "Ed25519", encoding: "PKCS8", rotationPolicy: "Always" }],
    ["explicit values are kept", { algorithm: "RSA", size: 4096, encoding: "PKCS8", rotationPolicy: "Never" }, { algorithm: "RSA", size: 4096, encoding: "PKCS8", rotationPolicy: "Never" }],
    ["size 0 means the default", { algorithm: "RSA", size: 0 }, { algorithm: "RSA", size: 2048, encoding: "PKCS1", rotationPolicy: "Always" }],
  ];
  it.each(keyCases)("%s", (_n, privateKey, expected) => {
    expect(applyCertificateDefaults(cert({ privateKey })).spec.privateKey).toEqual(expected);
  });

  it("keep explicit usages, kind and group", () => {
    const d = applyCertificateDefaults(cert({ usages: ["server auth"], issuerRef: { name: "x", kind: "ClusterIssuer", group: "" } })).spec;
    expect(d.usages).toEqual(["server auth"]);
    expect(d.issuerRef).toEqual({ name: "x", kind: "ClusterIssuer", group: "cert-manager.io" });
  });

  it("do not mutate the input", () => {
    const input = cert({ privateKey: { algorithm: "ECDSA" } });
    const before = structuredClone(input);
    const out = applyCertificateDefaults(input);
    out.spec.usages.push("any");
    expect(input).toEqual(before);
  });
});
