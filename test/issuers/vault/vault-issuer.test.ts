import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { SharedIssuers } from "../../../src/issuers/instance-pool.js";
import type { Issuer, SignRequest } from "../../../src/issuers/issuer.js";
import { createDefaultIssuerRegistry } from "../../../src/issuers/registry.js";
import {
  goDuration,
  parseVaultConfig,
  type VaultIssuer,
  vaultIssuerFactory,
} from "../../../src/issuers/vault/index.js";
import {
  buildCsr,
  type CertificateTemplate,
  generateKeySync,
  type KeySpec,
  publicKeySpki,
} from "../../../src/pki/index.js";
import { FakeVault, VAULT_ROLE_EXT_KEY_USAGE, VAULT_ROLE_KEY_USAGE } from "./lib/fake-vault.js";
import { rejection } from "../../lib/rejection.js";

const SVID = "spiffe://cluster.local/ns/default/sa/web";
const fake = new FakeVault();

beforeAll(() => fake.start());
afterAll(() => fake.stop());
beforeEach(() => {
  fake.requests.length = 0;
  fake.healthCode = 200;
  fake.signStatus = 200;
  fake.misbehave = "none";
  fake.tokenTtlS = 3600;
  fake.renewTtlS = undefined;
  fake.roleKeyUsage = [...VAULT_ROLE_KEY_USAGE];
  fake.roleExtKeyUsage = [...VAULT_ROLE_EXT_KEY_USAGE];
});

const secrets: Record<string, Record<string, string>> = {
  approle: { secretId: "secret" },
  token: { token: "static-token\n" },
  sa: { token: "sa-jwt" },
  badsa: { token: "other" },
};
const appRole = {
  appRole: { path: "approle", roleId: "role", secretRef: { name: "approle", key: "secretId" } },
};

async function build(spec: Record<string, unknown>): Promise<Issuer> {
  const built = await vaultIssuerFactory(
    { server: fake.url, path: "pki_int/sign/mesh", auth: appRole, ...spec },
    { secretNamespace: "ns", readSecret: async (n) => secrets[n] },
  );
  return built.issuer;
}

function request(
  uris = [SVID],
  hours = 1,
  usages: Pick<CertificateTemplate, "keyUsage" | "extKeyUsage"> = {
    keyUsage: ["digitalSignature"],
    extKeyUsage: ["serverAuth"],
  },
  keySpec: KeySpec = { type: "ec", curve: "P-256" },
): SignRequest {
  const key = generateKeySync(keySpec);
  const now = Date.now();
  const template: CertificateTemplate = {
    publicKeySpki: publicKeySpki(key),
    subject: [],
    uris,
    isCA: false,
    ...usages,
    notBefore: new Date(now),
    notAfter: new Date(now + hours * 3_600_000),
  };
  return { requestId: "r", csrPem: buildCsr(key, { subject: [], uris }), template };
}


describe("spec.vault validation", () => {
  const base = {
    server: "https://vault:8200",
    path: "pki_int/sign/mesh",
    auth: { tokenSecretRef: { name: "t" } },
  };
  it.each([
    ["a missing server", { server: undefined }, /spec\.vault\.server is required/],
    ["a server that is not a URL", { server: "vault:8200:x" }, /spec\.vault\.server/],
    [
      "an issue path, with cert-manager's explanation",
      { path: "pki_int/issue/mesh" },
      /issue endpoint, which generates its own private key and ignores the CSR/,
    ],
    ["a path with ..", { path: "pki_int/sign/../issue/x" }, /must not contain "\." or "\.\." segments/],
    ["a path that is no sign endpoint", { path: "pki_int/roles/mesh" }, /must be a PKI sign endpoint/],
    [
      "no auth method",
      { auth: {} },
      /must set one of tokenSecretRef, appRole, kubernetes, clientCertificate/,
    ],
    [
      "two auth methods",
      { auth: { tokenSecretRef: { name: "t" }, ...appRole } },
      /sets tokenSecretRef, appRole: multiple auth methods cannot be set/,
    ],
    [
      "an appRole secretRef without key",
      { auth: { appRole: { path: "approle", roleId: "r", secretRef: { name: "s" } } } },
      /auth\.appRole\.secretRef\.key is required/,
    ],
    [
      "kubernetes auth without role",
      { auth: { kubernetes: { secretRef: { name: "s" } } } },
      /auth\.kubernetes\.role is required/,
    ],
    [
      "both caBundle and caBundleSecretRef",
      {
        caBundle: Buffer.from("-----BEGIN CERTIFICATE-----").toString("base64"),
        caBundleSecretRef: { name: "ca" },
      },
      /mutually exclusive/,
    ],
    ["a client certificate without its key", { clientCertSecretRef: { name: "c" } }, /must be set together/],
  ])("refuses %s", (_name, patch, message) => {
    expect(() => parseVaultConfig({ ...base, ...patch })).toThrow(message);
  });

  it("accepts sign-verbatim and cert-manager's mount path forms, with cert-manager's default keys", () => {
    const c = parseVaultConfig({
      ...base,
      path: "/v1/pki/sign-verbatim/mesh",
      caBundleSecretRef: { name: "ca" },
      auth: { kubernetes: { role: "r", mountPath: "/v1/auth/k8s", secretRef: { name: "sa" } } },
    });
    expect(c).toMatchObject({
      path: "pki/sign-verbatim/mesh",
      caBundleSecretRef: { name: "ca", key: "ca.crt" },
      auth: { method: "kubernetes", mountPath: "auth/k8s", secretRef: { name: "sa", key: "token" } },
    });
    expect(parseVaultConfig(base).auth).toEqual({
      method: "token",
      tokenSecretRef: { name: "t", key: "token" },
    });
  });

  it("writes TTLs as Go durations", () => {
    expect([goDuration(2160 * 3600), goDuration(90), goDuration(45), goDuration(3600.4)]).toEqual([
      "2160h0m0s",
      "1m30s",
      "45s",
      "1h0m0s",
    ]);
  });

  it("is what the default registry builds for a vault Issuer, not UnsupportedIssuerType", async () => {
    const built = await createDefaultIssuerRegistry().build(
      {
        kind: "Issuer",
        metadata: { name: "v", namespace: "ns" },
        spec: { vault: { ...base, path: "pki_int/issue/x" } },
      },
      async () => undefined,
    );
    expect(built.issuer.kind).toBe("vault");
    expect(built.issuer.status()).toMatchObject({ ready: false, reason: "VaultError" });
  });
});

describe("Vault issuer against a fake Vault", () => {
  it("sends cert-manager's sign body and the namespace header on every call but sys/health", async () => {
    const issuer = await build({ namespace: "team-a" });
    await issuer.sign(request());
    const sign = fake.requests.find((r) => r.path === "pki_int/sign/mesh");
    expect(sign?.body).toMatchObject({
      common_name: "",
      alt_names: "",
      ip_sans: "",
      uri_sans: SVID,
      ttl: expect.stringMatching(/^(0h59m5\ds|1h0m0s)$/),
      exclude_cn_from_sans: "true",
    });
    expect(sign?.body.csr).toContain("BEGIN CERTIFICATE REQUEST");
    for (const r of fake.requests)
      expect([r.path, r.headers["x-vault-namespace"]]).toEqual([
        r.path,
        r.path === "sys/health" ? undefined : "team-a",
      ]);
  });

  it.each([
    [200, true, "Vault verified"],
    [429, true, "Vault verified"],
    [472, true, "Vault verified"],
    [473, true, "Vault verified"],
    [501, false, "Vault is not initialized"],
    [503, false, "Vault is sealed"],
    [500, false, "Vault health check returned unexpected HTTP 500"],
  ])("reads sys/health %i as ready=%s (%s)", async (code, ready, message) => {
    fake.healthCode = code;
    const issuer = await build({});
    expect(issuer.status()).toEqual({ ready, reason: ready ? "VaultVerified" : "VaultError", message });
  });

  it("logs in once for many concurrent signatures and renews the token instead of logging in again", async () => {
    const issuer = await build({});
    await Promise.all(Array.from({ length: 20 }, () => issuer.sign(request())));
    expect(fake.count("auth/approle/login")).toBe(1);
    expect(fake.count("pki_int/sign/mesh")).toBe(20);
    fake.tokenTtlS = 1;
    const short = await build({});
    await new Promise((r) => setTimeout(r, 800));
    await short.sign(request());
    expect((short as VaultIssuer).tokenStats).toEqual({ logins: 1, renewals: 1 });
    // At its max TTL a renewal gives back less than half the granted TTL: log in again instead.
    fake.renewTtlS = 0;
    await new Promise((r) => setTimeout(r, 800));
    await short.sign(request());
    expect((short as VaultIssuer).tokenStats).toEqual({ logins: 2, renewals: 1 });
  });

  it("logs in with Kubernetes auth at the configured mount, and reports a refused login as not ready with Vault's reason", async () => {
    const k8s = { kubernetes: { role: "meshsign", mountPath: "/v1/auth/k8s", secretRef: { name: "sa" } } };
    const ok = await build({ auth: k8s });
    expect(ok.status()).toMatchObject({ ready: true });
    await ok.sign(request());
    expect(fake.requests.find((r) => r.path === "auth/k8s/login")?.body).toEqual({
      role: "meshsign",
      jwt: "sa-jwt",
    });
    const refused = await build({
      auth: { kubernetes: { ...k8s.kubernetes, secretRef: { name: "badsa" } } },
    });
    expect(refused.status()).toEqual({
      ready: false,
      reason: "VaultError",
      message:
        "Failed to initialize Vault client: Vault Kubernetes login at auth/k8s/login failed with HTTP 403: permission denied",
    });
  });

  it("logs in again once after a 403 and signs; a second 403 is a terminal refusal", async () => {
    const issuer = await build({});
    for (const t of [...fake.valid]) if (t !== "static-token") fake.valid.delete(t);
    await issuer.sign(request());
    expect(fake.count("auth/approle/login")).toBe(2);
    fake.signStatus = 403;
    const err = await rejection(issuer.sign(request()));
    expect(err).toMatchObject({ code: "ERR_ISSUER_REJECTED", retry: "terminal" });
    expect(err.message).toBe(
      "Vault pki_int/sign/mesh failed to sign the certificate (HTTP 403): fake error 403",
    );
  });

  it.each([
    [503, /Vault is sealed or unavailable \(HTTP 503\)/],
    [500, /HTTP 500/],
    [429, /HTTP 429/],
  ])("treats HTTP %i from sign as transient", async (code, message) => {
    const issuer = await build({});
    fake.signStatus = code;
    const err = await rejection(issuer.sign(request()));
    expect(err).toMatchObject({ code: "ERR_ISSUER_UNAVAILABLE", retry: "transient" });
    expect(err.message).toMatch(message);
  });

  it("answers a refused connection as transient, fast", async () => {
    const built = await vaultIssuerFactory(
      {
        server: "http://127.0.0.1:1",
        path: "pki_int/sign/mesh",
        auth: { tokenSecretRef: { name: "token" } },
      },
      { secretNamespace: "ns", readSecret: async (n) => secrets[n] },
    );
    expect(built.issuer.status()).toMatchObject({
      ready: false,
      message: "Vault health check failed: connection to Vault refused",
    });
    const err = await rejection(built.issuer.sign(request()));
    expect(err).toMatchObject({
      code: "ERR_ISSUER_UNAVAILABLE",
      retry: "transient",
      message: "Vault pki_int/sign/mesh: connection to Vault refused",
    });
  });

  it.each([
    ["wrong-key", /its public key is not the CSR's key/],
    ["other-root", /CA certificates do not form one chain|chain does not verify/],
    [
      "other-san",
      /its URI SANs \[spiffe:\/\/cluster\.local\/ns\/kube-system\/sa\/admin\] are not the requested/,
    ],
    ["too-long", /is valid until .* after the requested/],
  ] as const)("refuses what a misbehaving Vault returns: %s", async (mode, message) => {
    const issuer = await build({});
    fake.misbehave = mode;
    const err = await rejection(issuer.sign(request()));
    expect(err.code).toBe("ERR_CHAIN_INVALID");
    expect(err.message).toMatch(message);
  });

  it("leaves the leaf to a caller that checks it (CreateCertificate), still ordering and returning Vault's CA certificates", async () => {
    const issuer = await build({});
    const checked = await issuer.sign(request());
    fake.misbehave = "wrong-key";
    const r = await issuer.sign({ ...request(), leafCheckedByCaller: true });
    expect(r.status).toBe("issued");
    if (r.status !== "issued" || checked.status !== "issued") return;
    expect(r.chain).toHaveLength(2);
    expect(r.chain[1]).toBe(checked.chain[1]);
    expect(r.ca).toBe(checked.ca);
    // Without the flag the same answer is refused here.
    expect((await rejection(issuer.sign(request()))).message).toMatch(/its public key is not the CSR's key/);
  });

  it("returns the leaf and intermediate, with the root as ca, when Vault behaves", async () => {
    const issuer = await build({});
    const r = await issuer.sign(request());
    expect(r.status).toBe("issued");
    if (r.status !== "issued") return;
    expect(r.chain).toHaveLength(2);
    expect(r.ca).toContain("BEGIN CERTIFICATE");
  });
});

describe("the usages of what Vault signs, against the usages the request asked for", () => {
  // Vault's sign/<role> writes the role's key_usage and EKU flags into every leaf and ignores the
  // CSR's: a role that does not grant what a Certificate's `usages` ask for yields a certificate the
  // workload cannot use (a client whose peer refuses it, a server that cannot sign its handshake).
  const certManagerDefault = { keyUsage: ["digitalSignature", "keyEncipherment"], extKeyUsage: [] } as const;
  const mtls = {
    keyUsage: ["digitalSignature", "keyEncipherment"],
    extKeyUsage: ["serverAuth", "clientAuth"],
  } as const;

  it.each([
    [
      "client auth asked, a role with client_flag=false",
      mtls,
      { roleExtKeyUsage: ["serverAuth"] },
      /its extended key usages \[serverAuth\] do not allow clientAuth, which was asked for/,
    ],
    [
      "server auth asked, a role whose only EKU is anyExtendedKeyUsage (TLS stacks such as Envoy's refuse it)",
      { keyUsage: ["digitalSignature"], extKeyUsage: ["serverAuth"] },
      { roleExtKeyUsage: ["any"] },
      /its extended key usages \[any\] do not allow serverAuth, which was asked for/,
    ],
    [
      "digital signature asked, a role with key_usage=KeyAgreement",
      certManagerDefault,
      { roleKeyUsage: ["keyAgreement"] },
      /its key usages \[keyAgreement\] do not allow digitalSignature, which was asked for/,
    ],
    [
      "key encipherment asked for an RSA key, a role with key_usage=DigitalSignature",
      certManagerDefault,
      { roleKeyUsage: ["digitalSignature"] },
      /its key usages \[digitalSignature\] do not allow keyEncipherment, which was asked for/,
      { type: "rsa", bits: 2048 },
    ],
  ] as const)("refuses a leaf it could not be used for: %s", async (_name, usages, role, message, key?) => {
    const issuer = await build({});
    Object.assign(fake, role);
    const err = await rejection(
      issuer.sign(
        request([SVID], 1, { keyUsage: [...usages.keyUsage], extKeyUsage: [...usages.extKeyUsage] }, key),
      ),
    );
    expect(err).toMatchObject({ code: "ERR_CHAIN_INVALID", retry: "terminal", detail: { check: "usage" } });
    expect(err.message).toMatch(/^the issuer returned a certificate meshsign refuses: /);
    expect(err.message).toMatch(message);
  });

  it.each([
    ["cert-manager's default usages, Vault's default role", certManagerDefault, {}],
    ["server and client auth, Vault's default role", mtls, {}],
    [
      "cert-manager's default usages on an ECDSA key, a role with key_usage=DigitalSignature (RFC 8813: no keyEncipherment for EC keys)",
      certManagerDefault,
      { roleKeyUsage: ["digitalSignature"] },
    ],
    [
      "server and client auth, a role with no key_usage and no EKU flags (neither extension: any use)",
      mtls,
      { roleKeyUsage: [], roleExtKeyUsage: [] },
    ],
    [
      "server auth, a role that also grants code signing",
      { keyUsage: ["digitalSignature"], extKeyUsage: ["serverAuth"] },
      { roleExtKeyUsage: ["serverAuth", "clientAuth", "codeSigning"] },
    ],
  ] as const)("accepts %s", async (_name, usages, role) => {
    const issuer = await build({});
    Object.assign(fake, role);
    const r = await issuer.sign(
      request([SVID], 1, { keyUsage: [...usages.keyUsage], extKeyUsage: [...usages.extKeyUsage] }),
    );
    expect(r.status).toBe("issued");
  });
});

describe("one Vault issuer instance per resource in a process (SharedIssuers)", () => {
  const resource = (secretId = "secret") => ({
    kind: "ClusterIssuer",
    metadata: { name: "vault" },
    spec: {
      vault: {
        server: fake.url,
        path: "pki_int/sign/mesh",
        auth: {
          ...appRole,
          appRole: {
            ...appRole.appRole,
            secretRef: { name: secretId === "secret" ? "approle" : "approle2", key: "secretId" },
          },
        },
      },
    },
  });
  const readSecret = async (n: string) => (n === "approle2" ? secrets.approle : secrets[n]);

  it("gives the engine's registry and the workload issuer's one login between them, and closes it with the last user", async () => {
    const shared = new SharedIssuers();
    // Two registries, as the engine and the CreateCertificate path each build their own.
    const engine = createDefaultIssuerRegistry({ clusterResourceNamespace: "ns", shared });
    const workload = createDefaultIssuerRegistry({ clusterResourceNamespace: "ns", shared });
    const [a, b] = await Promise.all([
      engine.build(resource(), readSecret),
      workload.build(resource(), readSecret),
    ]);
    await Promise.all([
      ...Array.from({ length: 5 }, () => a.issuer.sign(request())),
      ...Array.from({ length: 5 }, () => b.issuer.sign(request())),
    ]);
    expect(fake.count("auth/approle/login")).toBe(1);
    expect(shared.size).toBe(1);
    // The engine rebuilds the same spec (a Secret it reads was touched): still the same instance.
    const again = await engine.build(resource(), readSecret);
    a.issuer.close?.();
    await b.issuer.sign(request());
    expect(fake.count("auth/approle/login")).toBe(1);
    // Another spec (here: another Secret) is another instance, with its own login.
    const other = await workload.build(resource("other"), readSecret);
    await other.issuer.sign(request());
    expect(fake.count("auth/approle/login")).toBe(2);
    expect(shared.size).toBe(2);
    again.issuer.close?.();
    b.issuer.close?.();
    other.issuer.close?.();
    expect(shared.size).toBe(0);
  });
});
