/**
 * cert-manager's readiness tables, translated case by case:
 * pkg/controller/certificates/readiness/readiness_controller_test.go (cert-manager/cert-manager),
 * TestNewReadinessPolicyChain (the readiness policy chain) and TestProcessItem (the status the
 * readiness pass writes).
 *
 * Upstream's policy-chain clock stands at Go's zero time (0001-01-01); here it stands at T0, so the
 * Expired message prints T0's date in the same RFC 1123 format.
 */
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { CERTIFICATES, SECRETS } from "../../src/api/types.js";
import { Engine } from "../../src/engine/engine.js";
import type { Certificate, CertificateRequest, Condition, Secret } from "../../src/engine/lib/api.js";
import { evaluate, READINESS_CHAIN } from "../../src/engine/policies.js";
import { MemoryStore } from "../../src/store/memory/index.js";
import { FakeClock, fixedRandom } from "../engine/lib/fake-clock.js";
import {
  certificate,
  HOUR,
  mustCreateCert,
  mustCreateCertWithNotBeforeAfter,
  mustCreatePEMPrivateKey,
  mustGenerateCSR,
  policyInput,
  request,
  secret,
} from "./lib/cm-testcrypto.js";

const T0 = Date.parse("2026-03-01T00:00:00Z");
const ISSUER = { name: "testissuer", kind: "IssuerKind", group: "group.example.com" };
const ISSUER_ANNOTATIONS = {
  "cert-manager.io/issuer-name": "testissuer",
  "cert-manager.io/issuer-kind": "IssuerKind",
  "cert-manager.io/issuer-group": "group.example.com",
};

interface Case {
  cert: Certificate;
  cr?: CertificateRequest;
  secret?: Secret;
  reason: string;
  /** Upstream's message; `prefix` when a newer cert-manager appends the decoder's detail. */
  message: string;
  prefix?: boolean;
  violationFound: boolean;
}

let privKey: string;
let otherKey: string;
let tests: [string, () => Case][];

beforeAll(() => {
  privKey = mustCreatePEMPrivateKey();
  otherKey = mustCreatePEMPrivateKey();
  tests = [
    ["Certificate not Ready if Secret is missing", () => ({ cert: certificate({ secretName: "something" }, undefined, "test"), reason: "DoesNotExist", message: "Issuing certificate as Secret does not exist", violationFound: true })],
    ["Certificate not Ready as Secret does not contain any data", () => ({ cert: certificate({ secretName: "something" }, undefined, "test"), secret: secret(), reason: "MissingData", message: "Issuing certificate as Secret does not contain any data", violationFound: true })],
    ["Certificate not Ready as Secret is missing private key", () => ({ cert: certificate({ secretName: "something" }, undefined, "test"), secret: secret({ data: { "tls.crt": "test" } }), reason: "MissingData", message: "Issuing certificate as Secret does not contain a private key", violationFound: true })],
    ["Certificate not Ready as Secret is missing certificate", () => ({ cert: certificate({ secretName: "something" }, undefined, "test"), secret: secret({ data: { "tls.key": "test" } }), reason: "MissingData", message: "Issuing certificate as Secret does not contain a certificate", violationFound: true })],
    // This upstream table predates the decoder detail checks_test.go expects after the colon; both hold here.
    ["Certificate not Ready as Secret contains corrupt private key and certificate data", () => ({ cert: certificate({ secretName: "something" }), secret: secret({ data: { "tls.key": "test", "tls.crt": "test" } }), reason: "InvalidKeyPair", message: "Issuing certificate as Secret contains invalid private key data: error decoding private key PEM block", prefix: true, violationFound: true })],
    ["Certificate not Ready as Secret contains corrupt certificate data", () => ({ cert: certificate({ secretName: "something" }), secret: secret({ data: { "tls.key": privKey, "tls.crt": "test" } }), reason: "InvalidCertificate", message: "Issuing certificate as Secret contains an invalid certificate: error decoding certificate PEM block", prefix: true, violationFound: true })],
    ["Certificate not Ready as Secret contains a non-matching key-pair", () => ({ cert: certificate({ secretName: "something" }), secret: secret({ data: { "tls.key": privKey, "tls.crt": mustCreateCert(otherKey, { commonName: "example.com" }, T0) } }), reason: "InvalidKeyPair", message: "Issuing certificate as Secret contains a private key that does not match the certificate", violationFound: true })],
    ["Certificate not Ready when CertificateRequest does not match certificate spec", () => ({
      cert: certificate({ secretName: "something", commonName: "new.example.com", issuerRef: ISSUER }, undefined, "something"),
      secret: secret({ annotations: ISSUER_ANNOTATIONS, data: { "tls.key": privKey, "tls.crt": mustCreateCert(privKey, { commonName: "old.example.com" }, T0) } }),
      cr: request(mustGenerateCSR(privKey, { commonName: "old.example.com" }), ISSUER),
      reason: "RequestChanged",
      message: "Fields on existing CertificateRequest resource not up to date: [spec.commonName]",
      violationFound: true,
    })],
    ["Certificate is not Ready when it has expired", () => ({
      cert: certificate({ secretName: "something", commonName: "new.example.com", issuerRef: ISSUER }, undefined, "something"),
      secret: secret({ annotations: ISSUER_ANNOTATIONS, data: { "tls.key": privKey, "tls.crt": mustCreateCertWithNotBeforeAfter(privKey, { commonName: "new.example.com" }, T0 - 3 * HOUR, T0 - HOUR) } }),
      cr: request(mustGenerateCSR(privKey, { commonName: "new.example.com" }), ISSUER),
      reason: "Expired",
      message: "Certificate expired on Sat, 28 Feb 2026 23:00:00 UTC",
      violationFound: true,
    })],
    ["Certificate is Ready, no policy violations found", () => ({
      cert: certificate({ secretName: "something", commonName: "new.example.com", issuerRef: ISSUER }, undefined, "something"),
      secret: secret({ annotations: ISSUER_ANNOTATIONS, data: { "tls.key": privKey, "tls.crt": mustCreateCertWithNotBeforeAfter(privKey, { commonName: "new.example.com" }, T0, T0 + 3 * HOUR) } }),
      cr: request(mustGenerateCSR(privKey, { commonName: "new.example.com" }), ISSUER),
      reason: "",
      message: "",
      violationFound: false,
    })],
  ];
});

describe("readiness_controller_test.go TestNewReadinessPolicyChain", () => {
  const names = [
    "Certificate not Ready if Secret is missing",
    "Certificate not Ready as Secret does not contain any data",
    "Certificate not Ready as Secret is missing private key",
    "Certificate not Ready as Secret is missing certificate",
    "Certificate not Ready as Secret contains corrupt private key and certificate data",
    "Certificate not Ready as Secret contains corrupt certificate data",
    "Certificate not Ready as Secret contains a non-matching key-pair",
    "Certificate not Ready when CertificateRequest does not match certificate spec",
    "Certificate is not Ready when it has expired",
    "Certificate is Ready, no policy violations found",
  ];
  it.each(names)("%s", (name) => {
    const make = tests.find(([n]) => n === name)?.[1];
    if (make === undefined) throw new Error(`no case ${name}`);
    const t = make();
    const v = evaluate(READINESS_CHAIN, policyInput(t.cert, t.secret, t.cr, T0));
    expect(v?.reason ?? "").toBe(t.reason);
    expect(v !== undefined).toBe(t.violationFound);
    if (t.prefix === true) expect(v?.message.startsWith(t.message)).toBe(true);
    else expect(v?.message ?? "").toBe(t.message);
  });
});

describe("readiness_controller_test.go TestProcessItem", () => {
  // Upstream swaps in a fake policy evaluator and renewal-time function; meshsign's readiness pass
  // runs inside the engine's reconcile, so each case builds the Secret that makes the real readiness
  // chain return the case's condition, and expects the real renewal time (2/3 of the lifetime).
  // No issuer exists, so an issuance the engine starts stays pending and the Secret stays as given.
  const now = T0;
  let engine: Engine | undefined;
  afterEach(async () => {
    await engine?.stop();
    engine = undefined;
  });

  const baseCert = (conditions?: Condition[]): Certificate => ({
    apiVersion: "cert-manager.io/v1",
    kind: "Certificate",
    metadata: { namespace: "testns", name: "test" },
    spec: { secretName: "test-secret", dnsNames: ["example.com"], issuerRef: { name: "absent" } },
    ...(conditions ? { status: { conditions } } : {}),
  });
  const tlsSecret = (data: Record<string, string> | undefined): Secret => ({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { namespace: "testns", name: "test-secret" },
    ...(data ? { data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString("base64")])) } : {}),
  });
  const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
  const notBefore = now;
  const notAfter = now + 2 * HOUR;
  const validCert = () => mustCreateCertWithNotBeforeAfter(privKey, { dnsNames: ["example.com"] }, notBefore, notAfter);

  async function run(cert: Certificate | undefined, s: Secret | undefined) {
    const clock = new FakeClock(now);
    const store = new MemoryStore({ now: () => clock.now() });
    if (s !== undefined) await store.create(SECRETS, s);
    if (cert !== undefined) {
      // The store, like the API server, ignores status on create: set it through the status subresource.
      const { status, ...rest } = cert;
      const created = await store.create<Certificate>(CERTIFICATES, rest);
      if (status !== undefined) await store.updateStatus<Certificate>(CERTIFICATES, { ...created, status });
    }
    engine = new Engine({ store, clock, random: fixedRandom(0) });
    await engine.start();
    await engine.idle();
    const after = await store.get<Certificate>(CERTIFICATES, "testns", "test");
    return { store, after, ready: after?.status?.conditions?.find((c) => c.type === "Ready") };
  }

  it.each([
    ["do nothing if an empty 'key' is used", "", ""],
    ["do nothing if an invalid 'key' is used", "abc", "def/ghi"],
    ["do nothing if a key references a Certificate that does not exist", "namespace", "name"],
  ])("%s", async (_name, namespace, name) => {
    const { store } = await run(undefined, undefined);
    expect(await store.list(CERTIFICATES)).toEqual([]);
    await expect(engine?.describe(namespace, name)).rejects.toThrow();
  });

  it("update status for a Certificate that is evaluated as Ready and whose spec.secretName secret contains a valid X509 cert", async () => {
    const { after, ready } = await run(baseCert(), tlsSecret({ "tls.crt": validCert(), "tls.key": privKey }));
    expect(ready).toMatchObject({ status: "True", reason: "Ready", message: "Certificate is up to date and has not expired", lastTransitionTime: iso(now) });
    expect(after?.status).toMatchObject({ notBefore: iso(notBefore), notAfter: iso(notAfter), renewalTime: iso(notAfter - 40 * 60_000) });
  });

  it("update status for a Certificate that is evaluated as not Ready and whose spec.secretName secret contains a valid X509 cert", async () => {
    const { after, ready } = await run(baseCert(), tlsSecret({ "tls.crt": validCert() }));
    expect(ready).toMatchObject({ status: "False", reason: "MissingData", lastTransitionTime: iso(now) });
    expect(after?.status).toMatchObject({ notBefore: iso(notBefore), notAfter: iso(notAfter), renewalTime: iso(notAfter - 40 * 60_000) });
  });

  it("update status for a Certificate whose spec.secretName secret does not exist", async () => {
    const { after, ready } = await run(baseCert(), undefined);
    expect(ready).toMatchObject({ status: "False", reason: "DoesNotExist", lastTransitionTime: iso(now) });
    expect([after?.status?.notBefore, after?.status?.notAfter, after?.status?.renewalTime]).toEqual([undefined, undefined, undefined]);
  });

  it("update status for a Certificate whose spec.secretName secret does not contain a TLS certificate", async () => {
    const { after, ready } = await run(baseCert(), tlsSecret(undefined));
    expect(ready).toMatchObject({ status: "False", reason: "MissingData", lastTransitionTime: iso(now) });
    expect([after?.status?.notBefore, after?.status?.notAfter, after?.status?.renewalTime]).toEqual([undefined, undefined, undefined]);
  });

  it("update status for a Certificate that currently has Ready condition false, but policy evaluates to True", async () => {
    const { ready } = await run(baseCert([{ type: "Ready", status: "False", reason: "some reason", message: "some message" }]), tlsSecret({ "tls.crt": validCert(), "tls.key": privKey }));
    expect(ready).toMatchObject({ status: "True", reason: "Ready", lastTransitionTime: iso(now) });
  });

  it("update status for a Certificate that already has some other condition", async () => {
    const { after, ready } = await run(baseCert([{ type: "Issuing", status: "True", reason: "some reason", message: "some message" }]), undefined);
    expect(ready).toMatchObject({ status: "False", reason: "DoesNotExist", lastTransitionTime: iso(now) });
    expect(after?.status?.conditions?.find((c) => c.type === "Issuing")).toMatchObject({ status: "True", reason: "some reason" });
  });

  it("update status for a Certificate that has Ready condition set to true, but policy evaluator fails", async () => {
    const { ready } = await run(baseCert([{ type: "Ready", status: "True", reason: "Ready", message: "ready message" }]), undefined);
    expect(ready).toMatchObject({ status: "False", reason: "DoesNotExist", lastTransitionTime: iso(now) });
  });

  it("update status for a Certificate that has a Ready condition and the policy evaluates to True- should remain True", async () => {
    const since = iso(now - HOUR);
    const { ready } = await run(
      baseCert([{ type: "Ready", status: "True", reason: "Ready", message: "Certificate is up to date and has not expired", lastTransitionTime: since }]),
      tlsSecret({ "tls.crt": validCert(), "tls.key": privKey }),
    );
    // No transition: the condition keeps its lastTransitionTime.
    expect(ready).toMatchObject({ status: "True", reason: "Ready", lastTransitionTime: since });
  });
});
