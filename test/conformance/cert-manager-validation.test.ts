/**
 * cert-manager's Certificate admission tables, translated:
 * internal/apis/certmanager/validation/certificate_test.go
 * (cert-manager/cert-manager): TestValidateCertificate, TestValidateDuration,
 * Test_validateAdditionalOutputFormats, Test_validateLiteralSubject. Each
 * case keeps its upstream name and input (Go's zero values as absent
 * fields, metav1.Duration as Go duration text) and runs meshsign's
 * validateResource on the Certificate. Expected errors are matched by field
 * path (meshsign may name the element under it, e.g. the annotation key) and,
 * where given, by upstream's message text.
 *
 * Where meshsign deliberately differs the case stays, asserts meshsign's
 * outcome and says why in `differs`.
 */
import { describe, expect, it } from "vitest";
import { type FieldError, validateResource } from "../../src/api/index.js";

const UPSTREAM = "cert-manager/cert-manager internal/apis/certmanager/validation/certificate_test.go";

type Spec = Record<string, unknown>;
/** One expected error: the upstream field path, and a phrase of upstream's message that meshsign's must contain. */
type Want = { path: string; message?: string };
type Case = { spec: Spec; errs?: Want[]; differs?: string };

const validIssuerRef = { name: "name", kind: "ClusterIssuer" };

function errorsOf(spec: Spec): readonly FieldError[] {
  const result = validateResource({ apiVersion: "cert-manager.io/v1", kind: "Certificate", metadata: { name: "c", namespace: "ns" }, spec });
  return result.ok ? [] : result.errors;
}

function under(actual: string, expected: string): boolean {
  return actual === expected || actual.startsWith(`${expected}.`) || actual.startsWith(`${expected}[`);
}

function expectErrors(spec: Spec, want: readonly Want[]): void {
  const got = errorsOf(spec);
  const unmatched = [...got];
  for (const w of want) {
    const i = unmatched.findIndex((e) => under(e.path, w.path) && (w.message === undefined || e.message.includes(w.message)));
    expect(i, `expected an error at ${w.path}${w.message === undefined ? "" : ` containing "${w.message}"`}; got ${JSON.stringify(got)}`).toBeGreaterThanOrEqual(0);
    unmatched.splice(i, 1);
  }
  expect(unmatched, "errors upstream does not report").toEqual([]);
}

function run(table: Record<string, Case>): void {
  it.each(Object.entries(table))("%s", (_name, c) => expectErrors(c.spec, c.errs ?? []));
}

const base = { commonName: "testcn", secretName: "abc", issuerRef: validIssuerRef };

describe(`${UPSTREAM} TestValidateCertificate`, () => {
  const key = (privateKey: Spec) => ({ ...base, privateKey });
  run({
    "valid basic certificate": { spec: base },
    "valid with blank issuerRef kind and no group": { spec: { ...base, issuerRef: { name: "valid" } } },
    "valid with 'Issuer' issuerRef kind and no group": { spec: { ...base, issuerRef: { name: "valid", kind: "Issuer" } } },
    "valid with org set": { spec: { ...base, subject: { organizations: ["testorg"] } } },
    "valid with 'Issuer' issuerRef kind and explicit internal group": { spec: { ...base, issuerRef: { name: "valid", kind: "Issuer", group: "cert-manager.io" } } },
    "invalid with external issuerRef kind and empty group": {
      spec: { ...base, issuerRef: { name: "abc", kind: "AWSPCAClusterIssuer" } },
      errs: [{ path: "spec.issuerRef.kind", message: "must be one of Issuer or ClusterIssuer (did you forget to set" }],
    },
    "valid with external issuerRef kind and external group": {
      spec: { ...base, issuerRef: { name: "abc", kind: "AWSPCAClusterIssuer", group: "awspca.cert-manager.io" } },
    },
    "certificate missing secretName": { spec: { commonName: "testcn", issuerRef: validIssuerRef, secretName: "" }, errs: [{ path: "spec.secretName" }] },
    "certificate invalid secretName": { spec: { ...base, secretName: "testFoo" }, errs: [{ path: "spec.secretName", message: "lowercase RFC 1123 subdomain" }] },
    "certificate with no domains, URIs or common name": {
      spec: { secretName: "abc", issuerRef: validIssuerRef },
      errs: [{ path: "spec", message: "at least one of commonName (from the commonName field or from a literalSubject), dnsNames, uriSANs, ipAddresses, emailSANs or otherNames must be set" }],
    },
    "invalid with no issuerRef": { spec: { commonName: "testcn", secretName: "abc", issuerRef: { name: "" } }, errs: [{ path: "spec.issuerRef.name" }] },
    "valid certificate with only dnsNames": { spec: { dnsNames: ["validdnsname"], secretName: "abc", issuerRef: validIssuerRef } },
    "valid certificate with rsa keyAlgorithm specified and no keySize": { spec: key({ algorithm: "RSA" }) },
    "valid certificate with rsa keyAlgorithm specified with keySize 2048": { spec: key({ algorithm: "RSA", size: 2048 }) },
    "valid certificate with rsa keyAlgorithm specified with keySize 4096": { spec: key({ algorithm: "RSA", size: 4096 }) },
    "valid certificate with rsa keyAlgorithm specified with keySize 8192": { spec: key({ algorithm: "RSA", size: 8192 }) },
    "valid certificate with ecdsa keyAlgorithm specified and no keySize": { spec: key({ algorithm: "ECDSA" }) },
    "valid certificate with ecdsa keyAlgorithm specified with keySize 256": { spec: key({ size: 256, algorithm: "ECDSA" }) },
    "valid certificate with ecdsa keyAlgorithm specified with keySize 384": { spec: key({ size: 384, algorithm: "ECDSA" }) },
    "valid certificate with ecdsa keyAlgorithm specified with keySize 521": { spec: key({ size: 521, algorithm: "ECDSA" }) },
    "valid certificate with ed25519 keyAlgorithm": { spec: key({ size: 521, algorithm: "Ed25519" }) },
    "valid certificate with keyAlgorithm not specified and keySize specified": { spec: key({ size: 2048 }) },
    "certificate with rsa keyAlgorithm specified and invalid keysize 1024": {
      spec: key({ algorithm: "RSA", size: 1024 }),
      errs: [{ path: "spec.privateKey.size", message: "for rsa keyAlgorithm" }],
    },
    "certificate with rsa keyAlgorithm specified and invalid keysize 8196": {
      spec: key({ algorithm: "RSA", size: 8196 }),
      errs: [{ path: "spec.privateKey.size", message: "for rsa keyAlgorithm" }],
    },
    "certificate with ecdsa keyAlgorithm specified and invalid keysize": {
      spec: key({ size: 100, algorithm: "ECDSA" }),
      errs: [{ path: "spec.privateKey.size", message: "256, 384 or 521" }],
    },
    "certificate with invalid keyAlgorithm": { spec: key({ algorithm: "blah" }), errs: [{ path: "spec.privateKey.algorithm" }] },
    "valid certificate with ipAddresses": { spec: { ...base, ipAddresses: ["127.0.0.1"] } },
    "certificate with invalid ipAddresses": { spec: { ...base, ipAddresses: ["blah"] }, errs: [{ path: "spec.ipAddresses[0]" }] },
    "valid certificate with commonName exactly 64 bytes": { spec: { ...base, commonName: "this-is-a-big-long-string-which-is-exactly-sixty-four-characters" } },
    "invalid certificate with commonName longer than 64 bytes": {
      spec: { ...base, commonName: "this-is-a-big-long-string-which-has-exactly-sixty-five-characters" },
      errs: [{ path: "spec.commonName", message: "64" }],
    },
    "valid certificate with no commonName and second dnsName longer than 64 bytes": {
      spec: { secretName: "abc", issuerRef: validIssuerRef, dnsNames: ["dnsName", "this-is-a-big-long-string-which-has-exactly-sixty-five-characters"] },
    },
    "valid certificate with commonName and first dnsName longer than 64 bytes": {
      spec: { ...base, dnsNames: ["this-is-a-big-long-string-which-has-exactly-sixty-five-characters", "dnsName"] },
    },
    "valid certificate with basic keyusage": { spec: { ...base, usages: ["signing"] } },
    "valid certificate with multiple keyusage": { spec: { ...base, usages: ["signing", "s/mime"] } },
    "invalid certificate with nonexistent keyusage": { spec: { ...base, usages: ["nonexistent"] }, errs: [{ path: "spec.usages[0]" }] },
    "valid certificate with only URI SAN name": { spec: { secretName: "abc", issuerRef: validIssuerRef, uris: ["foo.bar"] } },
    "valid certificate with only email SAN": { spec: { emailAddresses: ["alice@example.com"], secretName: "abc", issuerRef: validIssuerRef } },
    "invalid certificate with incorrect email": {
      spec: { emailAddresses: ["aliceexample.com"], secretName: "abc", issuerRef: validIssuerRef },
      errs: [{ path: "spec.emailAddresses[0]" }],
    },
    "invalid certificate with email formatted with name": {
      spec: { emailAddresses: ["Alice <alice@example.com>"], secretName: "abc", issuerRef: validIssuerRef },
      errs: [{ path: "spec.emailAddresses[0]" }],
    },
    "invalid certificate with email formatted with mailto": {
      spec: { emailAddresses: ["mailto:alice@example.com"], secretName: "abc", issuerRef: validIssuerRef },
      errs: [{ path: "spec.emailAddresses[0]" }],
    },
    "valid certificate with revision history limit == 1": { spec: { ...base, commonName: "abc", revisionHistoryLimit: 1 } },
    "invalid certificate with revision history limit < 1": {
      spec: { ...base, commonName: "abc", revisionHistoryLimit: 0 },
      errs: [{ path: "spec.revisionHistoryLimit", message: "must not be less than 1" }],
    },
    "valid with empty secretTemplate": { spec: { ...base, secretTemplate: { annotations: {}, labels: {} } } },
    "valid with 'CertificateSecretTemplate' labels and annotations": {
      spec: { ...base, secretTemplate: { annotations: { "my-annotation.com/foo": "app=bar" }, labels: { "my-label.com/foo": "evn-production" } } },
    },
    "invalid with disallowed 'CertificateSecretTemplate' annotations": {
      spec: {
        ...base,
        secretTemplate: {
          annotations: {
            "app.com/valid": "valid",
            "cert-manager.io/alt-names": "example.com",
            "cert-manager.io/certificate-name": "selfsigned-cert",
            "cert-manager.io/allow-direct-injection": "true",
          },
        },
      },
      errs: [
        { path: 'spec.secretTemplate.annotations["cert-manager.io/alt-names"]', message: "cert-manager.io/* annotations are not allowed" },
        { path: 'spec.secretTemplate.annotations["cert-manager.io/certificate-name"]', message: "cert-manager.io/* annotations are not allowed" },
      ],
    },
    "invalid due to too long 'CertificateSecretTemplate' annotations": {
      spec: { ...base, secretTemplate: { annotations: { "app.com/invalid": "0".repeat(256 * 1024) } } },
      errs: [{ path: "spec.secretTemplate.annotations", message: "may not be more than 262144 bytes" }],
    },
    "invalid due to not allowed 'CertificateSecretTemplate' labels": {
      spec: { ...base, secretTemplate: { labels: { "app.com/invalid-chars": "invalid=chars" } } },
      errs: [{ path: "spec.secretTemplate.labels", message: "invalid label value" }],
    },
    "valid with name constraints": { spec: { ...base, isCA: true, nameConstraints: { permitted: { dnsDomains: ["example.com"] } } } },
    "invalid with name constraints": {
      spec: { ...base, isCA: true, nameConstraints: {} },
      errs: [{ path: "spec.nameConstraints", message: "permitted or excluded must be set" }],
    },
    "valid name constraints with feature gate disabled": {
      spec: { ...base, isCA: true, nameConstraints: { permitted: { dnsDomains: ["example.com"] } } },
      differs: "upstream refuses nameConstraints with its NameConstraints gate off; meshsign has no gates (all of cert-manager's Beta gates are on, as they are by default upstream), so it accepts them",
    },
  });
});

describe(`${UPSTREAM} TestValidateDuration`, () => {
  const d = { second: "1s", tenMinutes: "10m", halfHour: "30m", month: "720h", halfYear: "4320h", year: "8760h", tenYears: "87600h" };
  run({
    "default duration and renewBefore": { spec: base },
    "valid duration and renewBefore": { spec: { ...base, duration: d.year, renewBefore: d.halfYear } },
    "unset duration, valid renewBefore for default": { spec: { ...base, renewBefore: d.month } },
    "unset renewBefore, valid duration for default": { spec: { ...base, duration: d.year } },
    "renewBefore is bigger than the default duration": {
      spec: { ...base, renewBefore: d.tenYears },
      errs: [{ path: "spec.renewBefore", message: "certificate duration 2160h0m0s must be greater than renewBefore 87600h0m0s" }],
    },
    "renewBefore is bigger than the duration": {
      spec: { ...base, duration: d.month, renewBefore: d.year },
      errs: [{ path: "spec.renewBefore", message: "certificate duration 720h0m0s must be greater than renewBefore 8760h0m0s" }],
    },
    "renewBefore is less than the minimum permitted value": {
      spec: { ...base, renewBefore: d.second },
      errs: [{ path: "spec.renewBefore", message: "must be greater than 5m0s" }],
    },
    "renewBefore and renewBeforePercentage both set": {
      spec: { ...base, renewBefore: d.month, renewBeforePercentage: 95 },
      errs: [
        { path: "spec.renewBefore", message: "renewBefore and renewBeforePercentage are mutually exclusive and cannot both be set" },
        { path: "spec.renewBeforePercentage", message: "renewBefore and renewBeforePercentage are mutually exclusive and cannot both be set" },
      ],
    },
    "valid duration and renewBeforePercentage": { spec: { ...base, duration: d.year, renewBeforePercentage: 95 } },
    "unset duration, valid renewBeforePercentage for default": { spec: { ...base, renewBeforePercentage: 95 } },
    "renewBeforePercentage is equal to duration": {
      spec: { ...base, renewBeforePercentage: 0 },
      errs: [{ path: "spec.renewBeforePercentage" }],
      differs: "same outcome and field; meshsign's message says the percentage must be between 1 and 99",
    },
    "renewBeforePercentage results in less than the minimum permitted value": {
      spec: { ...base, renewBeforePercentage: 100 },
      errs: [{ path: "spec.renewBeforePercentage" }],
      differs: "same outcome and field; meshsign's message says the percentage must be between 1 and 99",
    },
    "duration is less than the minimum permitted value": {
      spec: { ...base, duration: d.halfHour, renewBefore: d.tenMinutes },
      errs: [{ path: "spec.duration", message: "must be greater than 1h0m0s" }],
    },
  });
});

describe(`${UPSTREAM} Test_validateAdditionalOutputFormats`, () => {
  // Upstream calls the function with arbitrary type names; meshsign validates the whole Certificate, whose
  // CRD enum (DER, CombinedPEM) the API server applies before any webhook. "foo" and "bar" become DER and
  // CombinedPEM; the other names stay and are refused by that enum.
  const formats = (...types: string[]) => ({ ...base, additionalOutputFormats: types.map((type) => ({ type })) });
  const gateOff = "meshsign has no AdditionalCertificateOutputFormats gate (it is on, as upstream's Beta default)";
  const enumDiffers = "the CRD's enum (DER, CombinedPEM) refuses the other names, which upstream's function-level test does not apply";
  run({
    "if feature disabled and no formats defined, expect no error": { spec: formats() },
    "if feature disabled and 1 format defined, expect error": { spec: formats("DER"), differs: gateOff },
    "if feature disabled and multiple formats defined, expect error": {
      spec: formats("DER", "CombinedPEM", "random"),
      errs: [{ path: "spec.additionalOutputFormats[2].type" }],
      differs: `${gateOff}; ${enumDiffers}`,
    },
    "if feature enabled and no formats defined, expect no error": { spec: formats() },
    "if feature enabled and single format defined, expect no error": { spec: formats("DER") },
    "if feature enabled and multiple unique formats defined, expect no error": {
      spec: formats("DER", "CombinedPEM", "random"),
      errs: [{ path: "spec.additionalOutputFormats[2].type" }],
      differs: enumDiffers,
    },
    "if feature enabled and multiple formats defined but 2 non-unique, expect error": {
      spec: formats("DER", "CombinedPEM", "random", "DER"),
      errs: [{ path: "spec.additionalOutputFormats[2].type" }],
      differs: `${enumDiffers}; the enum error stops the duplicate check for this object`,
    },
    "if feature enabled and multiple formats defined but multiple non-unique, expect error": {
      spec: formats("DER", "CombinedPEM", "random", "random", "DER", "CombinedPEM", "CombinedPEM", "123", "456"),
      errs: [
        { path: "spec.additionalOutputFormats[2].type" },
        { path: "spec.additionalOutputFormats[3].type" },
        { path: "spec.additionalOutputFormats[7].type" },
        { path: "spec.additionalOutputFormats[8].type" },
      ],
      differs: `${enumDiffers}; the enum errors stop the duplicate check for this object`,
    },
  });

  it("reports duplicates of known formats as upstream does (one error per repeat)", () => {
    expectErrors(formats("DER", "CombinedPEM", "DER", "CombinedPEM", "CombinedPEM"), [
      { path: "spec.additionalOutputFormats", message: "duplicate output format DER" },
      { path: "spec.additionalOutputFormats", message: "duplicate output format CombinedPEM" },
      { path: "spec.additionalOutputFormats", message: "duplicate output format CombinedPEM" },
    ]);
  });
});

describe(`${UPSTREAM} Test_validateLiteralSubject`, () => {
  const lit = { secretName: "abc", issuerRef: validIssuerRef };
  run({
    "featureGate should be enabled to use literalSubject": {
      spec: { ...lit, literalSubject: "CN=testcn" },
      differs: "meshsign has no LiteralCertificateSubject gate (on, as upstream's Beta default), so it accepts literalSubject",
    },
    "valid with only `literalSubject` and no `Subject`  or `CommonName` provided": { spec: { ...lit, literalSubject: "CN=testcn" } },
    "valid with only `literalSubject` and only a `Subject.SerialNumber` provided": {
      spec: { ...lit, subject: { serialNumber: "1" }, literalSubject: "CN=testcn" },
      errs: [{ path: "spec.subject" }],
    },
    "valid with a `literalSubject` containing CN with special characters, multiple DC and well-known rfc4514 and rfc5280 RDN OIDs": {
      spec: { ...lit, literalSubject: 'CN=James \\"Jim\\" Smith\\, III,DC=dc,DC=net,UID=jamessmith,STREET=La Rambla,L=Barcelona,C=Spain,O=Acme,OU=IT,OU=Admins' },
    },
    "invalid with a `literalSubject` without CN and no dnsNames, ipAddresses, or emailAddress": {
      spec: { ...lit, literalSubject: "O=SomeCorp" },
      errs: [{ path: "spec", message: "at least one of commonName (from the commonName field or from a literalSubject)" }],
    },
    "invalid with a `literalSubject` and any `Subject` other than serialNumber": {
      spec: { ...lit, subject: { organizations: ["US"] }, literalSubject: "CN=testcn" },
      errs: [{ path: "spec.subject" }],
    },
    "invalid with a `literalSubject` and a `commonName`": {
      spec: { ...lit, commonName: "testcn", literalSubject: "CN=testcn" },
      errs: [{ path: "spec.commonName" }],
    },
    "invalid with an unknown OID": {
      spec: { ...lit, literalSubject: "C=O,B=TX,CN=foo" },
      errs: [{ path: "spec.literalSubject", message: "Literal subject contains unrecognized key with value [TX]" }],
    },
  });
});
