import { mkdtemp, readFile, rm, stat, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { decodeJwt, decodeProtectedHeader } from "jose";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { MintTokenRequest } from "../../src/authn/index.js";
import {
  assertDevIssuerEnabled,
  DEV_JWKS_FILE,
  DEV_TOKEN_ISSUER,
  DEV_TOKEN_KEY_FILE,
  DevTokenIssuer,
  JwksAuthenticator,
} from "../../src/authn/index.js";
import { MeshsignError } from "../../src/errors/index.js";
import { bearer, NOW_SECONDS } from "./helpers.js";
import { keyPairSync } from "../lib/key-pair.js";

let dataDir = "";
const clock = () => NOW_SECONDS * 1000;

beforeEach(async () => {
  dataDir = path.join(await mkdtemp(path.join(tmpdir(), "meshsign-dev-")), "data");
});
afterEach(async () => {
  await rm(path.dirname(dataDir), { recursive: true, force: true });
});

function open(): DevTokenIssuer {
  return DevTokenIssuer.loadOrCreate(dataDir, { enabled: true, clock });
}

function thrown(fn: () => unknown): MeshsignError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(MeshsignError);
    return err as MeshsignError;
  }
  throw new Error("expected an error");
}

describe("DevTokenIssuer on disk", () => {
  it("creates the key file with mode 0600 and a JWKS naming the key on first start", async () => {
    const issuer = open();
    const keyFile = path.join(dataDir, DEV_TOKEN_KEY_FILE);
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
    expect(await readFile(keyFile, "utf8")).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    const jwks = JSON.parse(await readFile(path.join(dataDir, DEV_JWKS_FILE), "utf8"));
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({
      kty: "EC",
      crv: "P-256",
      kid: issuer.kid,
      alg: "ES256",
      use: "sig",
    });
    expect(jwks.keys[0].d).toBeUndefined();
    expect(issuer.jwks).toEqual(jwks);
  });

  it("reuses the same key on restart (same kid, earlier tokens still verify)", async () => {
    const first = open();
    const token = await first.mintToken({ namespace: "foo", serviceAccount: "bar" });
    const keyBefore = await readFile(path.join(dataDir, DEV_TOKEN_KEY_FILE), "utf8");
    const second = open();
    expect(second.kid).toBe(first.kid);
    expect(await readFile(path.join(dataDir, DEV_TOKEN_KEY_FILE), "utf8")).toBe(keyBefore);
    const auth = await JwksAuthenticator.create({
      source: { kind: "static", jwks: second.jwks },
      issuer: second.issuer,
      trustDomain: "cluster.local",
      clock,
    });
    expect((await auth.authenticate(bearer(token))).identities).toEqual([
      "spiffe://cluster.local/ns/foo/sa/bar",
    ]);
  });

  it("writes the JWKS again when only the JWKS is missing", async () => {
    const first = open();
    await unlink(path.join(dataDir, DEV_JWKS_FILE));
    expect(open().kid).toBe(first.kid);
    expect(JSON.parse(await readFile(path.join(dataDir, DEV_JWKS_FILE), "utf8"))).toEqual(first.jwks);
  });

  const broken: [string, () => Promise<void>, string, RegExp][] = [
    [
      "a key file that is not PEM",
      () => writeFile(path.join(dataDir, DEV_TOKEN_KEY_FILE), "garbage"),
      DEV_TOKEN_KEY_FILE,
      /not a readable PEM private key/,
    ],
    [
      "a key file holding an RSA key",
      () =>
        writeFile(
          path.join(dataDir, DEV_TOKEN_KEY_FILE),
          keyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({
            type: "pkcs8",
            format: "pem",
          }),
        ),
      DEV_TOKEN_KEY_FILE,
      /not an ECDSA P-256 key/,
    ],
    [
      "a JWKS file that is not JSON",
      () => writeFile(path.join(dataDir, DEV_JWKS_FILE), "{"),
      DEV_JWKS_FILE,
      /not valid JSON/,
    ],
    [
      "a JWKS file naming another key",
      () =>
        writeFile(
          path.join(dataDir, DEV_JWKS_FILE),
          JSON.stringify({ keys: [{ kty: "EC", crv: "P-256", x: "AA", y: "AA", kid: "other" }] }),
        ),
      DEV_JWKS_FILE,
      /does not match the dev key/,
    ],
    [
      "a JWKS file whose key file is gone",
      () => unlink(path.join(dataDir, DEV_TOKEN_KEY_FILE)),
      DEV_JWKS_FILE,
      /is missing/,
    ],
  ];
  it.each(broken)(
    "refuses %s, naming the file and leaving it alone",
    async (_name, breakIt, fileName, message) => {
      open();
      await breakIt();
      const file = path.join(dataDir, fileName);
      const before = await readFile(file, "utf8");
      const err = thrown(() => open());
      expect(err.code).toBe("ERR_CONFIG_INVALID");
      expect(err.message).toContain(file);
      expect(err.message).toMatch(message);
      expect(await readFile(file, "utf8")).toBe(before);
    },
  );

  it("refuses to load or create anything when the configuration disables it", async () => {
    const err = thrown(() => DevTokenIssuer.loadOrCreate(dataDir, { enabled: false }));
    expect(err.code).toBe("ERR_DEV_ISSUER_DISABLED");
    await expect(stat(dataDir)).rejects.toThrow(/ENOENT/);
    expect(thrown(() => assertDevIssuerEnabled(false)).code).toBe("ERR_DEV_ISSUER_DISABLED");
    expect(() => assertDevIssuerEnabled(true)).not.toThrow();
  });
});

describe("DevTokenIssuer minting tokens", () => {
  it("mints a Kubernetes-shaped token with the documented defaults", async () => {
    const issuer = open();
    const token = await issuer.mintToken({ namespace: "foo", serviceAccount: "bar" });
    expect(decodeProtectedHeader(token)).toEqual({ alg: "ES256", kid: issuer.kid, typ: "JWT" });
    const claims = decodeJwt(token);
    expect(claims).toMatchObject({
      iss: DEV_TOKEN_ISSUER,
      sub: "system:serviceaccount:foo:bar",
      aud: ["istio-ca"],
      iat: NOW_SECONDS,
      nbf: NOW_SECONDS,
      exp: NOW_SECONDS + 3600,
      "kubernetes.io": { namespace: "foo", serviceaccount: { name: "bar" } },
    });
    expect(typeof claims.jti).toBe("string");
    expect((claims["kubernetes.io"] as Record<string, unknown>).pod).toBeUndefined();
  });

  it("mints a bound token with pod, audience and TTL when asked, and a JWKS authenticator accepts it", async () => {
    const issuer = open();
    const token = await issuer.mintToken({
      namespace: "prod",
      serviceAccount: "api",
      audience: "meshsign",
      ttlSeconds: 600,
      podName: "api-7f9",
      podUid: "11111111-2222-3333-4444-555555555555",
    });
    expect(decodeJwt(token)).toMatchObject({ aud: ["meshsign"], exp: NOW_SECONDS + 600 });
    const auth = await JwksAuthenticator.create({
      source: { kind: "file", path: path.join(dataDir, DEV_JWKS_FILE) },
      issuer: DEV_TOKEN_ISSUER,
      audiences: ["meshsign"],
      trustDomain: "cluster.local",
      clock,
    });
    expect(await auth.authenticate(bearer(token))).toEqual({
      identities: ["spiffe://cluster.local/ns/prod/sa/api"],
      source: "jwks",
      kubernetes: {
        namespace: "prod",
        serviceAccount: "api",
        podName: "api-7f9",
        podUid: "11111111-2222-3333-4444-555555555555",
      },
      expiresAt: NOW_SECONDS + 600,
    });
  });

  const invalid: [string, MintTokenRequest, RegExp][] = [
    ["an empty namespace", { namespace: "", serviceAccount: "bar" }, /^namespace/],
    ["a namespace with a colon", { namespace: "a:b", serviceAccount: "bar" }, /^namespace/],
    ["an upper-case service account", { namespace: "foo", serviceAccount: "Bar" }, /^serviceAccount/],
    ["a service account with a slash", { namespace: "foo", serviceAccount: "b/ar" }, /^serviceAccount/],
    ["an empty audience", { namespace: "foo", serviceAccount: "bar", audience: "" }, /^audience/],
    ["a zero TTL", { namespace: "foo", serviceAccount: "bar", ttlSeconds: 0 }, /^ttlSeconds/],
    ["a TTL beyond a day", { namespace: "foo", serviceAccount: "bar", ttlSeconds: 86_401 }, /^ttlSeconds/],
    ["a fractional TTL", { namespace: "foo", serviceAccount: "bar", ttlSeconds: 1.5 }, /^ttlSeconds/],
  ];
  it.each(invalid)("refuses to mint a token for %s", async (_name, request, message) => {
    const err = await open()
      .mintToken(request)
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(MeshsignError);
    expect((err as MeshsignError).code).toBe("ERR_CONFIG_INVALID");
    expect((err as MeshsignError).message).toMatch(message);
  });
});
