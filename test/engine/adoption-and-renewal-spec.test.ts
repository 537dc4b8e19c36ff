import { createPrivateKey, createPublicKey } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { CERTIFICATES, CLUSTER_ISSUERS, SECRETS } from "../../src/api/types.js";
import { Engine } from "../../src/engine/engine.js";
import type { Certificate, Secret } from "../../src/engine/lib/api.js";
import { type CertificateTemplate, encodePem, selfSignedSigner, signCertificate } from "../../src/pki/index.js";
import { MemoryStore } from "../../src/store/memory/index.js";
import { certificate, clusterIssuer, decode } from "./lib/builders.js";
import { FakeClock, fixedRandom } from "./lib/fake-clock.js";
import { keyPairSync } from "../lib/key-pair.js";

const START = Date.parse("2026-01-01T00:00:00Z");
const DAY = 24 * 3_600_000;
const b64 = (s: string) => Buffer.from(s).toString("base64");

/** A Secret made outside cert-manager and meshsign: a key and certificate, no cert-manager.io annotations. */
function handMadeSecret(dnsNames: string[]): Secret {
  const key = keyPairSync("ec", { namedCurve: "P-256" }).privateKey;
  const template: CertificateTemplate = {
    publicKeySpki: createPublicKey(key).export({ format: "der", type: "spki" }),
    dnsNames,
    isCA: false,
    keyUsage: ["digitalSignature", "keyEncipherment"],
    extKeyUsage: [],
    notBefore: new Date(START - DAY),
    notAfter: new Date(START + 89 * DAY),
  };
  const certPem = encodePem("CERTIFICATE", signCertificate(template, selfSignedSigner(template, key)));
  return {
    apiVersion: "v1",
    kind: "Secret",
    type: "kubernetes.io/tls",
    metadata: { name: "web-tls", namespace: "apps" },
    data: { "tls.crt": b64(certPem), "tls.key": b64(key.export({ format: "pem", type: "pkcs8" }).toString()) },
  };
}

describe("existing Secrets and renewal settings, through the engine", () => {
  let engine: Engine | undefined;
  afterEach(async () => {
    await engine?.stop();
    engine = undefined;
  });

  async function run(cert: Certificate, existing?: Secret) {
    const clock = new FakeClock(START);
    const store = new MemoryStore({ now: () => clock.now() });
    await store.create(CLUSTER_ISSUERS, clusterIssuer("selfsigned", { selfSigned: {} }));
    if (existing !== undefined) await store.create(SECRETS, structuredClone(existing));
    await store.create(CERTIFICATES, cert);
    engine = new Engine({ store, clock, random: fixedRandom(0) });
    await engine.start();
    await engine.idle();
    return {
      cert: await store.get<Certificate>(CERTIFICATES, "apps", "web"),
      secret: await store.get<Secret>(SECRETS, "apps", "web-tls"),
    };
  }

  const spec = { dnsNames: ["web.example.com"], privateKey: { algorithm: "ECDSA" as const, size: 256 } };

  it("adopts a Secret without issuer annotations whose key and names match the spec, without issuing", async () => {
    const existing = handMadeSecret(["web.example.com"]);
    const { cert, secret } = await run(certificate("web", "apps", spec), existing);
    expect(decode(secret, "tls.crt")).toBe(decode(existing, "tls.crt"));
    expect(cert?.status?.conditions?.find((c) => c.type === "Ready")).toMatchObject({ status: "True", reason: "Ready" });
    expect(cert?.status?.revision).toBeUndefined();
    // Adopted: the annotations are written in place, so the next reconcile sees our issuer.
    expect(secret?.metadata.annotations?.["cert-manager.io/issuer-name"]).toBe("selfsigned");
  });

  it("re-issues such a Secret for its own reason when its names do not match the spec", async () => {
    const existing = handMadeSecret(["old.example.com"]);
    const { cert, secret } = await run(certificate("web", "apps", spec), existing);
    expect(decode(secret, "tls.crt")).not.toBe(decode(existing, "tls.crt"));
    expect(cert?.status?.revision).toBe(1);
    expect(cert?.status?.conditions?.find((c) => c.type === "Ready")?.status).toBe("True");
  });

  it("refuses a Certificate asking for renewal windows instead of ignoring them", async () => {
    const { cert, secret } = await run(certificate("web", "apps", { ...spec, renewal: { windows: [{ cron: "0 10 * * *", windowDuration: "2h" }] } }));
    expect(secret).toBeUndefined();
    expect(cert?.status?.conditions?.find((c) => c.type === "Ready")).toMatchObject({ status: "False", reason: "UnsupportedSpec" });
    expect(cert?.status?.conditions?.find((c) => c.type === "Ready")?.message).toMatch(/spec\.renewal\.windows is not supported/);
  });

  it("refuses a Certificate asking for a keystore instead of writing a Secret without one", async () => {
    const { cert, secret } = await run(certificate("web", "apps", { ...spec, keystores: { pkcs12: { create: true } } }));
    expect(secret).toBeUndefined();
    expect(cert?.status?.conditions?.find((c) => c.type === "Ready")).toMatchObject({ status: "False", reason: "UnsupportedSpec" });
    expect(cert?.status?.conditions?.find((c) => c.type === "Ready")?.message).toMatch(/spec\.keystores\.pkcs12\.create is not supported/);
  });

  it("writes the additional output formats cert-manager writes: key.der in the encoding of tls.key, tls-combined.pem as key, newline, chain", async () => {
    const { cert, secret } = await run(certificate("web", "apps", { ...spec, additionalOutputFormats: [{ type: "DER" }, { type: "CombinedPEM" }] }));
    expect(cert?.status?.revision).toBe(1);
    const keyPem = decode(secret, "tls.key");
    expect(decode(secret, "tls-combined.pem")).toBe(`${keyPem}\n${decode(secret, "tls.crt")}`);
    const der = Buffer.from(secret?.data?.["key.der"] ?? "", "base64");
    expect(createPrivateKey({ key: der, format: "der", type: "sec1" }).asymmetricKeyType).toBe("ec");
  });
});
