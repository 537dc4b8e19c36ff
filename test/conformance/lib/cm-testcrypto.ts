/**
 * The fixtures cert-manager's unit tables build with `test/unit/crypto`
 * (MustCreatePEMPrivateKey, MustCreateCert, MustCreateCertWithNotBeforeAfter,
 * MustGenerateCSRImpl), made with meshsign's own encoders so the translated
 * tables feed the same inputs to meshsign's functions.
 */
import { createPrivateKey, createPublicKey } from "node:crypto";
import { buildCsr, parseCsr } from "../../../src/engine/csr.js";
import type { Certificate, CertificateRequest, CertificateSpec, Secret } from "../../../src/engine/lib/api.js";
import { resolveSpec } from "../../../src/engine/lib/spec.js";
import { type PolicyInput, readSecretContents } from "../../../src/engine/policies.js";
import { type CertificateTemplate, encodePem, NameOid, selfSignedSigner, signCertificate } from "../../../src/pki/index.js";
import { keyPairSync } from "../../lib/key-pair.js";

export const HOUR = 3_600_000;
export const MINUTE = 60_000;
/** cert-manager's default duration, which MustCreateCert uses through pki.GenerateTemplate. */
export const NINETY_DAYS = 90 * 24 * HOUR;

/** `testcrypto.MustCreatePEMPrivateKey`: an RSA 2048 key, PKCS#1 PEM. */
export function mustCreatePEMPrivateKey(): string {
  return keyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ format: "pem", type: "pkcs1" }).toString();
}

/** `testcrypto.MustCreateCertWithNotBeforeAfter`: a self-signed certificate for the spec's CN and SANs. */
export function mustCreateCertWithNotBeforeAfter(keyPem: string, spec: Partial<CertificateSpec>, notBefore: number, notAfter: number): string {
  const key = createPrivateKey(keyPem);
  const template: CertificateTemplate = {
    publicKeySpki: createPublicKey(key).export({ format: "der", type: "spki" }),
    subject: spec.commonName === undefined ? [] : [[{ type: NameOid.commonName, value: spec.commonName }]],
    dnsNames: spec.dnsNames ?? [],
    ipAddresses: spec.ipAddresses ?? [],
    uris: spec.uris ?? [],
    emailAddresses: spec.emailAddresses ?? [],
    isCA: spec.isCA ?? false,
    keyUsage: ["digitalSignature", "keyEncipherment"],
    extKeyUsage: [],
    notBefore: new Date(notBefore),
    notAfter: new Date(notAfter),
  };
  return encodePem("CERTIFICATE", signCertificate(template, selfSignedSigner(template, key)));
}

/** `testcrypto.MustCreateCert`: valid from `now` for cert-manager's default 90 days. */
export function mustCreateCert(keyPem: string, spec: Partial<CertificateSpec>, now: number): string {
  return mustCreateCertWithNotBeforeAfter(keyPem, spec, now, now + NINETY_DAYS);
}

/** `testcrypto.MustGenerateCSRImpl`: the CSR cert-manager would request for the spec, signed by the key. */
export function mustGenerateCSR(keyPem: string, spec: Partial<CertificateSpec>): string {
  const full: CertificateSpec = { secretName: "", issuerRef: { name: "" }, ...spec };
  return buildCsr(full, resolveSpec(full), createPrivateKey(keyPem));
}

export const b64 = (s: string): string => Buffer.from(s, "utf8").toString("base64");

/** A corev1.Secret with the given byte values (base64-encoded here as the API stores them). */
export function secret(opts: { annotations?: Record<string, string>; labels?: Record<string, string>; data?: Record<string, string> } = {}): Secret {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "something", namespace: "default", ...(opts.annotations ? { annotations: opts.annotations } : {}), ...(opts.labels ? { labels: opts.labels } : {}) },
    ...(opts.data ? { data: Object.fromEntries(Object.entries(opts.data).map(([k, v]) => [k, b64(v)])) } : {}),
  };
}

/** A Certificate; upstream tables leave the name and most of the spec empty. */
export function certificate(spec: Partial<CertificateSpec>, status?: Certificate["status"], name = ""): Certificate {
  return {
    apiVersion: "cert-manager.io/v1",
    kind: "Certificate",
    metadata: { name, namespace: "default" },
    spec: { secretName: "something", issuerRef: { name: "" }, ...spec },
    ...(status ? { status } : {}),
  };
}

/** A CertificateRequest holding `csrPem`, issued to `issuerRef`. */
export function request(csrPem: string, issuerRef: CertificateRequest["spec"]["issuerRef"]): CertificateRequest {
  return {
    apiVersion: "cert-manager.io/v1",
    kind: "CertificateRequest",
    metadata: { name: "something-1", namespace: "default" },
    spec: { request: b64(csrPem), issuerRef },
  };
}

/** The policy input meshsign's reconciler builds from the same objects. */
export function policyInput(cert: Certificate, s: Secret | undefined, cr: CertificateRequest | undefined, now: number): PolicyInput {
  let csr: ReturnType<typeof parseCsr> | undefined;
  if (cr !== undefined) {
    try {
      csr = parseCsr(Buffer.from(cr.spec.request, "base64").toString("utf8"));
    } catch {
      csr = undefined;
    }
  }
  return { certificate: cert, spec: resolveSpec(cert.spec), secret: s, contents: readSecretContents(s), currentRequest: cr, currentRequestCsr: csr, now };
}
