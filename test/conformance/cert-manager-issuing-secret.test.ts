/**
 * cert-manager's issuing-controller Secret tables, translated case by case:
 * pkg/controller/certificates/issuing/internal/secret_test.go (cert-manager/cert-manager),
 * Test_SecretsManager and Test_getCertificateSecret.
 *
 * Upstream asserts the server-side-apply configuration it sends; the API server then keeps fields
 * other managers own (a user's "my-custom" annotation and label). meshsign writes the whole Secret,
 * so each case asserts the Secret that results: upstream's applied fields plus what the server keeps.
 * Where meshsign deliberately differs, the case asserts meshsign's behaviour and says why.
 */
import { createPublicKey } from "node:crypto";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { validateResource } from "../../src/api/index.js";
import { CERTIFICATES, CLUSTER_ISSUERS, SECRETS } from "../../src/api/types.js";
import { Engine } from "../../src/engine/engine.js";
import type { Certificate, Secret } from "../../src/engine/lib/api.js";
import { resolveSpec } from "../../src/engine/lib/spec.js";
import { certInfo } from "../../src/engine/lib/x509-info.js";
import { buildSecret } from "../../src/engine/secret.js";
import { type CertificateTemplate, encodePem, selfSignedSigner, signCertificate } from "../../src/pki/index.js";
import { MemoryStore } from "../../src/store/memory/index.js";
import type { KubeObject, ResourceType } from "../../src/store/types.js";
import { FakeClock, fixedRandom } from "../engine/lib/fake-clock.js";
import { keyPairSync } from "../lib/key-pair.js";

const NS = "default-unit-test-ns"; // gen.DefaultTestNamespace
const T0 = Date.parse("2026-03-01T00:00:00Z");
const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
const unb64 = (data: Record<string, string> | undefined) => Object.fromEntries(Object.entries(data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")]));

/** SecretData: the issued material handed to the secrets manager. */
interface SecretData {
  certificate: string;
  ca?: string;
  privateKey: string;
}

/** SecretsManager.UpdateData: the Secret meshsign writes for this Certificate and issued material. */
function updateData(existing: Secret | undefined, cert: Certificate, d: SecretData): Secret {
  const info = certInfo(d.certificate);
  return buildSecret(existing, cert, resolveSpec(cert.spec), info, { keyPem: d.privateKey, chainPem: d.certificate, caPem: d.ca });
}

let certBytes: string;
let privateKeyBytes: string;
let tlsDerContent: string;

// baseCert: gen.Certificate("test") with issuer ca-issuer/Issuer/foo.io, secretName output,
// renewBefore 36h, dnsNames example.com, uid test-uid.
function baseCert(spec: Partial<Certificate["spec"]> = {}): Certificate {
  return {
    apiVersion: "cert-manager.io/v1",
    kind: "Certificate",
    metadata: { name: "test", namespace: NS, uid: "test-uid" },
    spec: { secretName: "output", issuerRef: { name: "ca-issuer", kind: "Issuer", group: "foo.io" }, renewBefore: "36h", dnsNames: ["example.com"], ...spec },
  };
}
const withSecretTemplate = () => baseCert({ secretTemplate: { annotations: { template: "annotation", "my-custom": "annotation-from-secret" }, labels: { template: "label" } } });

beforeAll(() => {
  // testcrypto.MustCreateCryptoBundle: the spec's default key (RSA 2048, PKCS#1) and a certificate for example.com.
  const key = keyPairSync("rsa", { modulusLength: 2048 }).privateKey;
  privateKeyBytes = key.export({ format: "pem", type: "pkcs1" }).toString();
  tlsDerContent = key.export({ format: "der", type: "pkcs1" }).toString("base64");
  const template: CertificateTemplate = {
    publicKeySpki: createPublicKey(key).export({ format: "der", type: "spki" }),
    dnsNames: ["example.com"],
    isCA: false,
    keyUsage: ["digitalSignature", "keyEncipherment"],
    extKeyUsage: [],
    notBefore: new Date(T0),
    notAfter: new Date(T0 + 90 * 24 * 3_600_000),
  };
  certBytes = encodePem("CERTIFICATE", signCertificate(template, selfSignedSigner(template, key)));
});

/** The annotations every case expects (AnnotationsForCertificateSecret of the bundle's certificate). */
const BASE_ANNOTATIONS = {
  "cert-manager.io/certificate-name": "test",
  "cert-manager.io/issuer-group": "foo.io",
  "cert-manager.io/issuer-kind": "Issuer",
  "cert-manager.io/issuer-name": "ca-issuer",
  "cert-manager.io/common-name": "",
  "cert-manager.io/alt-names": "example.com",
  "cert-manager.io/ip-sans": "",
  "cert-manager.io/uri-sans": "",
};
const FAO = { "controller.cert-manager.io/fao": "true" };
/** meshsign differs: it records the template keys it applied, its stand-in for SSA managed fields, so removals propagate. */
const TEMPLATE_KEYS = { "meshsign.io/secret-template-keys": "a:my-custom,a:template,l:template" };

function existingSecret(type: string, extraData: Record<string, string> = {}): Secret {
  return {
    apiVersion: "v1",
    kind: "Secret",
    type,
    metadata: { namespace: NS, name: "output", annotations: { "my-custom": "annotation" }, labels: { "my-custom": "label" } },
    data: Object.fromEntries(Object.entries({ "tls.crt": "foo", "tls.key": "foo", "ca.crt": "foo", ...extraData }).map(([k, v]) => [k, b64(v)])),
  };
}

interface Expected {
  annotations: Record<string, string>;
  labels: Record<string, string>;
  data: Record<string, string>;
  type: string;
}

function expectSecret(got: Secret, want: Expected): void {
  expect(got.metadata.name).toBe("output");
  expect(got.metadata.namespace).toBe(NS);
  expect(got.metadata.annotations).toEqual(want.annotations);
  expect(got.metadata.labels).toEqual(want.labels);
  expect(got.type).toBe(want.type);
  const data = unb64(got.data);
  if ("key.der" in want.data) {
    expect(got.data?.["key.der"]).toBe(want.data["key.der"]);
    delete data["key.der"];
  }
  const { "key.der": _der, ...rest } = want.data;
  expect(data).toEqual(rest);
  // meshsign differs: no ownerReference, ever (cert-manager's default, --enable-certificate-owner-ref=false);
  // deleting a Certificate keeps its Secret.
  expect(got.metadata.ownerReferences).toBeUndefined();
}

describe("secret_test.go Test_SecretsManager", () => {
  it("if secret does not exists and unable to decode certificate, then error", () => {
    expect(() => updateData(undefined, baseCert(), { certificate: "test-cert", ca: "test-ca", privateKey: "test-key" })).toThrow();
  });

  const created = (): Expected => ({ annotations: BASE_ANNOTATIONS, labels: FAO, data: { "tls.crt": certBytes, "tls.key": "test-key", "ca.crt": "test-ca" }, type: "kubernetes.io/tls" });
  const updated = (): Expected => ({
    annotations: { ...BASE_ANNOTATIONS, "my-custom": "annotation" },
    labels: { ...FAO, "my-custom": "label" },
    data: { "tls.crt": certBytes, "tls.key": "test-key", "ca.crt": "test-ca" },
    type: "kubernetes.io/tls",
  });

  it("if secret does not exist, create new Secret, with owner disabled", () => {
    expectSecret(updateData(undefined, baseCert(), { certificate: certBytes, ca: "test-ca", privateKey: "test-key" }), created());
  });
  it("if secret does not exist, create new Secret, with owner enabled", () => {
    // meshsign differs: it has no --enable-certificate-owner-ref; the Secret is the same as with owner disabled.
    expectSecret(updateData(undefined, baseCert(), { certificate: certBytes, ca: "test-ca", privateKey: "test-key" }), created());
  });
  it("if secret does exist, update existing Secret and leave custom annotations and labels, with owner disabled", () => {
    expectSecret(updateData(existingSecret("kubernetes.io/tls"), baseCert(), { certificate: certBytes, ca: "test-ca", privateKey: "test-key" }), updated());
  });
  it("if secret does exist, update existing Secret and leave custom annotations and labels, with owner enabled", () => {
    // meshsign differs: no owner-reference option (see above).
    expectSecret(updateData(existingSecret("kubernetes.io/tls"), baseCert(), { certificate: certBytes, ca: "test-ca", privateKey: "test-key" }), updated());
  });

  const templated = (): Expected => ({
    annotations: { ...BASE_ANNOTATIONS, template: "annotation", "my-custom": "annotation-from-secret", ...TEMPLATE_KEYS },
    labels: { ...FAO, template: "label", "my-custom": "label" },
    data: { "tls.crt": certBytes, "tls.key": "test-key", "ca.crt": "test-ca" },
    type: "kubernetes.io/tls",
  });
  it("if secret does exist, update existing Secret and add annotations set in secretTemplate", () => {
    expectSecret(updateData(existingSecret("kubernetes.io/tls"), withSecretTemplate(), { certificate: certBytes, ca: "test-ca", privateKey: "test-key" }), templated());
  });
  it("if secret does exist, ensure that any missing base labels and annotations are added", () => {
    expectSecret(updateData(existingSecret("kubernetes.io/tls"), withSecretTemplate(), { certificate: certBytes, ca: "test-ca", privateKey: "test-key" }), templated());
  });
  it("if secret does exist, remove certificate detail annotations the new certificate no longer has", () => {
    // cert-manager applies its annotations with server-side apply: one it wrote for the previous
    // certificate and does not send again (no e-mail SAN, no subject fields now) is removed.
    const previous = existingSecret("kubernetes.io/tls");
    previous.metadata.annotations = {
      ...previous.metadata.annotations,
      ...BASE_ANNOTATIONS,
      "cert-manager.io/email-sans": "old@example.com",
      "cert-manager.io/subject-organizations": "Old Org",
      "cert-manager.io/subject-serialnumber": "1234",
    };
    expectSecret(updateData(previous, baseCert(), { certificate: certBytes, ca: "test-ca", privateKey: "test-key" }), updated());
  });
  it("if secret does not exist, create new Secret using the secret template", () => {
    // meshsign differs: no owner-reference option (see above).
    expectSecret(updateData(undefined, withSecretTemplate(), { certificate: certBytes, ca: "test-ca", privateKey: "test-key" }), {
      annotations: { ...BASE_ANNOTATIONS, template: "annotation", "my-custom": "annotation-from-secret", ...TEMPLATE_KEYS },
      labels: { ...FAO, template: "label" },
      data: { "tls.crt": certBytes, "tls.key": "test-key", "ca.crt": "test-ca" },
      type: "kubernetes.io/tls",
    });
  });

  const withFormats = (...types: ("DER" | "CombinedPEM")[]) => baseCert({ additionalOutputFormats: types.map((type) => ({ type })) });
  const combined = () => [privateKeyBytes, certBytes].join("\n");

  it("if secret does not exist, create new Secret with additional output format DER", () => {
    expectSecret(updateData(undefined, withFormats("DER"), { certificate: certBytes, ca: "test-ca", privateKey: privateKeyBytes }), {
      annotations: BASE_ANNOTATIONS,
      labels: FAO,
      data: { "tls.crt": certBytes, "tls.key": privateKeyBytes, "ca.crt": "test-ca", "key.der": tlsDerContent },
      type: "kubernetes.io/tls",
    });
  });
  it("if secret does not exist, create new Secret with additional output format CombinedPEM", () => {
    expectSecret(updateData(undefined, withFormats("CombinedPEM"), { certificate: certBytes, ca: "test-ca", privateKey: privateKeyBytes }), {
      annotations: BASE_ANNOTATIONS,
      labels: FAO,
      data: { "tls.crt": certBytes, "tls.key": privateKeyBytes, "ca.crt": "test-ca", "tls-combined.pem": combined() },
      type: "kubernetes.io/tls",
    });
  });
  it("if secret does not exist, create new Secret with additional output format DER and CombinedPEM", () => {
    expectSecret(updateData(undefined, withFormats("DER", "CombinedPEM"), { certificate: certBytes, ca: "test-ca", privateKey: privateKeyBytes }), {
      annotations: BASE_ANNOTATIONS,
      labels: FAO,
      data: { "tls.crt": certBytes, "tls.key": privateKeyBytes, "ca.crt": "test-ca", "key.der": tlsDerContent, "tls-combined.pem": combined() },
      type: "kubernetes.io/tls",
    });
  });

  const opaqueWithFormats = () => existingSecret("Opaque", { "key.der": "foo", "tls-combined.pem": "foo" });
  const updatedOpaque = (extra: Record<string, string>): Expected => ({
    annotations: { ...BASE_ANNOTATIONS, "my-custom": "annotation" },
    labels: { ...FAO, "my-custom": "label" },
    data: { "tls.crt": certBytes, "tls.key": privateKeyBytes, "ca.crt": "test-ca", ...extra },
    type: "Opaque",
  });
  it("if secret exists, with tls-combined.pem and key.der but no additional formats specified", () => {
    expectSecret(updateData(opaqueWithFormats(), baseCert(), { certificate: certBytes, ca: "test-ca", privateKey: privateKeyBytes }), updatedOpaque({}));
  });
  it("if secret exists, with tls-combined.pem and key.der but only DER Format specified", () => {
    expectSecret(updateData(opaqueWithFormats(), withFormats("DER"), { certificate: certBytes, ca: "test-ca", privateKey: privateKeyBytes }), updatedOpaque({ "key.der": tlsDerContent }));
  });
  it("if secret exists, with tls-combined.pem and key.der but only Combined PEM Format specified", () => {
    expectSecret(updateData(opaqueWithFormats(), withFormats("CombinedPEM"), { certificate: certBytes, ca: "test-ca", privateKey: privateKeyBytes }), updatedOpaque({ "tls-combined.pem": combined() }));
  });

  describe("if apply errors, expect error response", () => {
    // meshsign's Secret is built by a pure function and written by the store: a failing write
    // must leave the issuance unrecorded (no revision, not Ready), to be retried.
    let engine: Engine | undefined;
    afterEach(async () => {
      await engine?.stop();
      engine = undefined;
    });
    it("a Secret write that fails records no issuance", async () => {
      const clock = new FakeClock(T0);
      class FailingSecrets extends MemoryStore {
        override async create<T extends KubeObject>(type: ResourceType, obj: T): Promise<T> {
          if (type === SECRETS && obj.metadata.name === "output") throw new Error("this is an error");
          return super.create(type, obj);
        }
      }
      const store = new FailingSecrets({ now: () => clock.now() });
      await store.create(CLUSTER_ISSUERS, { apiVersion: "cert-manager.io/v1", kind: "ClusterIssuer", metadata: { name: "ca-issuer" }, spec: { selfSigned: {} } });
      await store.create(CERTIFICATES, { ...withSecretTemplate(), spec: { ...withSecretTemplate().spec, issuerRef: { name: "ca-issuer", kind: "ClusterIssuer" } } });
      engine = new Engine({ store, clock, random: fixedRandom(0) });
      await engine.start();
      await engine.idle();
      const cert = await store.get<Certificate>(CERTIFICATES, NS, "test");
      expect(await store.get<Secret>(SECRETS, NS, "output")).toBeUndefined();
      expect(cert?.status?.revision).toBeUndefined();
      expect(cert?.status?.conditions?.find((c) => c.type === "Ready")?.status).toBe("False");
    });
  });

  const keystoreErrors = (keystores: unknown) => {
    const r = validateResource({ ...baseCert(), spec: { ...baseCert().spec, keystores } });
    return r.ok ? [] : r.errors.map((e) => e.path);
  };
  it("if secret does not exist, create new Secret with JKS keystore", () => {
    // meshsign differs: JKS keystores are not implemented, so the spec is refused instead of writing no keystore.jks.
    expect(keystoreErrors({ jks: { create: true, password: "something" } })).toContain("spec.keystores.jks.create");
  });
  it("if secret does not exist, create new Secret with PKCS12 keystore", () => {
    // meshsign differs: PKCS#12 keystores are not implemented, so the spec is refused instead of writing no keystore.p12.
    expect(keystoreErrors({ pkcs12: { create: true, password: "something" } })).toContain("spec.keystores.pkcs12.create");
  });
});

describe("secret_test.go Test_getCertificateSecret", () => {
  // Upstream returns the Secret it will apply to: name, namespace and type only. meshsign's
  // observable equivalent is the type of the Secret it writes.
  const crt = (): Certificate => ({ apiVersion: "cert-manager.io/v1", kind: "Certificate", metadata: { namespace: "test-namespace", name: "test-certificate" }, spec: { secretName: "test-secret", issuerRef: { name: "ca-issuer" }, dnsNames: ["example.com"] } });
  const existing = (type: string): Secret => ({
    apiVersion: "v1",
    kind: "Secret",
    type,
    metadata: { namespace: "test-namespace", name: "test-secret", annotations: { foo: "bar" }, labels: { abc: "123" } },
    data: { abc: b64("123"), "hello-world": b64("bar"), "tls.crt": b64("cert"), "tls.key": b64("key"), "ca.crt": b64("ca") },
  });
  const cases: [string, Secret | undefined, string][] = [
    ["if secret doesn't exist, expect empty secret", undefined, "kubernetes.io/tls"],
    ["if secret exists, expect only basic metadata to be retuned, but the Type set to tls", existing("kubernetes.io/tls"), "kubernetes.io/tls"],
    ["if secret exists, expect only basic metadata returned, with original Type set", existing("Opaque"), "Opaque"],
  ];
  it.each(cases)("%s", (_name, s, type) => {
    const got = updateData(s, crt(), { certificate: certBytes, privateKey: privateKeyBytes });
    expect(got.type).toBe(type);
    expect(got.metadata.name).toBe("test-secret");
    expect(got.metadata.namespace).toBe("test-namespace");
  });
});
