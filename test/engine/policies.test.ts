import { createPublicKey, type KeyObject } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { buildCsr } from "../../src/engine/csr.js";
import type { Certificate, CertificateRequest, Secret } from "../../src/engine/lib/api.js";
import { resolveSpec } from "../../src/engine/lib/spec.js";
import { parseCsr } from "../../src/engine/csr.js";
import { evaluate, type PolicyInput, READINESS_CHAIN, readSecretContents, TRIGGER_CHAIN } from "../../src/engine/policies.js";
import { type CertificateTemplate, encodePem, selfSignedSigner, signCertificate } from "../../src/pki/index.js";
import { certificate } from "./lib/builders.js";
import { keyPairSync } from "../lib/key-pair.js";

const T0 = Date.parse("2026-03-01T00:00:00Z");
const H = 3_600_000;
const b64 = (s: string) => Buffer.from(s).toString("base64");

let key: KeyObject;
let otherKey: KeyObject;
let certPem: string;
let csrPem: string;

const base = (): Certificate => ({ ...certificate("web", "apps", { dnsNames: ["web.example.com"], privateKey: { algorithm: "ECDSA", size: 256 } }), metadata: { name: "web", namespace: "apps", uid: "u1" }, status: { revision: 1 } });

beforeAll(async () => {
  key = keyPairSync("ec", { namedCurve: "P-256" }).privateKey;
  otherKey = keyPairSync("ec", { namedCurve: "P-256" }).privateKey;
  const template: CertificateTemplate = { publicKeySpki: createPublicKey(key).export({ format: "der", type: "spki" }), isCA: false, keyUsage: ["digitalSignature"], extKeyUsage: [], dnsNames: ["web.example.com"], notBefore: new Date(T0), notAfter: new Date(T0 + 3 * H) };
  certPem = encodePem("CERTIFICATE", signCertificate(template, selfSignedSigner(template, key)));
  const c = base();
  csrPem = buildCsr(c.spec, resolveSpec(c.spec), key);
});

function secret(overrides: { key?: string; cert?: string; annotations?: Record<string, string> } = {}): Secret {
  return {
    apiVersion: "v1",
    kind: "Secret",
    type: "kubernetes.io/tls",
    metadata: {
      name: "web-tls",
      namespace: "apps",
      annotations: overrides.annotations ?? { "cert-manager.io/issuer-name": "selfsigned", "cert-manager.io/issuer-kind": "ClusterIssuer", "cert-manager.io/issuer-group": "cert-manager.io", "cert-manager.io/certificate-name": "web" },
    },
    data: { "tls.key": b64(overrides.key ?? key.export({ format: "pem", type: "pkcs8" }).toString()), "tls.crt": b64(overrides.cert ?? certPem) },
  };
}

function request(spec: Partial<CertificateRequest["spec"]> = {}, csr = csrPem): CertificateRequest {
  return {
    apiVersion: "cert-manager.io/v1",
    kind: "CertificateRequest",
    metadata: { name: "web-1", namespace: "apps", annotations: { "cert-manager.io/certificate-revision": "1" } },
    spec: { request: b64(csr), issuerRef: { name: "selfsigned", kind: "ClusterIssuer", group: "cert-manager.io" }, usages: ["digital signature", "key encipherment"], isCA: false, ...spec },
  };
}

async function input(cert: Certificate, s: Secret | undefined, cr: CertificateRequest | undefined, now = T0 + H): Promise<PolicyInput> {
  return {
    certificate: cert,
    spec: resolveSpec(cert.spec),
    secret: s,
    contents: readSecretContents(s),
    currentRequest: cr,
    currentRequestCsr: cr === undefined ? undefined : parseCsr(Buffer.from(cr.spec.request, "base64").toString()),
    now,
  };
}

describe("trigger policy chain, in cert-manager's order", () => {
  const cases: [string, () => Promise<PolicyInput>, string | undefined][] = [
    ["an up-to-date Secret and request trigger nothing", async () => input(base(), secret(), request()), undefined],
    ["a missing Secret triggers DoesNotExist", async () => input(base(), undefined, request()), "DoesNotExist"],
    ["a Secret without tls.key triggers MissingData", async () => input(base(), { ...secret(), data: { "tls.crt": b64(certPem) } }, request()), "MissingData"],
    ["an unparseable key triggers InvalidKeyPair", async () => input(base(), secret({ key: "garbage" }), request()), "InvalidKeyPair"],
    ["an unparseable certificate triggers InvalidCertificate", async () => input(base(), secret({ cert: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n" }), request()), "InvalidCertificate"],
    ["a key that does not match the certificate triggers InvalidKeyPair", async () => input(base(), secret({ key: otherKey.export({ format: "pem", type: "pkcs8" }).toString() }), request()), "InvalidKeyPair"],
    ["issuer annotations of another issuer trigger IncorrectIssuer", async () => input(base(), secret({ annotations: { "cert-manager.io/issuer-name": "other", "cert-manager.io/issuer-kind": "ClusterIssuer" } }), request()), "IncorrectIssuer"],
    ["a certificate-name annotation of another Certificate triggers IncorrectCertificate", async () => input(base(), secret({ annotations: { "cert-manager.io/issuer-name": "selfsigned", "cert-manager.io/issuer-kind": "ClusterIssuer", "cert-manager.io/certificate-name": "api" } }), request()), "IncorrectCertificate"],
    ["a key of another algorithm than the spec triggers SecretMismatch", async () => {
      const c = base();
      c.spec.privateKey = { algorithm: "RSA", size: 2048 };
      return input(c, secret(), request());
    }, "SecretMismatch"],
    ["a request whose CSR key differs from the Secret triggers SecretMismatch", async () => {
      const c = base();
      const otherCsr = buildCsr(c.spec, resolveSpec(c.spec), otherKey);
      return input(c, secret(), request({}, otherCsr));
    }, "SecretMismatch"],
    ["a new DNS name in the spec triggers RequestChanged", async () => {
      const c = base();
      c.spec.dnsNames = ["web.example.com", "www.example.com"];
      return input(c, secret(), request());
    }, "RequestChanged"],
    ["another issuerRef in the spec than on the request triggers IncorrectIssuer first", async () => {
      const c = base();
      c.spec.issuerRef = { name: "mesh-ca", kind: "ClusterIssuer" };
      return input(c, secret(), request());
    }, "IncorrectIssuer"],
    ["a spec change with no current request falls back to the certificate's names (SecretMismatch)", async () => {
      const c = base();
      c.spec.dnsNames = ["other.example.com"];
      return input(c, secret(), undefined);
    }, "SecretMismatch"],
    ["reaching two thirds of the lifetime triggers Renewing", async () => input(base(), secret(), request(), T0 + 2 * H), "Renewing"],
  ];
  it.each(cases)("%s", async (_name, build, reason) => {
    expect(evaluate(TRIGGER_CHAIN, await build())?.reason).toBe(reason);
  });
});

describe("issuer annotations and undecodable requests", () => {
  const message = async (build: () => Promise<PolicyInput>) => evaluate(TRIGGER_CHAIN, await build());

  it("adopts a Secret with none of the issuer annotations under a ClusterIssuer (the request and names still decide)", async () => {
    expect(await message(() => input(base(), secret({ annotations: {} }), request()))).toBeUndefined();
    const moved = base();
    moved.spec.dnsNames = ["other.example.com"];
    expect((await message(() => input(moved, secret({ annotations: {} }), undefined)))?.reason).toBe("SecretMismatch");
  });

  it("compares kind and group one by one: dotted parts that print alike are still another issuer", async () => {
    const c = base();
    c.spec.issuerRef = { name: "selfsigned", kind: "A", group: "b.c" };
    const v = await message(() => input(c, secret({ annotations: { "cert-manager.io/issuer-name": "selfsigned", "cert-manager.io/issuer-kind": "A.b", "cert-manager.io/issuer-group": "c" } }), request()));
    expect(v).toEqual({ reason: "IncorrectIssuer", message: 'Issuing certificate as Secret was previously issued by "A.b.c/selfsigned"' });
  });

  it("says whether the current request's CSR is not PEM or does not parse", async () => {
    // As the reconciler builds it: a request whose CSR failed to parse has no parsed CSR.
    const undecodable = async (csr: string) => ({ ...(await input(base(), secret(), undefined)), currentRequest: request({}, csr), currentRequestCsr: undefined });
    const notPem = await message(() => undecodable("not a CSR"));
    expect(notPem).toEqual({ reason: "InvalidCertificateRequest", message: "Failed to decode current CertificateRequest: error decoding certificate request PEM block" });
    const badDer = await message(() => undecodable("-----BEGIN CERTIFICATE REQUEST-----\nMAA=\n-----END CERTIFICATE REQUEST-----\n"));
    expect(badDer).toEqual({ reason: "InvalidCertificateRequest", message: "Failed to decode current CertificateRequest: error parsing certificate request" });
  });
});

describe("readiness policy chain", () => {
  it("keeps a certificate inside its renewal window Ready", async () => {
    expect(evaluate(READINESS_CHAIN, await input(base(), secret(), request(), T0 + 2 * H + 1))).toBeUndefined();
  });
  it("reports Expired once now is past notAfter, and not at notAfter itself", async () => {
    expect(evaluate(READINESS_CHAIN, await input(base(), secret(), request(), T0 + 3 * H))).toBeUndefined();
    expect(evaluate(READINESS_CHAIN, await input(base(), secret(), request(), T0 + 3 * H + 1))?.reason).toBe("Expired");
  });
});
