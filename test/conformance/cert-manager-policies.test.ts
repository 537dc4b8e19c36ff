/**
 * cert-manager's trigger-policy table, translated case by case:
 * internal/controller/certificates/policies/checks_test.go (cert-manager/cert-manager).
 * Each case keeps the upstream name, inputs and expected reason/message/reissue. Where meshsign
 * deliberately differs, the case asserts meshsign's behaviour and says why in one line.
 *
 * Upstream's fake clock stands at Go's zero time (0001-01-01); here it stands at T0, so the
 * instants in the Renewing messages print T0's date in the same Go format.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { validateResource } from "../../src/api/index.js";
import type { Certificate, CertificateRequest, Secret } from "../../src/engine/lib/api.js";
import { resolveSpec } from "../../src/engine/lib/spec.js";
import { currentCertificateNearingExpiry, evaluate, readSecretContents, secretCertificateNameAnnotationsMismatch, TRIGGER_CHAIN } from "../../src/engine/policies.js";
import { desiredMetadata, reapplyMetadata } from "../../src/engine/secret.js";
import { certInfo } from "../../src/engine/lib/x509-info.js";
import {
  b64,
  certificate,
  HOUR,
  MINUTE,
  mustCreateCert,
  mustCreateCertWithNotBeforeAfter,
  mustCreatePEMPrivateKey,
  mustGenerateCSR,
  policyInput,
  request,
  secret,
} from "./lib/cm-testcrypto.js";
import { keyPairSync } from "../lib/key-pair.js";

const T0 = Date.parse("2026-03-01T00:00:00Z");
const iso = (ms: number) => new Date(ms).toISOString();

const ISSUER = { name: "testissuer", kind: "IssuerKind", group: "group.example.com" };
const ISSUER_ANNOTATIONS = {
  "cert-manager.io/issuer-name": "testissuer",
  "cert-manager.io/issuer-kind": "IssuerKind",
  "cert-manager.io/issuer-group": "group.example.com",
};

interface Case {
  certificate: Certificate;
  request?: CertificateRequest;
  secret?: Secret;
  reason: string;
  message: string;
  reissue: boolean;
}

let staticFixedPrivateKey: string;
let otherKey: string;
let thirdKey: string;
let tests: Record<string, () => Case>;

beforeAll(() => {
  staticFixedPrivateKey = mustCreatePEMPrivateKey();
  otherKey = mustCreatePEMPrivateKey();
  thirdKey = mustCreatePEMPrivateKey();
  const exampleCert = (key: string) => mustCreateCert(key, { commonName: "example.com" }, T0);
  tests = {
    "trigger issuance if Secret is missing": () => ({
      certificate: certificate({ secretName: "something" }),
      reason: "DoesNotExist",
      message: "Issuing certificate as Secret does not exist",
      reissue: true,
    }),
    "trigger issuance as Secret does not contain any data": () => ({
      certificate: certificate({ secretName: "something" }),
      secret: secret(),
      reason: "MissingData",
      message: "Issuing certificate as Secret does not contain any data",
      reissue: true,
    }),
    "trigger issuance as Secret is missing private key": () => ({
      certificate: certificate({ secretName: "something" }),
      secret: secret({ data: { "tls.crt": "test" } }),
      reason: "MissingData",
      message: "Issuing certificate as Secret does not contain a private key",
      reissue: true,
    }),
    "trigger issuance as Secret is missing certificate": () => ({
      certificate: certificate({ secretName: "something" }),
      secret: secret({ data: { "tls.key": "test" } }),
      reason: "MissingData",
      message: "Issuing certificate as Secret does not contain a certificate",
      reissue: true,
    }),
    "trigger issuance as Secret contains corrupt private key and certificate data": () => ({
      certificate: certificate({ secretName: "something" }),
      secret: secret({ data: { "tls.key": "test", "tls.crt": "test" } }),
      reason: "InvalidKeyPair",
      message: "Issuing certificate as Secret contains invalid private key data: error decoding private key PEM block: no PEM data was found in given input",
      reissue: true,
    }),
    "trigger issuance as Secret contains corrupt certificate data": () => ({
      certificate: certificate({ secretName: "something" }),
      secret: secret({ data: { "tls.key": otherKey, "tls.crt": "test" } }),
      reason: "InvalidCertificate",
      message: "Issuing certificate as Secret contains an invalid certificate: error decoding certificate PEM block: no valid certificates found",
      reissue: true,
    }),
    "trigger issuance as Secret contains corrupt private key data": () => ({
      certificate: certificate({ secretName: "something" }),
      secret: secret({ data: { "tls.key": "invalid", "tls.crt": exampleCert(otherKey) } }),
      reason: "InvalidKeyPair",
      message: "Issuing certificate as Secret contains invalid private key data: error decoding private key PEM block: no PEM data was found in given input",
      reissue: true,
    }),
    "trigger issuance as Secret contains a non-matching key-pair": () => ({
      certificate: certificate({ secretName: "something" }),
      secret: secret({ data: { "tls.key": otherKey, "tls.crt": exampleCert(thirdKey) } }),
      reason: "InvalidKeyPair",
      message: "Issuing certificate as Secret contains a private key that does not match the certificate",
      reissue: true,
    }),
    "trigger issuance as Secret has old or incorrect 'issuer name' annotation": () => ({
      certificate: certificate({ secretName: "something", issuerRef: { name: "testissuer" } }),
      secret: secret({
        annotations: { "cert-manager.io/issuer-name": "oldissuer" },
        data: { "tls.key": staticFixedPrivateKey, "tls.crt": exampleCert(staticFixedPrivateKey) },
      }),
      reason: "IncorrectIssuer",
      message: 'Issuing certificate as Secret was previously issued by "Issuer.cert-manager.io/oldissuer"',
      reissue: true,
    }),
    "trigger issuance as Secret has old or incorrect 'issuer kind' annotation": () => ({
      certificate: certificate({ secretName: "something", issuerRef: { name: "testissuer", kind: "NewIssuerKind" } }),
      secret: secret({
        annotations: { "cert-manager.io/issuer-name": "testissuer", "cert-manager.io/issuer-kind": "OldIssuerKind" },
        data: { "tls.key": staticFixedPrivateKey, "tls.crt": exampleCert(staticFixedPrivateKey) },
      }),
      reason: "IncorrectIssuer",
      message: 'Issuing certificate as Secret was previously issued by "OldIssuerKind.cert-manager.io/testissuer"',
      reissue: true,
    }),
    "trigger issuance as Secret has old or incorrect 'issuer group' annotation": () => ({
      certificate: certificate({ secretName: "something", issuerRef: { name: "testissuer", kind: "IssuerKind", group: "old.example.com" } }),
      secret: secret({
        annotations: { "cert-manager.io/issuer-name": "testissuer", "cert-manager.io/issuer-kind": "IssuerKind", "cert-manager.io/issuer-group": "new.example.com" },
        data: { "tls.key": staticFixedPrivateKey, "tls.crt": exampleCert(staticFixedPrivateKey) },
      }),
      reason: "IncorrectIssuer",
      message: 'Issuing certificate as Secret was previously issued by "IssuerKind.new.example.com/testissuer"',
      reissue: true,
    }),
    "trigger issuance as private key properties do not meet the requested properties": () => {
      // A 521 bit EC private key (PKCS#8), which is not the type of key configured in the Certificate.
      const pk = keyPairSync("ec", { namedCurve: "P-521" }).privateKey.export({ format: "pem", type: "pkcs8" }).toString();
      return {
        certificate: certificate({ secretName: "something" }),
        secret: secret({ data: { "tls.key": pk, "tls.crt": exampleCert(pk) } }),
        reason: "SecretMismatch",
        message: "Existing private key is not up to date for spec: [spec.privateKey.algorithm]",
        reissue: true,
      };
    },
    "trigger if the Secret contains a different private key than was used to sign the CSR": () => ({
      certificate: certificate({ secretName: "something" }),
      secret: secret({ data: { "tls.key": staticFixedPrivateKey, "tls.crt": exampleCert(staticFixedPrivateKey) } }),
      request: request(mustGenerateCSR(otherKey, { commonName: "example.com" }), ISSUER),
      reason: "SecretMismatch",
      message: "Secret contains a private key that does not match the current CertificateRequest",
      reissue: true,
    }),
    "trigger issuance when CertificateRequest does not match certificate spec": () => ({
      certificate: certificate({ commonName: "new.example.com", issuerRef: ISSUER }),
      secret: secret({
        annotations: ISSUER_ANNOTATIONS,
        // The certificate data does not matter: the CertificateRequest decides.
        data: { "tls.key": staticFixedPrivateKey, "tls.crt": mustCreateCert(staticFixedPrivateKey, { commonName: "does-not-matter.example.com" }, T0) },
      }),
      request: request(mustGenerateCSR(staticFixedPrivateKey, { commonName: "old.example.com" }), ISSUER),
      reason: "RequestChanged",
      message: "Fields on existing CertificateRequest resource not up to date: [spec.commonName]",
      reissue: true,
    }),
    "do nothing if CertificateRequest matches spec": () => ({
      certificate: certificate({ commonName: "example.com", issuerRef: ISSUER }),
      secret: secret({
        annotations: ISSUER_ANNOTATIONS,
        data: { "tls.key": staticFixedPrivateKey, "tls.crt": mustCreateCert(staticFixedPrivateKey, { commonName: "does-not-matter.example.com" }, T0) },
      }),
      request: request(mustGenerateCSR(staticFixedPrivateKey, { commonName: "example.com" }), ISSUER),
      reason: "",
      message: "",
      reissue: false,
    }),
    "compare signed x509 certificate in Secret with spec if CertificateRequest does not exist": () => ({
      certificate: certificate({ commonName: "new.example.com", issuerRef: ISSUER }),
      secret: secret({
        annotations: ISSUER_ANNOTATIONS,
        data: { "tls.key": staticFixedPrivateKey, "tls.crt": mustCreateCert(staticFixedPrivateKey, { commonName: "old.example.com" }, T0) },
      }),
      reason: "SecretMismatch",
      message: "Issuing certificate as Existing issued Secret is not up to date for spec: [spec.commonName]",
      reissue: true,
    }),
    "do nothing if signed x509 certificate in Secret matches spec (when request does not exist)": () => ({
      certificate: certificate({ commonName: "example.com", issuerRef: ISSUER }),
      secret: secret({ annotations: ISSUER_ANNOTATIONS, data: { "tls.key": staticFixedPrivateKey, "tls.crt": exampleCert(staticFixedPrivateKey) } }),
      reason: "",
      message: "",
      reissue: false,
    }),
    "trigger renewal if renewalTime is right now": () => ({
      certificate: certificate({ commonName: "example.com", issuerRef: ISSUER, renewBefore: "5m" }, { renewalTime: iso(T0) }),
      secret: secret({
        annotations: ISSUER_ANNOTATIONS,
        // Expires in 1 minute.
        data: { "tls.key": staticFixedPrivateKey, "tls.crt": mustCreateCertWithNotBeforeAfter(staticFixedPrivateKey, { commonName: "example.com" }, T0 - 30 * MINUTE, T0 + MINUTE) },
      }),
      reason: "Renewing",
      message: "Renewing certificate as renewal was scheduled at 2026-03-01 00:00:00 +0000 UTC",
      reissue: true,
    }),
    "trigger renewal if renewalTime is in the past": () => ({
      certificate: certificate({ commonName: "example.com", issuerRef: ISSUER, renewBefore: "5m" }, { renewalTime: iso(T0 - MINUTE) }),
      secret: secret({
        annotations: ISSUER_ANNOTATIONS,
        data: { "tls.key": staticFixedPrivateKey, "tls.crt": mustCreateCertWithNotBeforeAfter(staticFixedPrivateKey, { commonName: "example.com" }, T0 - 30 * MINUTE, T0 + MINUTE) },
      }),
      reason: "Renewing",
      message: "Renewing certificate as renewal was scheduled at 2026-02-28 23:59:00 +0000 UTC",
      reissue: true,
    }),
    "does not trigger renewal if the x509 cert has been re-issued, but Certificate's renewal time has not been updated yet": () => ({
      certificate: certificate({ commonName: "example.com", issuerRef: ISSUER, renewBefore: "1m" }, { renewalTime: iso(T0) }),
      secret: secret({
        annotations: ISSUER_ANNOTATIONS,
        // Expires in 30 minutes.
        data: { "tls.key": staticFixedPrivateKey, "tls.crt": mustCreateCertWithNotBeforeAfter(staticFixedPrivateKey, { commonName: "example.com" }, T0, T0 + 30 * MINUTE) },
      }),
      reason: "",
      message: "",
      reissue: false,
    }),
    "does not trigger renewal if renewal time is in 1 minute": () => ({
      certificate: certificate({ commonName: "example.com", issuerRef: ISSUER, renewBefore: "1m" }, { renewalTime: iso(T0 + MINUTE) }),
      secret: secret({
        annotations: ISSUER_ANNOTATIONS,
        // Expires in 5 minutes.
        data: { "tls.key": staticFixedPrivateKey, "tls.crt": mustCreateCertWithNotBeforeAfter(staticFixedPrivateKey, { commonName: "example.com" }, T0 - 30 * MINUTE, T0 + 5 * MINUTE) },
      }),
      reason: "",
      message: "",
      reissue: false,
    }),
    "does not trigger renewal if renewal policy is disabled": () => ({
      certificate: certificate({ commonName: "example.com", issuerRef: ISSUER, renewal: { policy: "Disabled" } }),
      secret: secret({
        annotations: ISSUER_ANNOTATIONS,
        data: { "tls.key": staticFixedPrivateKey, "tls.crt": mustCreateCertWithNotBeforeAfter(staticFixedPrivateKey, { commonName: "example.com" }, T0 - 30 * MINUTE, T0 + 5 * MINUTE) },
      }),
      reason: "",
      message: "",
      reissue: false,
    }),
  };
});

const TRIGGER_CASES = [
  "trigger issuance if Secret is missing",
  "trigger issuance as Secret does not contain any data",
  "trigger issuance as Secret is missing private key",
  "trigger issuance as Secret is missing certificate",
  "trigger issuance as Secret contains corrupt private key and certificate data",
  "trigger issuance as Secret contains corrupt certificate data",
  "trigger issuance as Secret contains corrupt private key data",
  "trigger issuance as Secret contains a non-matching key-pair",
  "trigger issuance as Secret has old or incorrect 'issuer name' annotation",
  "trigger issuance as Secret has old or incorrect 'issuer kind' annotation",
  "trigger issuance as Secret has old or incorrect 'issuer group' annotation",
  "trigger issuance as private key properties do not meet the requested properties",
  "trigger if the Secret contains a different private key than was used to sign the CSR",
  "trigger issuance when CertificateRequest does not match certificate spec",
  "do nothing if CertificateRequest matches spec",
  "compare signed x509 certificate in Secret with spec if CertificateRequest does not exist",
  "do nothing if signed x509 certificate in Secret matches spec (when request does not exist)",
  "trigger renewal if renewalTime is right now",
  "trigger renewal if renewalTime is in the past",
  "does not trigger renewal if the x509 cert has been re-issued, but Certificate's renewal time has not been updated yet",
  "does not trigger renewal if renewal time is in 1 minute",
  "does not trigger renewal if renewal policy is disabled",
];

describe("checks_test.go Test_NewTriggerPolicyChain", () => {
  it.each(TRIGGER_CASES)("%s", (name) => {
    const make = tests[name];
    if (make === undefined) throw new Error(`no case ${name}`);
    const t = make();
    const v = evaluate(TRIGGER_CHAIN, policyInput(t.certificate, t.secret, t.request, T0));
    expect({ reason: v?.reason ?? "", message: v?.message ?? "", reissue: v !== undefined }).toEqual({ reason: t.reason, message: t.message, reissue: t.reissue });
  });
});

describe("checks_test.go Test_SecretCertificateNameAnnotationsMismatch", () => {
  const crt = certificate({}, undefined, "test-certificate");
  const cases: [string, Record<string, string> | undefined, string, string, boolean][] = [
    ["without a CertificateName annotation, should return false", undefined, "", "", false],
    ["with a matching CertificateName annotation, should return false", { "cert-manager.io/certificate-name": "test-certificate" }, "", "", false],
    [
      "with a non-matching CertificateName annotation, should return true",
      { "cert-manager.io/certificate-name": "foo" },
      "IncorrectCertificate",
      'Secret was issued for "foo". If this message is not transient, you might have two conflicting Certificates pointing to the same secret.',
      true,
    ],
  ];
  it.each(cases)("%s", (_name, annotations, reason, message, violation) => {
    const v = secretCertificateNameAnnotationsMismatch(policyInput(crt, secret(annotations ? { annotations } : {}), undefined, T0));
    expect({ reason: v?.reason ?? "", message: v?.message ?? "", violation: v !== undefined }).toEqual({ reason, message, violation });
  });
});

describe("checks_test.go Test_CurrentCertificateNearingExpiry_RenewalDisabled", () => {
  it("a Certificate with renewal.policy Disabled is never due", () => {
    const pk = mustCreatePEMPrivateKey();
    const crt = certificate({ renewal: { policy: "Disabled" } });
    // Upstream's clock is at the zero time; at any instant, even past notAfter, Disabled never renews.
    for (const now of [T0, T0 + 91 * 24 * HOUR]) {
      const v = currentCertificateNearingExpiry(policyInput(crt, secret({ data: { "tls.crt": mustCreateCert(pk, { commonName: "example.com" }, T0) } }), undefined, now));
      expect(v).toBeUndefined();
    }
  });
});

describe("checks_test.go Test_CurrentCertificateNearingExpiry_WindowError", () => {
  // meshsign differs: renewal windows are not implemented, so validation refuses spec.renewal.windows
  // (an accepted field that did nothing would be worse); the cron error can never reach the policy.
  const manifest = {
    apiVersion: "cert-manager.io/v1",
    kind: "Certificate",
    metadata: { name: "c", namespace: "default" },
    spec: {
      secretName: "c-tls",
      issuerRef: { name: "ca" },
      commonName: "example.com",
      renewal: { policy: "RenewBefore", windows: [{ cron: "not a valid cron", windowDuration: "5m" }] },
    },
  };
  const refusal = () => {
    const r = validateResource(manifest);
    return r.ok ? [] : r.errors;
  };
  it("not yet due: no premature re-issuance despite the window error", () => {
    expect(refusal()).toContainEqual(expect.objectContaining({ path: "spec.renewal.windows" }));
  });
  it("due: surface the window error as a violation", () => {
    expect(refusal().map((e) => e.message).join()).toMatch(/not supported/);
  });
});

describe("checks_test.go Test_SecretSecretTemplateMismatch", () => {
  // meshsign has no managed fields; its post-issuance check (reapplyMetadata) compares the template's
  // values with the Secret's and answers with the corrected Secret, so "violation" means "rewritten".
  // Its fixed annotations (cert-manager.io/*, controller.cert-manager.io/fao) are set on both sides
  // here so only the template decides, as upstream's function looks at the template alone.
  let key: string;
  let certPem: string;
  beforeAll(() => {
    key = keyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "pem", type: "pkcs8" }).toString();
    certPem = mustCreateCert(key, { commonName: "cert-manager" }, T0);
  });
  type Tmpl = { annotations?: Record<string, string>; labels?: Record<string, string> } | undefined;
  const cases: [string, Tmpl, Record<string, string> | undefined, Record<string, string> | undefined, boolean][] = [
    ["if SecretTemplate is nil, Secret Annotations and Labels are nil, return false", undefined, undefined, undefined, false],
    ["if SecretTemplate is nil, Secret Annotations are nil, Labels are non-nil, return false", undefined, undefined, { foo: "bar" }, false],
    ["if SecretTemplate is nil, Secret Annotations are non-nil, Labels are nil, return false", undefined, { foo: "bar" }, undefined, false],
    ["if SecretTemplate is nil, Secret Annotations and Labels are non-nil, return false", undefined, { foo: "bar" }, { bar: "foo" }, false],
    // meshsign differs: a template label missing from the Secret is added at once (upstream leaves missing keys to its managed-fields check).
    ["if SecretTemplate is non-nil, Secret Annotations match and there are no common Labels, return false", { annotations: { foo1: "bar1", foo2: "bar2" }, labels: { abc: "123", def: "456" } }, { foo1: "bar1", foo2: "bar2" }, undefined, true],
    // meshsign differs: a template annotation missing from the Secret is added at once (same reason).
    ["if SecretTemplate is non-nil, Secret Labels match and there are no common Annotations, return false", { annotations: { foo1: "bar1", foo2: "bar2" }, labels: { abc: "123", def: "456" } }, undefined, { abc: "123", def: "456" }, true],
    ["if SecretTemplate is non-nil, Secret Labels match but Annotations don't match values, return true", { annotations: { foo1: "bar1", foo2: "bar2" }, labels: { abc: "123", def: "456" } }, { foo1: "bar2", foo2: "bar1" }, { abc: "123", def: "456" }, true],
    ["if SecretTemplate is non-nil, Secret Annotations match but Labels don't match values, return true", { annotations: { foo1: "bar1", foo2: "bar2" }, labels: { abc: "123", def: "456" } }, { foo1: "bar1", foo2: "bar2" }, { abc: "456", def: "123" }, true],
    ["if SecretTemplate is non-nil, Secret Annotations and Labels match, return false", { annotations: { foo1: "bar1", foo2: "bar2" }, labels: { abc: "123", def: "456" } }, { foo1: "bar1", foo2: "bar2" }, { abc: "123", def: "456" }, false],
  ];
  it.each(cases)("%s", (_name, tmpl, annotations, labels, violation) => {
    const crt = certificate({ commonName: "cert-manager", issuerRef: ISSUER, privateKey: { algorithm: "ECDSA" }, ...(tmpl ? { secretTemplate: tmpl } : {}) }, undefined, "test-certificate");
    const spec = resolveSpec(crt.spec);
    const info = certInfo(certPem);
    // The Secret as meshsign last wrote it for this template, then edited to the case's metadata.
    const fixed = reapplyMetadata(secret({ data: { "tls.key": key, "tls.crt": certPem } }), crt, spec, info);
    const base = fixed ?? secret();
    const managed = base.metadata.annotations?.["meshsign.io/secret-template-keys"];
    const ours = Object.fromEntries(Object.entries(base.metadata.annotations ?? {}).filter(([k]) => k.startsWith("cert-manager.io/") || k.startsWith("meshsign.io/")));
    const s: Secret = {
      ...base,
      metadata: {
        ...base.metadata,
        annotations: { ...ours, ...(annotations ?? {}), ...(managed === undefined ? {} : { "meshsign.io/secret-template-keys": managed }) },
        labels: { "controller.cert-manager.io/fao": "true", ...(labels ?? {}) },
      },
    };
    expect(reapplyMetadata(s, crt, spec, info) !== undefined).toBe(violation);
  });
});

describe("checks_test.go Test_SecretAdditionalOutputFormatsMismatch", () => {
  // meshsign's post-issuance check (reapplyMetadata) derives key.der and tls-combined.pem from tls.key
  // and tls.crt and answers with the corrected Secret, so "violation" means "rewritten". The Secret's
  // metadata is what meshsign writes, so only the output formats decide.
  const cert = "a";
  let pk: string;
  let pkDER: string;
  let combinedPEM: string;
  let info: ReturnType<typeof certInfo>;
  beforeAll(() => {
    pk = mustCreatePEMPrivateKey();
    pkDER = Buffer.from(pk.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, ""), "base64").toString("latin1");
    combinedPEM = `${pk}\n${cert}`;
    info = certInfo(mustCreateCert(pk, { commonName: "example.com" }, T0));
  });
  type Formats = ("CombinedPEM" | "DER")[] | undefined;
  const cases: [string, Formats, () => Record<string, string> | undefined, boolean][] = [
    ["if additional output formats is empty and secret has no keys, should return false", undefined, () => undefined, false],
    // meshsign differs: key.der is removed when no longer asked for (meshsign has no managed fields to tell whose it is).
    ["if additional output formats is empty and secret has output format keys, should return false", undefined, () => ({ "tls.crt": cert, "tls.key": pk, "combined-tls.pem": combinedPEM, "key.der": pkDER }), true],
    ["if additional output has combined pem and Secret has wrong combined, should return true", ["CombinedPEM"], () => ({ "tls.crt": cert, "tls.key": pk, "tls-combined.pem": "wrong" }), true],
    ["if additional output has combined pem and Secret has no combined pem, should return true", ["CombinedPEM"], () => ({ "tls.crt": cert, "tls.key": pk }), true],
    ["if additional output has combined pem and Secret has correct combined, should return false", ["CombinedPEM"], () => ({ "tls.crt": cert, "tls.key": pk, "tls-combined.pem": combinedPEM }), false],
    ["if additional output has der and Secret has no key, should return true", ["DER"], () => ({ "tls.crt": cert, "tls.key": pk }), true],
    ["if additional output has der and Secret has wrong der key, should return true", ["DER"], () => ({ "tls.crt": cert, "tls.key": pk, "key.der": "wrong" }), true],
    ["if additional output has der and Secret has correct der key, should return false", ["DER"], () => ({ "tls.crt": cert, "tls.key": pk, "key.der": pkDER }), false],
    ["if additional output has combined and der and Secret has correct combined and der, should return false", ["CombinedPEM", "DER"], () => ({ "tls.crt": cert, "tls.key": pk, "key.der": pkDER, "tls-combined.pem": combinedPEM }), false],
    ["if additional output has combined and der and Secret has correct combined and wrong der value, should return true", ["CombinedPEM", "DER"], () => ({ "tls.crt": cert, "tls.key": pk, "key.der": "wrong", "tls-combined.pem": combinedPEM }), true],
    ["if additional output has combined and der and Secret has wrong combined value and correct der value, should return true", ["CombinedPEM", "DER"], () => ({ "tls.crt": cert, "tls.key": pk, "key.der": pkDER, "tls-combined.pem": "wrong" }), true],
    ["if additional output has combined and der and Secret has correct combined value and missing der key, should return true", ["CombinedPEM", "DER"], () => ({ "tls.crt": cert, "tls.key": pk, "tls-combined.pem": combinedPEM }), true],
    ["if additional output has combined and der and Secret has missing combined key and correct der value, should return true", ["CombinedPEM", "DER"], () => ({ "tls.crt": cert, "tls.key": pk, "key.der": pkDER }), true],
  ];
  it.each(cases)("%s", (_name, formats, data, violation) => {
    const crt = certificate({ commonName: "example.com", ...(formats ? { additionalOutputFormats: formats.map((type) => ({ type })) } : {}) }, undefined, "test-certificate");
    const spec = resolveSpec(crt.spec);
    const meta = desiredMetadata(undefined, crt, spec, info);
    const d = data();
    const s: Secret = {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "something", namespace: "default", labels: meta.labels, annotations: meta.annotations },
      ...(d ? { data: Object.fromEntries(Object.entries(d).map(([k, v]) => [k, Buffer.from(v, "latin1").toString("base64")])) } : {}),
    };
    expect(reapplyMetadata(s, crt, spec, info) !== undefined).toBe(violation);
  });
});

describe("checks_test.go Test_SecretSecretTemplateManagedFieldsMismatch", () => {
  // meshsign has no server-side-apply managed fields; the keys of secretTemplate it applied are
  // recorded in the Secret's meshsign.io/secret-template-keys annotation ("a:<annotation>",
  // "l:<label>"), which plays their part: each case records upstream's cert-manager-managed keys
  // there (other managers' keys are left unrecorded) and puts those keys on the Secret with the
  // template's value where it has one. "violation" means the post-issuance check rewrites the Secret.
  let certPem: string;
  let key: string;
  beforeAll(() => {
    key = keyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "pem", type: "pkcs8" }).toString();
    certPem = mustCreateCert(key, { commonName: "cert-manager" }, T0);
  });
  type Tmpl = { annotations?: Record<string, string>; labels?: Record<string, string> } | undefined;
  type Managed = { annotations: string[]; labels: string[]; recorded: boolean };
  const ours = (annotations: string[], labels: string[]): Managed => ({ annotations, labels, recorded: true });
  const theirs = (annotations: string[], labels: string[]): Managed => ({ annotations, labels, recorded: false });
  const T12 = { annotations: { foo1: "bar1", foo2: "bar2" }, labels: { abc: "123", def: "456" } };
  const cases: [string, Tmpl, Managed | undefined, boolean][] = [
    ["if template is nil and no managed fields, should return false", undefined, undefined, false],
    ["if template is nil, managed fields is not nil but not managed by cert-manager, should return false", undefined, theirs(["bar"], ["123"]), false],
    ["if template is nil, managed fields is not nil but fields are nil, should return false", undefined, ours([], []), false],
    ["if template is not-nil but managed fields is nil, should return true", { annotations: { foo: "bar" }, labels: { abc: "123" } }, undefined, true],
    ["if template is nil but managed fields is not nil, should return true", undefined, ours(["foo"], ["abc"]), true],
    ["if template annotations do not match managed fields, should return true", { annotations: { foo1: "bar1", foo2: "bar2", foo4: "bar4" }, labels: { abc: "123", def: "456" } }, ours(["foo1", "foo3"], ["abc", "def"]), true],
    ["if template labels do not match managed fields, should return true", { annotations: { foo1: "bar1", foo2: "bar2" }, labels: { abc: "123", def: "456", ghi: "789" } }, ours(["foo1", "foo2"], ["abc", "erg"]), true],
    ["if template annotations and labels match managed fields, should return false", T12, ours(["foo1", "foo2"], ["abc", "def"]), false],
    ["if template annotations is a subset of managed fields, return true", T12, ours(["foo1", "foo2", "foo3", "foo4"], ["abc", "def"]), true],
    ["if template labels is a subset of managed fields, return true", T12, ours(["foo1", "foo2"], ["abc", "def", "ghi", "jkl"]), true],
    ["if managed fields annotations is a subset of template, return true", { annotations: { foo1: "bar1", foo2: "bar2", foo3: "bar3" }, labels: { abc: "123", def: "456" } }, ours(["foo1", "foo2"], ["abc", "def"]), true],
    ["if managed fields labels is a subset of template, return true", { annotations: { foo1: "bar1", foo2: "bar2" }, labels: { abc: "123", def: "456", ghi: "789" } }, ours(["foo1", "foo2"], ["abc", "def"]), true],
    // Upstream splits the keys over three managed-field entries; their union is one record here.
    ["if managed fields matches template but is split across multiple managed fields, should return false", { annotations: { foo1: "bar1", foo2: "bar2", foo3: "bar3" }, labels: { abc: "123", def: "456", ghi: "789" } }, ours(["foo1", "foo2", "foo3"], ["abc", "def", "ghi"]), false],
    // cert-manager.io/* keys are never template keys; extra ones on the Secret are left alone.
    ["if managed fields matches template and cert-manager annotations are present, should return false", { annotations: { foo1: "bar1", foo2: "bar2" } }, ours(["foo1", "foo2"], []), false],
  ];
  it.each(cases)("%s", (name, tmpl, managed, violation) => {
    const crt = certificate({ commonName: "cert-manager", issuerRef: ISSUER, privateKey: { algorithm: "ECDSA" }, ...(tmpl ? { secretTemplate: tmpl } : {}) }, undefined, "test-certificate");
    const spec = resolveSpec(crt.spec);
    const info = certInfo(certPem);
    // The Secret's own metadata as meshsign writes it with no template, then the case's keys.
    const base = desiredMetadata(undefined, { ...crt, spec: { ...crt.spec, secretTemplate: undefined } }, spec, info);
    const annotations: Record<string, string> = { ...base.annotations };
    const labels: Record<string, string> = { ...base.labels };
    for (const k of managed?.annotations ?? []) annotations[k] = tmpl?.annotations?.[k] ?? "value";
    for (const k of managed?.labels ?? []) labels[k] = tmpl?.labels?.[k] ?? "value";
    if (name.includes("cert-manager annotations are present")) Object.assign(annotations, { "cert-manager.io/foo1": "x", "cert-manager.io/foo2": "y" });
    const record = managed?.recorded === true ? [...managed.annotations.map((k) => `a:${k}`), ...managed.labels.map((k) => `l:${k}`)].sort() : [];
    if (record.length > 0) annotations["meshsign.io/secret-template-keys"] = record.join(",");
    const s: Secret = { apiVersion: "v1", kind: "Secret", metadata: { name: "something", namespace: "default", annotations, labels }, data: { "tls.key": b64(key), "tls.crt": b64(certPem) } };
    expect(reapplyMetadata(s, crt, spec, info) !== undefined).toBe(violation);
  });
});

describe("checks_test.go Test_SecretOwnerReferenceManagedFieldMismatch and Test_SecretOwnerReferenceMismatch", () => {
  // meshsign differs: it has no --enable-certificate-owner-ref and never sets or removes an
  // ownerReference on the target Secret (cert-manager's default is off too, so deleting a
  // Certificate keeps its Secret). Each case therefore asserts that the post-issuance check leaves
  // the Secret's ownerReferences as they are; the cases that expect a violation (owner references
  // enabled, or a cert-manager-managed owner reference to remove) are the deliberate differences.
  const crtRef = (o: Partial<{ apiVersion: string; kind: string; name: string; uid: string; controller: boolean; blockOwnerDeletion: boolean }>) => ({
    apiVersion: "cert-manager.io/v1",
    kind: "Certificate",
    name: "test-certificate",
    uid: "uid-123",
    controller: true,
    blockOwnerDeletion: true,
    ...o,
  });
  const foo = { apiVersion: "foo.bar/v1", kind: "Foo", name: "foo", uid: "abc", controller: false, blockOwnerDeletion: false };
  const bar = { apiVersion: "bar.foo/v1", kind: "Bar", name: "bar", uid: "def", controller: true, blockOwnerDeletion: true };
  const cases: [string, object[] | undefined, boolean][] = [
    ["ownerReferenceEnabled=false no secret managed field owner reference should return false", undefined, false],
    ["ownerReferenceEnabled=false secret managed field owner reference for different UID should return false", undefined, false],
    ["ownerReferenceEnabled=false secret managed field owner reference for same UID should return true", [crtRef({})], true],
    ["ownerReferenceEnabled=false secret managed field different owner reference for same UID should return false", [crtRef({})], false],
    ["ownerReferenceEnabled=true no secret managed field owner reference should return true", undefined, true],
    ["ownerReferenceEnabled=true secret managed field owner reference for different UID should return true", undefined, true],
    ["ownerReferenceEnabled=true secret managed field owner reference for same UID should return false", [crtRef({})], false],
    ["ownerReferenceEnabled=true secret managed field different owner reference for same UID should return true", [crtRef({})], true],
    ["ownerReferenceEnabled=false no secret owner reference should return false", undefined, false],
    ["ownerReferenceEnabled=false secret has random owner reference should return false", [foo], false],
    ["ownerReferenceEnabled=false secret has multiple random owner reference should return false", [foo, bar], false],
    ["ownerReferenceEnabled=false secret has owner reference for certificate with correct value should return false", [foo, bar, crtRef({})], false],
    ["ownerReferenceEnabled=false secret has owner reference for certificate with in-correct value should return false", [foo, bar, crtRef({ name: "foo" })], false],
    ["ownerReferenceEnabled=false no secret owner reference should return true", undefined, true],
    ["ownerReferenceEnabled=true secret has random owner reference should return true", [foo], true],
    ["ownerReferenceEnabled=true secret has multiple random owner reference should return true", [foo, bar], true],
    ["ownerReferenceEnabled=true secret has owner reference for certificate with correct value should return false", [foo, bar, crtRef({})], false],
    ["ownerReferenceEnabled=true secret has owner reference for certificate with wrong Name value should return true", [foo, bar, crtRef({ name: "foo" })], true],
    ["ownerReferenceEnabled=true secret has owner reference for certificate with wrong APIVersion value should return true", [foo, bar, crtRef({ apiVersion: "acme.cert-manager.io/v1" })], true],
    ["ownerReferenceEnabled=true secret has owner reference for certificate with wrong Kind value should return true", [foo, bar, crtRef({ kind: "Issuer" })], true],
    ["ownerReferenceEnabled=true secret has owner reference for certificate with wrong Controller value should return true", [foo, bar, crtRef({ controller: false })], true],
    ["ownerReferenceEnabled=true secret has owner reference for certificate with wrong BlockDeletion value should return true", [foo, bar, crtRef({ blockOwnerDeletion: false })], true],
  ];
  let certPem: string;
  let key: string;
  beforeAll(() => {
    key = keyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "pem", type: "pkcs8" }).toString();
    certPem = mustCreateCert(key, { commonName: "cert-manager" }, T0);
  });
  it.each(cases)("%s", (_name, ownerReferences, _upstreamViolation) => {
    const crt: Certificate = { ...certificate({ commonName: "cert-manager", issuerRef: ISSUER, privateKey: { algorithm: "ECDSA" } }, undefined, "test-certificate"), metadata: { name: "test-certificate", namespace: "default", uid: "uid-123" } };
    const spec = resolveSpec(crt.spec);
    const info = certInfo(certPem);
    const meta = desiredMetadata(undefined, crt, spec, info);
    const s = {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "something", namespace: "default", ...meta, ...(ownerReferences ? { ownerReferences } : {}) },
      data: { "tls.key": b64(key), "tls.crt": b64(certPem) },
    } as Secret;
    const fixed = reapplyMetadata(s, crt, spec, info);
    expect(fixed).toBeUndefined();
  });
});

describe("checks_test.go Test_SecretAdditionalOutputFormatsManagedFieldsMismatch", () => {
  // meshsign has no managed fields: a key it would write is "ours" when it is in the Secret's data.
  // Keys upstream sees managed by cert-manager's field manager become data with the correct value;
  // keys managed by another manager also become such data, since meshsign cannot tell who wrote
  // them, and those cases (marked) are the deliberate differences: meshsign takes over or removes
  // key.der / tls-combined.pem by their value alone.
  let pk: string;
  let info: ReturnType<typeof certInfo>;
  let certPem: string;
  beforeAll(() => {
    pk = mustCreatePEMPrivateKey();
    certPem = mustCreateCert(pk, { commonName: "example.com" }, T0);
    info = certInfo(certPem);
  });
  type F = ("CombinedPEM" | "DER")[];
  const cases: [string, F, F, boolean, boolean][] = [
    // name, formats, keys present, upstream violation, meshsign violation
    ["if additional output formats is empty and secret has no managed fields, should return false", [], [], false, false],
    ["if additional output formats has combined pem and secret has no managed fields, should return true", ["CombinedPEM"], [], true, true],
    ["if additional output formats has der and secret has no managed fields, should return true", ["DER"], [], true, true],
    ["if additional output formats has combined pem and der, and secret has no managed fields, should return true", ["CombinedPEM", "DER"], [], true, true],
    ["if additional output formats is empty, and secret has managed fields for combined pem for another managed, should return false", [], ["CombinedPEM"], false, true],
    ["if additional output formats is empty, and secret has managed fields for der for another managed, should return false", [], ["DER"], false, true],
    ["if additional output formats is empty, and secret has managed fields for combined pem and der for another managed, should return false", [], ["CombinedPEM", "DER"], false, true],
    ["if additional output formats is empty, and secret has managed fields for combined pem, should return true", [], ["CombinedPEM"], true, true],
    ["if additional output formats is empty, and secret has managed fields for der, should return true", [], ["DER"], true, true],
    ["if additional output formats is empty, and secret has managed fields for combined pem and der, should return true", [], ["CombinedPEM", "DER"], true, true],
    ["if additional output formats has combined pem, and secret has managed fields for combined pem for wrong manager, should return true", ["CombinedPEM"], ["CombinedPEM"], true, false],
    ["if additional output formats has der, and secret has managed fields for der for wrong manager, should return true", ["DER"], ["DER"], true, false],
    ["if additional output formats has combined pem and der, and secret has managed fields for combined pem and der for wrong manager, should return true", ["CombinedPEM", "DER"], ["CombinedPEM", "DER"], true, false],
    ["if additional output formats has combined pem, and secret has managed fields for combined pem, should return false", ["CombinedPEM"], ["CombinedPEM"], false, false],
    ["if additional output formats has der, and secret has managed fields for der, should return false", ["DER"], ["DER"], false, false],
    ["if additional output formats has combined pem and der, and secret has managed fields for combined pem and der, should return false", ["DER", "CombinedPEM"], ["CombinedPEM", "DER"], false, false],
    ["if additional output formats has combined pem and der, and secret has managed fields for combined pem and der in different slice elements, should return false", ["DER", "CombinedPEM"], ["CombinedPEM", "DER"], false, false],
    ["if additional output formats has combined pem and der, and secret has managed fields for combined pem and der, and is also managed by another manager, should return false", ["DER", "CombinedPEM"], ["CombinedPEM", "DER"], false, false],
  ];
  it.each(cases)("%s", (_name, formats, present, _upstream, violation) => {
    const crt = certificate({ commonName: "example.com", additionalOutputFormats: formats.map((type) => ({ type })) }, undefined, "test-certificate");
    const spec = resolveSpec(crt.spec);
    const meta = desiredMetadata(undefined, crt, spec, info);
    const data: Record<string, string> = { "tls.crt": b64(certPem), "tls.key": b64(pk) };
    if (present.includes("DER")) data["key.der"] = Buffer.from(pk.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, ""), "base64").toString("base64");
    if (present.includes("CombinedPEM")) data["tls-combined.pem"] = b64(`${pk}\n${certPem}`);
    const s: Secret = { apiVersion: "v1", kind: "Secret", metadata: { name: "something", namespace: "default", labels: meta.labels, annotations: meta.annotations }, data };
    expect(reapplyMetadata(s, crt, spec, info) !== undefined).toBe(violation);
  });
});

describe("checks_test.go Test_SecretManagedLabelsAndAnnotationsManagedFieldsMismatch", () => {
  // meshsign has no managed fields: it computes the cert-manager.io annotations from the certificate
  // in tls.crt and compares values, and without a certificate there is nothing to compare (the
  // engine runs the post-issuance check only on a Secret whose tls.crt parses).
  it("if there are no cert-manager annotations and the certificate data is nil, should return false", () => {
    expect(readSecretContents(secret({ labels: { "controller.cert-manager.io/fao": "true" } }))?.cert).toBeUndefined();
  });
  it("if optional cert-manager annotations are present with no certificate data, should return false", () => {
    const s = secret({ annotations: { foo1: "", foo2: "", "cert-manager.io/certificate-name": "", "cert-manager.io/issuer-name": "", "cert-manager.io/issuer-kind": "", "cert-manager.io/issuer-group": "" } });
    expect(readSecretContents(s)?.cert).toBeUndefined();
  });
  it("if cert-manager annotations are present with certificate data, should return false", () => {
    const key = keyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "pem", type: "pkcs8" }).toString();
    const certPem = mustCreateCert(key, { commonName: "cert-manager" }, T0);
    const crt = certificate({ commonName: "cert-manager", privateKey: { algorithm: "ECDSA" } }, undefined, "test-certificate");
    const spec = resolveSpec(crt.spec);
    const info = certInfo(certPem);
    const meta = desiredMetadata(undefined, crt, spec, info);
    const s: Secret = { apiVersion: "v1", kind: "Secret", metadata: { name: "something", namespace: "default", labels: meta.labels, annotations: { ...meta.annotations, foo1: "", foo2: "" } }, data: { "tls.crt": b64(certPem), "tls.key": b64(key) } };
    expect(reapplyMetadata(s, crt, spec, info)).toBeUndefined();
  });
  it("if required and optional cert-manager annotations are present with certificate data but certificate data is nil, should return true", () => {
    // meshsign differs: with no certificate in the Secret the post-issuance check does not run (the
    // trigger chain re-issues such a Secret, MissingData), so stale SAN annotations are not a separate violation.
    const s = secret({ annotations: { "cert-manager.io/uri-sans": "", "cert-manager.io/ip-sans": "" } });
    expect(readSecretContents(s)?.cert).toBeUndefined();
    expect(evaluate(TRIGGER_CHAIN, policyInput(certificate({ commonName: "cert-manager" }), s, undefined, T0))?.reason).toBe("MissingData");
  });
});
