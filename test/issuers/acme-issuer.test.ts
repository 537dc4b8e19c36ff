/**
 * The ACME issuer backend's build (cert-manager's setup): account key from
 * privateKeySecretRef or generated, registration, status.acme, Ready reasons,
 * against the in-memory ACME server of the engine tests.
 */
import { createHash, createPrivateKey } from "node:crypto";
import { describe, expect, it } from "vitest";
import { MeshsignError } from "../../src/errors/index.js";
import { accountKeyHash, createAcmeIssuerFactory } from "../../src/issuers/acme/index.js";
import type { IssuerBuildContext } from "../../src/issuers/registry.js";
import { FakeAcme } from "../engine/acme/fake-acme.js";
import { keyPairSync } from "../lib/key-pair.js";

function context(
  secrets: Record<string, Record<string, string>>,
  writable = true,
): IssuerBuildContext & {
  created: Record<string, { data: Record<string, string>; labels: Record<string, string> }>;
} {
  const created: Record<string, { data: Record<string, string>; labels: Record<string, string> }> = {};
  return {
    secretNamespace: "meshsign-system",
    readSecret: async (name) => secrets[name] ?? created[name]?.data,
    ...(writable
      ? {
          createSecret: async (
            name: string,
            data: Readonly<Record<string, string>>,
            labels: Readonly<Record<string, string>>,
          ) => {
            created[name] = { data: { ...data }, labels: { ...labels } };
          },
        }
      : {}),
    created,
  };
}

const spec = (acme: FakeAcme, extra: Record<string, unknown> = {}) => ({
  server: acme.directoryUrl,
  email: "Ops@Example.com",
  privateKeySecretRef: { name: "account" },
  solvers: [],
  ...extra,
});

describe("ACME issuer build", () => {
  it("generates an RSA-2048 PKCS#1 account key into the missing Secret, registers, and reports the account as cert-manager does", async () => {
    const acme = new FakeAcme();
    const ctx = context({});
    const built = await createAcmeIssuerFactory({ transport: acme.transport })(spec(acme), ctx);
    const pem = ctx.created.account?.data["tls.key"] ?? "";
    expect(pem).toMatch(/^-----BEGIN RSA PRIVATE KEY-----/);
    expect(createPrivateKey(pem).asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(ctx.created.account?.labels).toEqual({ "app.kubernetes.io/managed-by": "cert-manager" });
    const der = createPrivateKey(pem).export({ type: "pkcs1", format: "der" });
    expect(built.issuer.status()).toEqual({
      ready: true,
      reason: "ACMEAccountRegistered",
      message: "The ACME account was registered with the ACME server",
      acme: {
        uri: "https://acme.test/account/1",
        lastRegisteredEmail: "Ops@Example.com",
        lastPrivateKeyHash: createHash("sha256").update(der).digest("base64"),
      },
    });
    expect(built.secretNames).toEqual(["account"]);
  });

  it("uses the key already in the Secret (EC too) and never writes it", async () => {
    const acme = new FakeAcme();
    const key = keyPairSync("ec", { namedCurve: "P-256" }).privateKey;
    const ctx = context({ account: { "tls.key": key.export({ type: "pkcs8", format: "pem" }).toString() } });
    const built = await createAcmeIssuerFactory({ transport: acme.transport })(spec(acme), ctx);
    expect(ctx.created).toEqual({});
    expect(built.issuer.status().acme?.lastPrivateKeyHash).toBe(accountKeyHash(key));
  });

  it.each<[string, Record<string, unknown>, Record<string, Record<string, string>>, string, RegExp]>([
    [
      "no key and disableAccountKeyGeneration",
      { disableAccountKeyGeneration: true },
      {},
      "ErrRegisterACMEAccount",
      /not found and disableAccountKeyGeneration is set/,
    ],
    [
      "a Secret without the key is not overwritten",
      {},
      { account: { other: "x" } },
      "ErrRegisterACMEAccount",
      /exists without key "tls.key"/,
    ],
    [
      "an EAB Secret missing",
      { externalAccountBinding: { keyID: "kid-1", keySecretRef: { name: "eab", key: "secret" } } },
      {},
      "ErrRegisterACMEAccount",
      /External Account Binding key/,
    ],
    ["an invalid spec", { server: "not a url" }, {}, "InvalidConfig", /spec\.acme\.server/],
  ])("is not ready with %s", async (_name, extra, secrets, reason, message) => {
    const acme = new FakeAcme();
    const built = await createAcmeIssuerFactory({ transport: acme.transport })(
      spec(acme, extra),
      context(secrets),
    );
    expect(built.issuer.status()).toMatchObject({
      ready: false,
      reason,
      message: expect.stringMatching(message),
    });
    expect(built.retryAfterMs).toBeUndefined();
    await expect(
      built.issuer.sign({ requestId: "a/b", csrPem: "", template: {} as never }),
    ).rejects.toMatchObject({ code: "ERR_ISSUER_NOT_READY" });
  });

  it("asks to be rebuilt with a growing delay while the CA is unreachable", async () => {
    const down = async (): Promise<never> => {
      throw new MeshsignError("ERR_ACME_UNAVAILABLE", "ACME server acme.test unreachable: ECONNREFUSED", {
        retry: "transient",
      });
    };
    const factory = createAcmeIssuerFactory({ transport: down });
    const ctx = context({});
    const first = await factory(spec(new FakeAcme()), ctx);
    const second = await factory(spec(new FakeAcme()), ctx);
    expect(first.issuer.status()).toMatchObject({
      ready: false,
      reason: "ErrRegisterACMEAccount",
      message: expect.stringMatching(/unreachable: ECONNREFUSED/),
    });
    expect(first.retryAfterMs).toBe(10_000);
    expect(second.retryAfterMs).toBe(20_000);
  });

  it("refuses to sign without the engine's Order signer (the CreateCertificate path)", async () => {
    const acme = new FakeAcme();
    const built = await createAcmeIssuerFactory({ transport: acme.transport })(spec(acme), context({}));
    await expect(
      built.issuer.sign({ requestId: "a/b", csrPem: "", template: {} as never }),
    ).rejects.toMatchObject({
      code: "ERR_ISSUER_REJECTED",
      message: expect.stringMatching(/do not issue SPIFFE SVIDs/),
    });
  });
});
