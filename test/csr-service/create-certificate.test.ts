import { createPublicKey, type KeyObject, X509Certificate } from "node:crypto";
import { existsSync } from "node:fs";
import path from "node:path";
import type { JsonValue } from "@bufbuild/protobuf";
import { status } from "@grpc/grpc-js";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEV_TOKEN_KEY_FILE } from "../../src/authn/index.js";
import { IstioCaClient } from "../../src/csr-service/client.js";
import {
  buildCsr,
  buildCsrDer,
  type CsrOptions,
  generateKeySync,
  privateKeyToPem,
} from "../../src/pki/keys.js";
import { decodePemAll, encodePem } from "../../src/pki/pem.js";
import { type InProcessServer, startInProcessServer } from "../lib/inprocess-server.js";
import { opensslVerify } from "../lib/openssl.js";
import { TempDir } from "../lib/temp-dir.js";
import { type CallOutcome, RawCaClient, type RawRequest } from "../lib/raw-client.js";
import {
  devSigningKey,
  hmacWithPublicKey,
  serviceAccountClaims,
  signEs256,
  strangerKey,
  unsignedToken,
} from "../lib/tokens.js";
import { leafFacts, subjectKeyIdOf } from "../lib/x509.js";
import { keyPairSync } from "../lib/key-pair.js";

/*
 * CreateCertificate end to end in one process: the real CSR stack (data dir,
 * CA issuer, dev-token JWKS authenticator, SVID policy) behind the real
 * grpc-js TLS frontend, driven over loopback by the grpc-js clients.
 */

const NS = "default";
const SA = "demo";
const IDENTITY = `spiffe://cluster.local/ns/${NS}/sa/${SA}`;
const HOUR = 3_600_000;
const SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
const CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";

let server: InProcessServer;
let client: IstioCaClient;
let raw: RawCaClient;
const keys = {
  rsa: undefined as unknown as KeyObject,
  p256: undefined as unknown as KeyObject,
  ed25519: undefined as unknown as KeyObject,
};

beforeAll(async () => {
  // max 48h and default 24h, so that "default" and "clamped" are told apart.
  server = await startInProcessServer({
    maxClientCertificateDuration: "48h",
    defaultClientCertificateDuration: "24h",
  });
  client = new IstioCaClient({ address: server.address, rootsPem: server.rootsPem });
  raw = new RawCaClient(server.address, server.rootsPem);
  keys.rsa = generateKeySync({ type: "rsa", bits: 2048 });
  keys.p256 = generateKeySync({ type: "ec", curve: "P-256" });
  keys.ed25519 = generateKeySync({ type: "ed25519" });
});

afterAll(async () => {
  client?.close();
  raw?.close();
  await server?.close();
});

function token(ns = NS, sa = SA): Promise<string> {
  return server.devIssuer.mintToken({ namespace: ns, serviceAccount: sa });
}

function csr(options: CsrOptions = {}, key: KeyObject = keys.p256): string {
  return buildCsr(key, { uris: [IDENTITY], ...options });
}

/** A good request must still succeed: the server keeps serving after whatever came before. */
async function expectStillServing(): Promise<void> {
  const chain = await client.createCertificate({ csr: csr(), token: await token() });
  expect(chain).toHaveLength(2);
  expect(leafFacts(chain[0] as string).uris).toEqual([IDENTITY]);
}

describe("a good request", () => {
  const cases: { name: string; key: () => KeyObject; options: CsrOptions; keyUsage: string[] }[] = [
    {
      name: 'an RSA-2048 CSR with istio-agent\'s O="" subject and a critical SAN',
      key: () => keys.rsa,
      options: {},
      keyUsage: ["digitalSignature", "keyEncipherment"],
    },
    {
      name: "an RSA-2048 CSR with a non-critical SAN",
      key: () => keys.rsa,
      options: { sanCritical: false },
      keyUsage: ["digitalSignature", "keyEncipherment"],
    },
    {
      name: "an RSA-2048 CSR signed with RSASSA-PSS",
      key: () => keys.rsa,
      options: { rsaPss: true },
      keyUsage: ["digitalSignature", "keyEncipherment"],
    },
    {
      name: 'an ECDSA P-256 CSR with istio-agent\'s O="" subject and a critical SAN',
      key: () => keys.p256,
      options: {},
      keyUsage: ["digitalSignature"],
    },
    {
      name: "an ECDSA P-256 CSR with an empty subject and a critical SAN",
      key: () => keys.p256,
      options: { subject: [] },
      keyUsage: ["digitalSignature"],
    },
    {
      name: "an ECDSA P-256 CSR that asks for the allowed key usages itself",
      key: () => keys.p256,
      options: { keyUsage: ["digitalSignature"], extKeyUsage: ["serverAuth", "clientAuth"] },
      keyUsage: ["digitalSignature"],
    },
    {
      name: "an Ed25519 CSR with an empty subject and a non-critical SAN (ztunnel's rcgen shape)",
      key: () => keys.ed25519,
      options: { subject: [], sanCritical: false },
      keyUsage: ["digitalSignature"],
    },
    {
      name: 'an Ed25519 CSR with istio-agent\'s O="" subject',
      key: () => keys.ed25519,
      options: {},
      keyUsage: ["digitalSignature"],
    },
  ];

  it.each(cases)(
    "with $name yields [leaf, root] and an X.509-SVID for the caller",
    async ({ key, options, keyUsage }) => {
      const started = Date.now();
      // 72h asked, 48h allowed: the lifetime is clamped, not refused.
      const chain = await client.createCertificate({
        csr: csr(options, key()),
        token: await token(),
        validityDurationSeconds: 72 * 3600,
      });
      const ended = Date.now();

      expect(chain).toHaveLength(2);
      const [leafPem, rootPem] = chain as [string, string];
      expect(rootPem.trim()).toBe(server.rootsPem.trim());

      const leaf = new X509Certificate(leafPem);
      const root = new X509Certificate(rootPem);
      expect(leaf.verify(root.publicKey)).toBe(true);
      expect(leaf.checkIssued(root)).toBe(true);
      expect(leaf.checkPrivateKey(key())).toBe(true);
      const verified = opensslVerify(rootPem, leafPem);
      expect(verified.output).toMatch(/: OK/);
      expect(verified.ok).toBe(true);

      const facts = leafFacts(leafPem);
      expect(facts.uris).toEqual([IDENTITY]);
      expect(facts.otherSans).toEqual([]);
      expect(facts.sanCritical).toBe(true);
      expect(facts.subject).toBe("");
      expect(facts.isCA).toBe(false);
      expect(facts.keyUsage).toEqual({ critical: true, usages: keyUsage });
      expect([...facts.extKeyUsage].sort()).toEqual([SERVER_AUTH, CLIENT_AUTH].sort());
      expect(facts.subjectKeyId).toMatch(/^[0-9a-f]{8,}$/);
      expect(facts.authorityKeyId).toBe(subjectKeyIdOf(rootPem));
      expect(facts.notBefore).toBeLessThan(started);
      expect(facts.notAfter).toBeGreaterThanOrEqual(started + 48 * HOUR - 1000);
      expect(facts.notAfter).toBeLessThanOrEqual(ended + 48 * HOUR);
    },
  );

  it("gets a different random serial each time", async () => {
    const serials = new Set<string>();
    for (let i = 0; i < 5; i++) {
      const [leaf] = await client.createCertificate({ csr: csr(), token: await token() });
      serials.add(leafFacts(leaf as string).serialNumber);
    }
    expect(serials.size).toBe(5);
  });

  it("is recorded in the issuance log with identity, serial and key algorithm, never the CSR", async () => {
    const [leaf] = await client.createCertificate({ csr: csr(), token: await token() });
    const serial = leafFacts(leaf as string).serialNumber.toLowerCase();
    const event = server.issued.find((e) => e.serial.toLowerCase() === serial);
    expect(event).toMatchObject({ identity: IDENTITY, keyAlgorithm: "ecdsa-p256" });
    expect(JSON.stringify(event)).not.toContain("CERTIFICATE REQUEST");
  });
});

/** A bad request: what to send, the gRPC code and the rule the message must name. */
interface BadCase {
  readonly name: string;
  readonly request: () => Promise<RawRequest>;
  readonly code: status;
  readonly message: RegExp;
}

const bearer = (t: string) => [["authorization", `Bearer ${t}`]] as const;
const withToken = async (csrPem: string, extra: Partial<RawRequest> = {}): Promise<RawRequest> => ({
  csr: csrPem,
  headers: bearer(await token()),
  ...extra,
});
const nowSeconds = () => Math.floor(Date.now() / 1000);
const devKey = () => devSigningKey(server.dataDir);
const kid = () => server.devIssuer.kid;

/** Flips one bit in the last byte of the DER, inside the signature: the CSR still parses, the proof of possession fails. */
function badSignatureCsr(): string {
  const der = buildCsrDer(keys.p256, { uris: [IDENTITY] });
  der[der.length - 1] = (der[der.length - 1] as number) ^ 0x01;
  return encodePem("CERTIFICATE REQUEST", der);
}

const UNAUTHENTICATED_TOKENS: BadCase[] = [
  {
    name: "a token signed by another key under the trusted kid (forged)",
    request: async () => ({
      csr: csr(),
      headers: bearer(await signEs256(strangerKey(), serviceAccountClaims(NS, SA), { kid: kid() })),
    }),
    code: status.UNAUTHENTICATED,
    message: /token signature invalid/,
  },
  {
    name: "an expired token",
    request: async () => ({
      csr: csr(),
      headers: bearer(
        await signEs256(devKey(), serviceAccountClaims(NS, SA, nowSeconds() - 7200), { kid: kid() }),
      ),
    }),
    code: status.UNAUTHENTICATED,
    message: /token expired/,
  },
  {
    name: "a token that is not valid yet",
    request: async () => ({
      csr: csr(),
      headers: bearer(
        await signEs256(devKey(), serviceAccountClaims(NS, SA, nowSeconds() + 600), { kid: kid() }),
      ),
    }),
    code: status.UNAUTHENTICATED,
    message: /token not yet valid/,
  },
  {
    name: "a token for another audience",
    request: async () => ({
      csr: csr(),
      headers: bearer(
        await server.devIssuer.mintToken({ namespace: NS, serviceAccount: SA, audience: "kubernetes" }),
      ),
    }),
    code: status.UNAUTHENTICATED,
    message: /audience mismatch/,
  },
  {
    name: "a token from another issuer",
    request: async () => ({
      csr: csr(),
      headers: bearer(
        await signEs256(
          devKey(),
          { ...serviceAccountClaims(NS, SA), iss: "https://evil.example" },
          { kid: kid() },
        ),
      ),
    }),
    code: status.UNAUTHENTICATED,
    message: /issuer mismatch/,
  },
  {
    name: "an unsigned token (alg: none)",
    request: async () => ({
      csr: csr(),
      headers: bearer(unsignedToken(serviceAccountClaims(NS, SA), kid())),
    }),
    code: status.UNAUTHENTICATED,
    message: /token algorithm not allowed/,
  },
  {
    name: "an HS256 token keyed with the public key (HMAC confusion)",
    request: async () => ({
      csr: csr(),
      headers: bearer(await hmacWithPublicKey(devKey(), serviceAccountClaims(NS, SA), kid())),
    }),
    code: status.UNAUTHENTICATED,
    message: /token algorithm not allowed/,
  },
  {
    name: "a token signed under an unknown kid",
    request: async () => ({
      csr: csr(),
      headers: bearer(await signEs256(devKey(), serviceAccountClaims(NS, SA), { kid: "no-such-key" })),
    }),
    code: status.UNAUTHENTICATED,
    message: /signing key \(kid\) unknown/,
  },
  {
    name: "no authorization header",
    request: async () => ({ csr: csr() }),
    code: status.UNAUTHENTICATED,
    message: /no bearer token/,
  },
  {
    name: "a lowercase `bearer` scheme (Istio's prefix is case-sensitive)",
    request: async () => ({ csr: csr(), headers: [["authorization", `bearer ${await token()}`]] }),
    code: status.UNAUTHENTICATED,
    message: /no bearer token/,
  },
  {
    name: "another authorization scheme (Basic)",
    request: async () => ({
      csr: csr(),
      headers: [["authorization", `Basic ${Buffer.from("demo:secret").toString("base64")}`]],
    }),
    code: status.UNAUTHENTICATED,
    message: /no bearer token/,
  },
  {
    name: "a malformed JWT (not three base64url segments)",
    request: async () => ({ csr: csr(), headers: bearer("this-is-not.a-jwt") }),
    code: status.UNAUTHENTICATED,
    message: /token malformed/,
  },
  {
    name: "a token for another service account than the CSR's URI",
    request: async () => ({ csr: csr(), headers: bearer(await token(NS, "intruder")) }),
    code: status.UNAUTHENTICATED,
    message: /uri-matches-identity: the URI SAN does not match the caller's identity/,
  },
  {
    name: "a clusterid header naming another cluster",
    request: async () => ({
      csr: csr(),
      headers: [...bearer(await token()), ["clusterid", "other-cluster"]],
    }),
    code: status.UNAUTHENTICATED,
    message: /claims to be in cluster "other-cluster"/,
  },
  {
    name: "ImpersonatedIdentity metadata in standalone mode",
    request: () =>
      withToken(csr(), { metadata: { ImpersonatedIdentity: `spiffe://cluster.local/ns/${NS}/sa/other` } }),
    code: status.UNAUTHENTICATED,
    message: /impersonation needs Kubernetes mode/,
  },
];

const UNAUTHORIZED_CSRS: BadCase[] = [
  {
    name: "a CSR for a different URI",
    request: () => withToken(buildCsr(keys.p256, { uris: [`spiffe://cluster.local/ns/${NS}/sa/other`] })),
    code: status.UNAUTHENTICATED,
    message: /uri-matches-identity: the URI SAN does not match the caller's identity/,
  },
  {
    name: "a CSR for the identity in another trust domain",
    request: () => withToken(buildCsr(keys.p256, { uris: [`spiffe://evil.local/ns/${NS}/sa/${SA}`] })),
    code: status.UNAUTHENTICATED,
    message: /uri-matches-identity: /,
  },
  {
    name: "a CSR with two URIs",
    request: () =>
      withToken(buildCsr(keys.p256, { uris: [IDENTITY, `spiffe://cluster.local/ns/${NS}/sa/other`] })),
    code: status.UNAUTHENTICATED,
    message: /one-uri-san: .*exactly one URI SAN \(found 2\)/,
  },
  {
    name: "a CSR with no URI",
    request: () => withToken(buildCsr(keys.p256, {})),
    code: status.UNAUTHENTICATED,
    message: /one-uri-san: .*exactly one URI SAN \(found 0\)/,
  },
  {
    name: "a CSR with a non-SPIFFE URI",
    request: () => withToken(buildCsr(keys.p256, { uris: ["https://demo.default.svc/"] })),
    code: status.UNAUTHENTICATED,
    message: /uri-is-spiffe-id: the URI SAN is not a valid SPIFFE ID/,
  },
  {
    name: "a CSR with a DNS SAN",
    request: () => withToken(csr({ dnsNames: ["demo.default.svc"] })),
    code: status.UNAUTHENTICATED,
    message: /only-uri-sans: DNS subject alternative names are not allowed/,
  },
  {
    name: "a CSR with an IP SAN",
    request: () => withToken(csr({ ipAddresses: ["10.0.0.1"] })),
    code: status.UNAUTHENTICATED,
    message: /only-uri-sans: IP subject alternative names are not allowed/,
  },
  {
    name: "a CSR with an email SAN",
    request: () => withToken(csr({ emailAddresses: ["demo@example.com"] })),
    code: status.UNAUTHENTICATED,
    message: /only-uri-sans: email subject alternative names are not allowed/,
  },
  {
    name: "a CSR with a common name",
    request: () => withToken(csr({ subject: [[{ type: "2.5.4.3", value: "demo" }]] })),
    code: status.UNAUTHENTICATED,
    message: /no-common-name: /,
  },
  {
    name: "a CSR asking for basicConstraints CA:true",
    request: () => withToken(csr({ basicConstraints: { isCA: true } })),
    code: status.UNAUTHENTICATED,
    message: /no-basic-constraints: /,
  },
  {
    name: "a CSR asking for keyCertSign",
    request: () => withToken(csr({ keyUsage: ["digitalSignature", "keyCertSign"] })),
    code: status.UNAUTHENTICATED,
    message: /key-usage-allowed: key usages keyCertSign are not allowed/,
  },
  {
    name: "a CSR asking for the codeSigning EKU",
    request: () => withToken(csr({ extKeyUsage: ["serverAuth", "codeSigning"] })),
    code: status.UNAUTHENTICATED,
    message: /ext-key-usage-allowed: extended key usages 1\.3\.6\.1\.5\.5\.7\.3\.3 are not allowed/,
  },
  {
    name: "a CSR with an unknown extension",
    request: () =>
      withToken(
        csr({
          extraExtensions: [
            { oid: "1.3.6.1.4.1.55555.1", critical: false, value: new Uint8Array([0x05, 0x00]) },
          ],
        }),
      ),
    code: status.UNAUTHENTICATED,
    message: /allowed-extensions: extension 1\.3\.6\.1\.4\.1\.55555\.1 is not allowed/,
  },
];

const MALFORMED: BadCase[] = [
  {
    name: "a CSR whose signature does not verify",
    request: () => withToken(badSignatureCsr()),
    code: status.INVALID_ARGUMENT,
    message: /signature-valid: the CSR signature does not verify/,
  },
  {
    name: "an RSA-1024 CSR",
    request: () => withToken(csr({}, keyPairSync("rsa", { modulusLength: 1024 }).privateKey)),
    code: status.INVALID_ARGUMENT,
    message: /key-allowed: RSA keys must have at least 2048 bits/,
  },
  {
    name: "an ECDSA P-521 CSR (not in the key allow-list)",
    request: () => withToken(csr({}, generateKeySync({ type: "ec", curve: "P-521" }))),
    code: status.INVALID_ARGUMENT,
    message: /key-allowed: ECDSA curve P-521 is not allowed/,
  },
  {
    name: "garbage text",
    request: () => withToken("hello, I am not a certificate request"),
    code: status.INVALID_ARGUMENT,
    message: /no PEM CERTIFICATE REQUEST block/,
  },
  {
    name: "base64 garbage in a PEM block",
    request: () =>
      withToken("-----BEGIN CERTIFICATE REQUEST-----\n!!not*base64$$\n-----END CERTIFICATE REQUEST-----\n"),
    code: status.INVALID_ARGUMENT,
    message: /not valid base64/,
  },
  {
    name: "valid base64 of bytes that are not DER",
    request: () =>
      withToken(
        encodePem("CERTIFICATE REQUEST", new TextEncoder().encode("this is not DER at all, just words")),
      ),
    code: status.INVALID_ARGUMENT,
    message: /malformed DER/,
  },
  {
    name: "an oversized CSR (over 16 KiB)",
    request: () =>
      withToken(
        csr({
          extraExtensions: [
            { oid: "1.3.6.1.4.1.55555.2", critical: false, value: new Uint8Array(17_000).fill(0x41) },
          ],
        }),
      ),
    code: status.INVALID_ARGUMENT,
    message: /CSR exceeds 16384 bytes/,
  },
  {
    name: "two PEM blocks",
    request: () => withToken(csr() + csr()),
    code: status.INVALID_ARGUMENT,
    message: /more than one PEM block/,
  },
  {
    name: "a certificate PEM instead of a CSR",
    request: () => withToken(server.rootsPem),
    code: status.INVALID_ARGUMENT,
    message: /not a CERTIFICATE REQUEST/,
  },
  {
    name: "an empty CSR",
    request: () => withToken(""),
    code: status.INVALID_ARGUMENT,
    message: /request has no CSR/,
  },
  {
    name: "ImpersonatedIdentity metadata that is a number",
    request: () => withToken(csr(), { metadata: { ImpersonatedIdentity: 42 } }),
    code: status.INVALID_ARGUMENT,
    message: /ImpersonatedIdentity must be a string/,
  },
];

describe("a bad request", () => {
  const all = [...UNAUTHENTICATED_TOKENS, ...UNAUTHORIZED_CSRS, ...MALFORMED];

  it("is tested at least 30 ways", () => {
    expect(all.length).toBeGreaterThanOrEqual(30);
  });

  it.each(all)(
    "with $name is refused with the right code, names the rule, and the server keeps serving",
    async ({ request, code, message }) => {
      const req = await request();
      const outcome: CallOutcome = await raw.call(req);
      expect(outcome.ok).toBe(false);
      if (outcome.ok) return;
      expect(status[outcome.code]).toBe(status[code]);
      expect(outcome.details).toMatch(message);
      // Never echo the credential (or any sizeable piece of it) back to the caller or into the log.
      const credential = req.headers?.find(([k]) => k === "authorization")?.[1].replace(/^\S+ /, "");
      for (const piece of credential?.split(".").filter((p) => p.length >= 16) ?? []) {
        expect(outcome.details).not.toContain(piece);
        expect(server.logLines.join("\n")).not.toContain(piece);
      }
      await expectStillServing();
    },
  );
});

describe("a request in a shape Istio's agents may send", () => {
  const cases: { name: string; request: () => Promise<RawRequest> }[] = [
    {
      name: "clusterid equal to the configured cluster",
      request: () => withToken(csr()).then(addHeaders([["clusterid", "Kubernetes"]])),
    },
    {
      name: "an empty clusterid (no claim)",
      request: () => withToken(csr()).then(addHeaders([["clusterid", ""]])),
    },
    {
      name: "a CSR labelled NEW CERTIFICATE REQUEST (older tools)",
      request: () => withToken(csr().replaceAll("CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST")),
    },
    { name: "CRLF line endings in the PEM", request: () => withToken(csr().replaceAll("\n", "\r\n")) },
  ];

  it.each(cases)("is accepted: $name", async ({ request }) => {
    const outcome = await raw.call(await request());
    expect(outcome).toMatchObject({ ok: true });
    if (outcome.ok) expect(leafFacts(outcome.chain[0] as string).uris).toEqual([IDENTITY]);
  });

  it("with a bearer token over 16 KiB is refused without reaching the JWT parser", async () => {
    const outcome = await raw.call({
      csr: csr(),
      headers: bearer(`${"a".repeat(10)}.${"b".repeat(17_000)}.c`),
    });
    expect(outcome.ok).toBe(false);
    expect(outcome).toMatchObject({ ok: false, code: status.UNAUTHENTICATED });
    if (!outcome.ok) expect(outcome.details).toMatch(/bearer token too large/);
    await expectStillServing();
  });
});

function addHeaders(extra: readonly (readonly [string, string])[]): (r: RawRequest) => RawRequest {
  return (r) => ({ ...r, headers: [...(r.headers ?? []), ...extra] });
}

describe("an absurd validity duration", () => {
  const cases: { name: string; seconds: bigint; lifetimeMs: number }[] = [
    { name: "negative gets the default 24h", seconds: -3600n, lifetimeMs: 24 * HOUR },
    { name: "zero gets the default 24h", seconds: 0n, lifetimeMs: 24 * HOUR },
    { name: "int64 min gets the default 24h", seconds: -(2n ** 63n), lifetimeMs: 24 * HOUR },
    { name: "one minute gets one minute", seconds: 60n, lifetimeMs: 60_000 },
    { name: "10 years is clamped to the 48h maximum", seconds: 10n * 365n * 86_400n, lifetimeMs: 48 * HOUR },
    { name: "int64 max is clamped to the 48h maximum", seconds: 2n ** 63n - 1n, lifetimeMs: 48 * HOUR },
  ];

  it.each(cases)("$name", async ({ seconds, lifetimeMs }) => {
    const started = Date.now();
    const outcome = await raw.call(await withToken(csr(), { validityDuration: seconds }));
    const ended = Date.now();
    expect(outcome).toMatchObject({ ok: true });
    if (!outcome.ok) return;
    const { notAfter } = leafFacts(outcome.chain[0] as string);
    expect(notAfter).toBeGreaterThanOrEqual(started + lifetimeMs - 1000);
    expect(notAfter).toBeLessThanOrEqual(ended + lifetimeMs);
  });

  it("an empty ImpersonatedIdentity counts as none and is issued for the caller", async () => {
    const outcome = await raw.call(
      await withToken(csr(), { metadata: { ImpersonatedIdentity: "", CertSigner: "" } }),
    );
    expect(outcome).toMatchObject({ ok: true });
    if (outcome.ok) expect(leafFacts(outcome.chain[0] as string).uris).toEqual([IDENTITY]);
  });
});

describe("client-certificate authentication", () => {
  it("is off by default: a mesh client certificate without a token is refused", async () => {
    const key = generateKeySync({ type: "ec", curve: "P-256" });
    const [leaf, root] = (await client.createCertificate({
      csr: buildCsr(key, { uris: [IDENTITY] }),
      token: await token(),
    })) as [string, string];
    const mtls = new RawCaClient(server.address, server.rootsPem, {
      clientCertificate: { chainPem: leaf + root, keyPem: privateKeyToPem(key) },
    });
    try {
      const outcome = await mtls.call({ csr: csr() });
      expect(outcome).toMatchObject({ ok: false, code: status.UNAUTHENTICATED });
      if (!outcome.ok) expect(outcome.details).toMatch(/no bearer token/);
    } finally {
      mtls.close();
    }
    await expectStillServing();
  });
});

describe("metrics", () => {
  async function counter(name: string): Promise<Map<string, number>> {
    const metric = await server.registry.getSingleMetric(name)?.get();
    return new Map((metric?.values ?? []).map((v) => [JSON.stringify(v.labels), v.value]));
  }

  it("count requests by outcome and gRPC code, and issued certificates by key algorithm", async () => {
    const before = await counter("meshsign_csr_requests_total");
    const issuedBefore = await counter("meshsign_certificates_issued_total");
    await client.createCertificate({ csr: csr({}, keys.ed25519), token: await token() });
    await raw.call({ csr: csr() });
    await raw.call(await withToken("garbage"));
    const after = await counter("meshsign_csr_requests_total");
    const issuedAfter = await counter("meshsign_certificates_issued_total");
    const delta = (m: Map<string, number>, b: Map<string, number>, labels: object) =>
      (m.get(JSON.stringify(labels)) ?? 0) - (b.get(JSON.stringify(labels)) ?? 0);
    expect(delta(after, before, { outcome: "issued", grpc_code: "OK" })).toBe(1);
    expect(
      delta(after, before, { outcome: "unauthenticated", grpc_code: String(status.UNAUTHENTICATED) }),
    ).toBe(1);
    expect(delta(after, before, { outcome: "invalid", grpc_code: String(status.INVALID_ARGUMENT) })).toBe(1);
    expect(delta(issuedAfter, issuedBefore, { key_algorithm: "ed25519" })).toBe(1);
  });
});

describe("a CA that expires before the requested lifetime", () => {
  let shortCa: InProcessServer;
  beforeAll(async () => {
    shortCa = await startInProcessServer({ caDuration: "3h", servingCertificateDuration: "1h" });
  });
  afterAll(async () => {
    await shortCa?.close();
  });

  it("never issues a leaf that outlives the CA", async () => {
    const c = new IstioCaClient({ address: shortCa.address, rootsPem: shortCa.rootsPem });
    try {
      const chain = await c.createCertificate({
        csr: csr(),
        token: await shortCa.devIssuer.mintToken({ namespace: NS, serviceAccount: SA }),
        validityDurationSeconds: 24 * 3600,
      });
      const caNotAfter = Date.parse(new X509Certificate(shortCa.rootsPem).validTo);
      expect(leafFacts(chain[0] as string).notAfter).toBeLessThanOrEqual(caNotAfter);
      expect(leafFacts(chain[0] as string).notAfter).toBeGreaterThan(Date.now() + 2 * HOUR);
    } finally {
      c.close();
    }
  });
});

describe("client-certificate authentication when enabled", () => {
  let mtlsServer: InProcessServer;
  beforeAll(async () => {
    mtlsServer = await startInProcessServer({ enableClientCertAuthenticator: true });
  });
  afterAll(async () => {
    await mtlsServer?.close();
  });

  /** A key and the [leaf, root] chain `issuing` gives it for IDENTITY. */
  async function meshCertificate(issuing: InProcessServer): Promise<{ chainPem: string; keyPem: string }> {
    const key = generateKeySync({ type: "ec", curve: "P-256" });
    const c = new IstioCaClient({ address: issuing.address, rootsPem: issuing.rootsPem });
    try {
      const chain = await c.createCertificate({
        csr: buildCsr(key, { uris: [IDENTITY] }),
        token: await issuing.devIssuer.mintToken({ namespace: NS, serviceAccount: SA }),
      });
      return { chainPem: chain.join(""), keyPem: privateKeyToPem(key) };
    } finally {
      c.close();
    }
  }

  /** Asks `to` for a certificate over mTLS with `cert` alone (no token); expects IDENTITY's. */
  async function renewsWith(to: InProcessServer, cert: { chainPem: string; keyPem: string }): Promise<void> {
    const mtls = new RawCaClient(to.address, to.rootsPem, { clientCertificate: cert });
    try {
      const outcome = await mtls.call({ csr: csr() });
      expect(outcome).toMatchObject({ ok: true });
      if (outcome.ok) expect(leafFacts(outcome.chain[0] as string).uris).toEqual([IDENTITY]);
    } finally {
      mtls.close();
    }
  }

  it("renews with the mesh certificate alone, no token, for the same identity", async () => {
    await renewsWith(mtlsServer, await meshCertificate(mtlsServer));
  });

  it("refuses a certificate from another CA", async () => {
    const mtls = new RawCaClient(mtlsServer.address, mtlsServer.rootsPem, {
      clientCertificate: await meshCertificate(server),
    });
    try {
      expect(await mtls.call({ csr: csr() })).toMatchObject({ ok: false, code: status.UNAUTHENTICATED });
    } finally {
      mtls.close();
    }
  });

  it("renews with a mesh certificate issued by an intermediate CA, the intermediate sent in the handshake", async () => {
    const viaIntermediate = await startInProcessServer(
      { enableClientCertAuthenticator: true },
      { intermediateCa: true },
    );
    try {
      const cert = await meshCertificate(viaIntermediate);
      // [leaf, intermediate, root]: the leaf is not signed by the root itself.
      expect(decodePemAll(cert.chainPem, "CERTIFICATE")).toHaveLength(3);
      await renewsWith(viaIntermediate, cert);
      // The same leaf without its intermediate does not chain to the root: refused.
      const [leafDer] = decodePemAll(cert.chainPem, "CERTIFICATE");
      const alone = new RawCaClient(viaIntermediate.address, viaIntermediate.rootsPem, {
        clientCertificate: { chainPem: encodePem("CERTIFICATE", leafDer as Uint8Array), keyPem: cert.keyPem },
      });
      try {
        expect(await alone.call({ csr: csr() })).toMatchObject({ ok: false, code: status.UNAUTHENTICATED });
      } finally {
        alone.close();
      }
    } finally {
      await viaIntermediate.close();
    }
  });

  it("does not let the certificate's identity ask for another one", async () => {
    const mtls = new RawCaClient(mtlsServer.address, mtlsServer.rootsPem, {
      clientCertificate: await meshCertificate(mtlsServer),
    });
    try {
      const other = buildCsr(keys.p256, { uris: [`spiffe://cluster.local/ns/${NS}/sa/other`] });
      expect(await mtls.call({ csr: other })).toMatchObject({ ok: false, code: status.UNAUTHENTICATED });
    } finally {
      mtls.close();
    }
  });
});

describe("hostile input (property tests over the wire)", () => {
  const refusedCodes = [status.INVALID_ARGUMENT, status.UNAUTHENTICATED];

  it("any text, random PEM or one-byte corruption of a good CSR is refused as malformed or unauthorized, never an internal error", async () => {
    const t = await token();
    const pemOf = (bytes: Uint8Array) => encodePem("CERTIFICATE REQUEST", bytes);
    const good = buildCsrDer(keys.p256, { uris: [IDENTITY] });
    const mutated = fc
      .tuple(fc.nat({ max: good.length - 1 }), fc.integer({ min: 1, max: 255 }))
      .map(([i, x]) => {
        const b = Uint8Array.from(good);
        b[i] = (b[i] as number) ^ x;
        return pemOf(b);
      });
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.string({ maxLength: 300 }), fc.uint8Array({ maxLength: 600 }).map(pemOf), mutated),
        async (text) => {
          const outcome = await raw.call({ csr: text, headers: bearer(t) });
          // Every byte of a CSR is either structure or signed (or the signature): no flip may pass.
          expect(outcome.ok).toBe(false);
          if (!outcome.ok) expect(refusedCodes).toContain(outcome.code);
        },
      ),
      { numRuns: 150 },
    );
    await expectStillServing();
  });

  it("any JSON value as metadata.ImpersonatedIdentity is refused cleanly or ignored when empty", async () => {
    const t = await token();
    const good = csr();
    await fc.assert(
      fc.asyncProperty(fc.jsonValue({ maxDepth: 2 }), async (value) => {
        const outcome = await raw.call({
          csr: good,
          headers: bearer(t),
          // fast-check's JSON values are plain JSON, which is what a Struct field holds.
          metadata: { ImpersonatedIdentity: value as JsonValue },
        });
        if (value === "" || value === null) expect(outcome.ok).toBe(true);
        else if (!outcome.ok) expect(refusedCodes).toContain(outcome.code);
        else expect.fail(`ImpersonatedIdentity ${JSON.stringify(value)} was accepted`);
      }),
      { numRuns: 60 },
    );
  });

  it("any int64 validity gives a certificate no longer than the maximum", async () => {
    const t = await token();
    const good = csr();
    await fc.assert(
      fc.asyncProperty(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), async (seconds) => {
        const started = Date.now();
        const outcome = await raw.call({ csr: good, headers: bearer(t), validityDuration: seconds });
        expect(outcome.ok).toBe(true);
        if (!outcome.ok) return;
        const { notAfter } = leafFacts(outcome.chain[0] as string);
        expect(notAfter).toBeLessThanOrEqual(Date.now() + 48 * HOUR);
        expect(notAfter).toBeGreaterThan(started);
      }),
      { numRuns: 40 },
    );
  });
});

describe("standalone in earnest: dev issuer off, tokens verified against a JWKS file", () => {
  const ISSUER = "https://issuer.example.test";
  const signingKey = keyPairSync("ec", { namedCurve: "P-256" }).privateKey;
  let earnest: InProcessServer;
  let jwksDir: TempDir;
  beforeAll(async () => {
    jwksDir = new TempDir("meshsign-jwks-");
    const jwk = {
      ...createPublicKey(signingKey).export({ format: "jwk" }),
      kid: "k1",
      alg: "ES256",
      use: "sig",
    };
    const jwksFile = jwksDir.write("jwks.json", JSON.stringify({ keys: [jwk] }));
    earnest = await startInProcessServer({ devTokenIssuer: false, jwksFile, tokenIssuer: ISSUER });
  });
  afterAll(async () => {
    await earnest?.close();
    jwksDir?.remove();
  });

  async function call(t: string): Promise<CallOutcome> {
    const c = new RawCaClient(earnest.address, earnest.rootsPem);
    try {
      return await c.call({ csr: csr(), headers: bearer(t) });
    } finally {
      c.close();
    }
  }

  it("issues for a token of the configured issuer signed by a key of the JWKS", async () => {
    const t = await signEs256(signingKey, { ...serviceAccountClaims(NS, SA), iss: ISSUER }, { kid: "k1" });
    const outcome = await call(t);
    expect(outcome).toMatchObject({ ok: true });
    if (outcome.ok) expect(leafFacts(outcome.chain[0] as string).uris).toEqual([IDENTITY]);
  });

  it("refuses a development token, and has no dev key in its data dir", async () => {
    const outcome = await call(await token());
    expect(outcome).toMatchObject({ ok: false, code: status.UNAUTHENTICATED });
    expect(existsSync(path.join(earnest.dataDir, DEV_TOKEN_KEY_FILE))).toBe(false);
    expect(() => earnest.devIssuer).toThrow(/development token issuer is disabled/);
  });
});
