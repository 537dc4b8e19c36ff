import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import fc from "fast-check";
import type { JWTPayload } from "jose";
import { SignJWT } from "jose";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import type { AuthnInput, JwksAuthenticatorOptions } from "../../src/authn/index.js";
import { JwksAuthenticator } from "../../src/authn/index.js";
import { isMeshsignError, MeshsignError } from "../../src/errors/index.js";
import type { TestKey } from "./helpers.js";
import {
  base64url,
  bearer,
  ISSUER,
  jwksOf,
  kubeClaims,
  makeKey,
  NOW_SECONDS,
  sign,
  TestServer,
} from "./helpers.js";

let now = NOW_SECONDS * 1000;
const clock = () => now;

let es: TestKey;
let rsa: TestKey;
let impostor: TestKey; // another key pair that claims es's kid

beforeAll(async () => {
  es = await makeKey("ES256", "key-es");
  rsa = await makeKey("RS256", "key-rsa");
  impostor = await makeKey("ES256", "key-es");
});

beforeEach(() => {
  now = NOW_SECONDS * 1000;
});

function staticAuthenticator(overrides: Partial<JwksAuthenticatorOptions> = {}): Promise<JwksAuthenticator> {
  return JwksAuthenticator.create({
    source: { kind: "static", jwks: jwksOf(es, rsa) },
    issuer: ISSUER,
    trustDomain: "cluster.local",
    clock,
    ...overrides,
  });
}

async function rejection(promise: Promise<unknown>): Promise<MeshsignError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, "expected a rejection").toBeInstanceOf(MeshsignError);
  return err as MeshsignError;
}

function without(claims: JWTPayload, ...names: string[]): JWTPayload {
  const copy = { ...claims };
  for (const n of names) delete copy[n];
  return copy;
}

describe("JwksAuthenticator verifying tokens", () => {
  it("accepts a good ES256 token and names the workload's SPIFFE ID, pod and expiry", async () => {
    const auth = await staticAuthenticator();
    const caller = await auth.authenticate(bearer(await sign(es, kubeClaims("foo", "bar"))));
    expect(caller).toEqual({
      identities: ["spiffe://cluster.local/ns/foo/sa/bar"],
      source: "jwks",
      kubernetes: {
        namespace: "foo",
        serviceAccount: "bar",
        podName: "bar-5d9c7",
        podUid: "0f7e4a1c-1111-4c2b-8a77-123456789abc",
      },
      expiresAt: NOW_SECONDS + 3600,
    });
  });

  it("accepts a good RS256 token from the same key set", async () => {
    const auth = await staticAuthenticator();
    const caller = await auth.authenticate(bearer(await sign(rsa, kubeClaims("ns-1", "sa.one"))));
    expect(caller.identities).toEqual(["spiffe://cluster.local/ns/ns-1/sa/sa.one"]);
  });

  it("decides the same with the signature on libuv's thread pool as on the calling thread", async () => {
    const onPool = await staticAuthenticator({ verifyOnThreadPool: true });
    const inline = await staticAuthenticator();
    const tokens = [
      await sign(rsa, kubeClaims("ns-1", "sa.one")),
      await sign(es, kubeClaims()),
      await sign(impostor, kubeClaims()),
      await sign(es, { ...kubeClaims(), exp: NOW_SECONDS - 3600 }),
    ];
    const outcome = (a: JwksAuthenticator, token: string) =>
      a.authenticate(bearer(token)).then(
        (c) => c.identities.join(","),
        (e: unknown) => (e as MeshsignError).code,
      );
    const decided: string[] = [];
    for (const t of tokens) {
      const expected = await outcome(inline, t);
      expect(await outcome(onPool, t)).toBe(expected);
      decided.push(expected);
    }
    // Two accepted, two refused: the comparison covers both kinds of answer.
    expect(decided.filter((d) => d.startsWith("spiffe://"))).toHaveLength(2);
    expect(decided.filter((d) => d.startsWith("ERR_TOKEN_"))).toHaveLength(2);
  });

  const accepted: [string, () => Promise<string>][] = [
    [
      "a token that expired less than the clock skew ago",
      () => sign(es, { ...kubeClaims(), exp: NOW_SECONDS - 10 }),
    ],
    [
      "a token whose nbf is less than the clock skew ahead",
      () => sign(es, { ...kubeClaims(), nbf: NOW_SECONDS + 10 }),
    ],
    ["a token with only the sub claim", () => sign(es, without(kubeClaims(), "kubernetes.io"))],
    ["a token with only the kubernetes.io claim", () => sign(es, without(kubeClaims(), "sub"))],
    [
      "a legacy-shaped token without pod information",
      () =>
        sign(es, { ...kubeClaims(), "kubernetes.io": { namespace: "foo", serviceaccount: { name: "bar" } } }),
    ],
    ["a token whose aud is a plain string", () => sign(es, { ...kubeClaims(), aud: "istio-ca" })],
    [
      "a token with several audiences, one of them istio-ca",
      () => sign(es, { ...kubeClaims(), aud: ["other", "istio-ca"] }),
    ],
  ];
  it.each(accepted)("accepts %s", async (_name, makeToken) => {
    const auth = await staticAuthenticator();
    const caller = await auth.authenticate(bearer(await makeToken()));
    expect(caller.identities).toEqual(["spiffe://cluster.local/ns/foo/sa/bar"]);
  });

  const refused: [string, () => Promise<string>, string, RegExp][] = [
    [
      "a forged signature (another key claiming the same kid)",
      () => sign(impostor, kubeClaims()),
      "ERR_TOKEN_SIGNATURE",
      /signature invalid/,
    ],
    [
      "an expired token",
      () =>
        sign(es, {
          ...kubeClaims(),
          iat: NOW_SECONDS - 7200,
          nbf: NOW_SECONDS - 7200,
          exp: NOW_SECONDS - 3600,
        }),
      "ERR_TOKEN_EXPIRED",
      /token expired/,
    ],
    [
      "a token expired just beyond the clock skew",
      () => sign(es, { ...kubeClaims(), exp: NOW_SECONDS - 31 }),
      "ERR_TOKEN_EXPIRED",
      /token expired/,
    ],
    [
      "a token that is not yet valid",
      () => sign(es, { ...kubeClaims(), nbf: NOW_SECONDS + 600 }),
      "ERR_TOKEN_NOT_YET_VALID",
      /not yet valid/,
    ],
    [
      "a token valid just beyond the clock skew",
      () => sign(es, { ...kubeClaims(), nbf: NOW_SECONDS + 31 }),
      "ERR_TOKEN_NOT_YET_VALID",
      /not yet valid/,
    ],
    [
      "a token from another issuer",
      () => sign(es, { ...kubeClaims(), iss: "https://evil.example" }),
      "ERR_TOKEN_ISSUER",
      /issuer mismatch/,
    ],
    [
      "a token without an issuer",
      () => sign(es, without(kubeClaims(), "iss")),
      "ERR_TOKEN_ISSUER",
      /no issuer/,
    ],
    [
      "a token for another audience",
      () => sign(es, { ...kubeClaims(), aud: ["https://kubernetes.default.svc"] }),
      "ERR_TOKEN_AUDIENCE",
      /audience mismatch/,
    ],
    [
      "a token without an audience",
      () => sign(es, without(kubeClaims(), "aud")),
      "ERR_TOKEN_AUDIENCE",
      /no audience/,
    ],
    [
      "a token without an expiry",
      () => sign(es, without(kubeClaims(), "exp")),
      "ERR_TOKEN_CLAIMS",
      /no expiry/,
    ],
    [
      "a token with a non-numeric expiry",
      () => sign(es, { ...kubeClaims(), exp: "tomorrow" as unknown as number }),
      "ERR_TOKEN_CLAIMS",
      /exp/,
    ],
    [
      "a sub with three parts",
      () => sign(es, { ...without(kubeClaims(), "kubernetes.io"), sub: "system:serviceaccount:foo" }),
      "ERR_TOKEN_CLAIMS",
      /subject/,
    ],
    [
      "a sub with five parts",
      () => sign(es, { ...without(kubeClaims(), "kubernetes.io"), sub: "system:serviceaccount:foo:bar:baz" }),
      "ERR_TOKEN_CLAIMS",
      /subject/,
    ],
    [
      "a sub with an empty namespace",
      () => sign(es, { ...without(kubeClaims(), "kubernetes.io"), sub: "system:serviceaccount::bar" }),
      "ERR_TOKEN_CLAIMS",
      /subject/,
    ],
    [
      "a sub with an empty service account",
      () => sign(es, { ...without(kubeClaims(), "kubernetes.io"), sub: "system:serviceaccount:foo:" }),
      "ERR_TOKEN_CLAIMS",
      /subject/,
    ],
    [
      "a sub that is a user, not a service account",
      () => sign(es, { ...without(kubeClaims(), "kubernetes.io"), sub: "system:node:worker-1:x" }),
      "ERR_TOKEN_CLAIMS",
      /subject/,
    ],
    [
      "a namespace with characters a SPIFFE path cannot hold",
      () => sign(es, { ...without(kubeClaims(), "kubernetes.io"), sub: "system:serviceaccount:Foo/..:bar" }),
      "ERR_TOKEN_CLAIMS",
      /subject/,
    ],
    [
      "a sub and kubernetes.io claim naming different accounts",
      () => sign(es, { ...kubeClaims(), sub: "system:serviceaccount:foo:other" }),
      "ERR_TOKEN_CLAIMS",
      /different service accounts/,
    ],
    [
      "a sub and kubernetes.io claim naming different namespaces",
      () => sign(es, { ...kubeClaims(), sub: "system:serviceaccount:kube-system:bar" }),
      "ERR_TOKEN_CLAIMS",
      /different service accounts/,
    ],
    [
      "a kubernetes.io claim without a service account",
      () => sign(es, { ...without(kubeClaims(), "sub"), "kubernetes.io": { namespace: "foo" } }),
      "ERR_TOKEN_CLAIMS",
      /serviceaccount/,
    ],
    [
      "a token naming no service account at all",
      () => sign(es, without(kubeClaims(), "sub", "kubernetes.io")),
      "ERR_TOKEN_CLAIMS",
      /no Kubernetes service account/,
    ],
    [
      "an unsigned token (alg: none)",
      async () =>
        `${base64url(JSON.stringify({ alg: "none", kid: "key-es" }))}.${base64url(JSON.stringify(kubeClaims()))}.`,
      "ERR_TOKEN_ALGORITHM",
      /algorithm not allowed/,
    ],
    [
      "an HS256 token keyed with the RSA public key (algorithm confusion)",
      async () =>
        new SignJWT(kubeClaims())
          .setProtectedHeader({ alg: "HS256", kid: "key-rsa" })
          .sign(new TextEncoder().encode(JSON.stringify(rsa.publicJwk))),
      "ERR_TOKEN_ALGORITHM",
      /algorithm not allowed/,
    ],
    ["three segments of garbage", async () => "a.b.c", "ERR_TOKEN_MALFORMED", /malformed/],
    ["a string that is no JWT at all", async () => "not-a-jwt", "ERR_TOKEN_MALFORMED", /malformed/],
  ];
  it.each(refused)("refuses %s", async (_name, makeToken, code, message) => {
    const auth = await staticAuthenticator();
    const token = await makeToken();
    const err = await rejection(auth.authenticate(bearer(token)));
    expect(err.code).toBe(code);
    expect(err.message).toMatch(message);
    expect(err.message).not.toContain(token);
    expect(err.retry).toBe("terminal");
  });

  it("refuses an algorithm that is permitted in general but not enabled", async () => {
    const auth = await staticAuthenticator({ algorithms: ["ES256"] });
    const err = await rejection(auth.authenticate(bearer(await sign(rsa, kubeClaims()))));
    expect(err.code).toBe("ERR_TOKEN_ALGORITHM");
  });

  it("refuses HS256 even when the JWKS itself carries an HMAC key with that kid", async () => {
    const secret = new TextEncoder().encode("0123456789abcdef0123456789abcdef");
    const auth = await JwksAuthenticator.create({
      source: {
        kind: "static",
        jwks: { keys: [es.publicJwk, { kty: "oct", kid: "hmac", k: base64url(secret) }] },
      },
      issuer: ISSUER,
      trustDomain: "cluster.local",
      clock,
    });
    const token = await new SignJWT(kubeClaims())
      .setProtectedHeader({ alg: "HS256", kid: "hmac" })
      .sign(secret);
    expect((await rejection(auth.authenticate(bearer(token)))).code).toBe("ERR_TOKEN_ALGORITHM");
  });

  it("accepts a token without kid when one of several keys of its type verifies it", async () => {
    const other = await makeKey("ES256", "key-other");
    const auth = await JwksAuthenticator.create({
      source: {
        kind: "static",
        jwks: { keys: [other.publicJwk, es.publicJwk].map(({ kid: _kid, ...k }) => k) },
      },
      issuer: ISSUER,
      trustDomain: "cluster.local",
      clock,
    });
    const token = await new SignJWT(kubeClaims()).setProtectedHeader({ alg: "ES256" }).sign(es.privateKey);
    expect((await auth.authenticate(bearer(token))).identities).toEqual([
      "spiffe://cluster.local/ns/foo/sa/bar",
    ]);
    const forged = await new SignJWT(kubeClaims())
      .setProtectedHeader({ alg: "ES256" })
      .sign(impostor.privateKey);
    expect((await rejection(auth.authenticate(bearer(forged)))).code).toBe("ERR_TOKEN_SIGNATURE");
  });

  it("builds the SPIFFE ID in the configured trust domain and checks a configured audience", async () => {
    const auth = await staticAuthenticator({ trustDomain: "mesh.example.org", audiences: ["meshsign"] });
    const token = await sign(es, { ...kubeClaims("prod", "api"), aud: "meshsign" });
    expect((await auth.authenticate(bearer(token))).identities).toEqual([
      "spiffe://mesh.example.org/ns/prod/sa/api",
    ]);
    const istioToken = await sign(es, kubeClaims("prod", "api"));
    expect((await rejection(auth.authenticate(bearer(istioToken)))).code).toBe("ERR_TOKEN_AUDIENCE");
  });

  it("never throws anything but a MeshsignError for arbitrary bearer strings", async () => {
    const auth = await staticAuthenticator();
    const segment = fc.string({
      unit: fc.constantFrom(...'abcXYZ019-_.=+/ \u00e9{}"'.split("")),
      maxLength: 40,
    });
    const jwtish = fc.tuple(segment, segment, segment).map((parts) => parts.join("."));
    const headerish = fc
      .record({
        alg: fc.constantFrom("none", "HS256", "ES256", "RS256", "ES512", "", "EdDSA"),
        kid: fc.constantFrom("key-es", "key-rsa", "nope"),
      })
      .chain((h) => fc.tuple(fc.constant(h), fc.jsonValue()))
      .map(
        ([h, payload]) =>
          `${base64url(JSON.stringify(h))}.${base64url(JSON.stringify(payload))}.${base64url("sig")}`,
      );
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string(), jwtish, headerish), async (token) => {
        const err = await auth.authenticate(bearer(token)).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(isMeshsignError(err)).toBe(true);
        expect((err as MeshsignError).code).toMatch(/^ERR_TOKEN_/);
      }),
      { numRuns: 300 },
    );
  });
});

describe("JwksAuthenticator reading request metadata", () => {
  const cases: [string, (token: string) => AuthnInput, string | undefined][] = [
    [
      "accepts the first Bearer value among several authorization values",
      (t) => ({ authorization: ["Basic Zm9vOmJhcg==", `Bearer ${t}`, "Bearer garbage"], clusterId: [] }),
      undefined,
    ],
    [
      "uses only the first Bearer value, even when a later one is good",
      (t) => ({ authorization: ["Bearer garbage", `Bearer ${t}`], clusterId: [] }),
      "ERR_TOKEN_MALFORMED",
    ],
    [
      "refuses a request without authorization",
      () => ({ authorization: [], clusterId: [] }),
      "ERR_TOKEN_MISSING",
    ],
    [
      "refuses a token without the Bearer prefix",
      (t) => ({ authorization: [t], clusterId: [] }),
      "ERR_TOKEN_MISSING",
    ],
    [
      "refuses a lowercase bearer prefix",
      (t) => ({ authorization: [`bearer ${t}`], clusterId: [] }),
      "ERR_TOKEN_MISSING",
    ],
    [
      "refuses an empty Bearer value",
      () => ({ authorization: ["Bearer "], clusterId: [] }),
      "ERR_TOKEN_MISSING",
    ],
    [
      "refuses an oversized token",
      () => ({ authorization: [`Bearer ${"a".repeat(20_000)}`], clusterId: [] }),
      "ERR_TOKEN_MALFORMED",
    ],
    ["accepts a clusterid equal to the configured cluster", (t) => bearer(t, ["Kubernetes"]), undefined],
    ["accepts an absent clusterid", (t) => bearer(t, []), undefined],
    ["accepts an empty clusterid", (t) => bearer(t, [""]), undefined],
    [
      "treats several clusterid values as no claim, as Istio does",
      (t) => bearer(t, ["remote-1", "remote-2"]),
      undefined,
    ],
    ["refuses a clusterid naming another cluster", (t) => bearer(t, ["remote-1"]), "ERR_CLUSTER_ID_MISMATCH"],
    ["compares clusterid case-sensitively", (t) => bearer(t, ["kubernetes"]), "ERR_CLUSTER_ID_MISMATCH"],
  ];
  it.each(cases)("%s", async (_name, makeInput, code) => {
    const auth = await staticAuthenticator();
    const token = await sign(es, kubeClaims());
    const result = auth.authenticate(makeInput(token));
    if (code === undefined) {
      expect((await result).identities).toEqual(["spiffe://cluster.local/ns/foo/sa/bar"]);
    } else {
      expect((await rejection(result)).code).toBe(code);
    }
  });

  it("names the claimed and the known cluster in a cluster mismatch", async () => {
    const auth = await staticAuthenticator({ clusterId: "east" });
    const err = await rejection(auth.authenticate(bearer(await sign(es, kubeClaims()), ["west"])));
    expect(err.message).toBe(
      'client claims to be in cluster "west", but only the local cluster "east" is known',
    );
  });
});

describe("JwksAuthenticator configuration", () => {
  const bad: [string, Partial<JwksAuthenticatorOptions>, RegExp][] = [
    ["enabling none", { algorithms: ["none"] }, /none may not be enabled/],
    ["enabling HS256", { algorithms: ["ES256", "HS256"] }, /HS256 may not be enabled/],
    ["an empty algorithm list", { algorithms: [] }, /at least one algorithm/],
    ["an empty audience list", { audiences: [] }, /audience/],
    ["a trust domain with upper case", { trustDomain: "Cluster.Local" }, /trust domain/],
    ["a trust domain with a slash", { trustDomain: "cluster.local/ns" }, /trust domain/],
    ["a negative clock skew", { clockSkewSeconds: -1 }, /clockSkewSeconds/],
    ["no issuer for a static key set", { issuer: undefined }, /issuer/],
  ];
  it.each(bad)("refuses %s", async (_name, overrides, message) => {
    const options = {
      source: { kind: "static" as const, jwks: jwksOf(es) },
      issuer: ISSUER,
      trustDomain: "cluster.local",
      ...overrides,
    };
    const err = await rejection(JwksAuthenticator.create(options));
    expect(err.code).toBe("ERR_CONFIG_INVALID");
    expect(err.message).toMatch(message);
  });

  it("refuses a JWKS file that is not JSON, naming the file", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "meshsign-jwks-"));
    try {
      const file = path.join(dir, "jwks.json");
      await writeFile(file, "{ not json");
      const err = await rejection(
        JwksAuthenticator.create({
          source: { kind: "file", path: file },
          issuer: ISSUER,
          trustDomain: "cluster.local",
        }),
      );
      expect(err.code).toBe("ERR_CONFIG_INVALID");
      expect(err.message).toContain(file);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("refuses a JWKS that holds only symmetric or private keys", async () => {
    const jwks = {
      keys: [
        { kty: "oct", k: "c2VjcmV0" },
        { ...es.publicJwk, d: "cHJpdmF0ZQ" },
      ],
    };
    const err = await rejection(
      JwksAuthenticator.create({
        source: { kind: "static", jwks },
        issuer: ISSUER,
        trustDomain: "cluster.local",
      }),
    );
    expect(err.code).toBe("ERR_CONFIG_INVALID");
    expect(err.message).toMatch(/no public RSA, EC or OKP signing key/);
  });

  it("loads keys from a JWKS file and re-reads it when an unknown kid appears", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "meshsign-jwks-"));
    try {
      const file = path.join(dir, "jwks.json");
      await writeFile(file, JSON.stringify(jwksOf(es)));
      const auth = await JwksAuthenticator.create({
        source: { kind: "file", path: file },
        issuer: ISSUER,
        trustDomain: "cluster.local",
        clock,
      });
      expect((await auth.authenticate(bearer(await sign(es, kubeClaims())))).source).toBe("jwks");
      await writeFile(file, JSON.stringify(jwksOf(es, rsa)));
      now += 31_000;
      expect(
        (await auth.authenticate(bearer(await sign(rsa, { ...kubeClaims(), exp: NOW_SECONDS + 7200 }))))
          .identities,
      ).toHaveLength(1);
      expect(auth.keyLoads).toBe(2);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("reports a JWKS file that cannot be re-read as transient, like an endpoint failure, and keeps the old keys", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "meshsign-jwks-"));
    try {
      const file = path.join(dir, "jwks.json");
      await writeFile(file, JSON.stringify(jwksOf(es)));
      const auth = await JwksAuthenticator.create({
        source: { kind: "file", path: file },
        issuer: ISSUER,
        trustDomain: "cluster.local",
        clock,
      });
      // Caught mid-write: the caller's token is not at fault, so it must not be told UNAUTHENTICATED.
      await writeFile(file, '{ "keys": [');
      now += 31_000;
      const stranger = await makeKey("ES256", "key-unknown");
      const err = await rejection(
        auth.authenticate(bearer(await sign(stranger, { ...kubeClaims(), exp: NOW_SECONDS + 7200 }))),
      );
      expect(err.code).toBe("ERR_AUTHN_BACKEND_UNAVAILABLE");
      expect(err.retry).toBe("transient");
      expect(
        (await auth.authenticate(bearer(await sign(es, { ...kubeClaims(), exp: NOW_SECONDS + 7200 }))))
          .identities,
      ).toHaveLength(1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("JwksAuthenticator fetching keys over HTTP", () => {
  const server = new TestServer();
  let served: TestKey[] = [];
  let dir = "";

  beforeAll(async () => {
    await server.start();
    dir = await mkdtemp(path.join(tmpdir(), "meshsign-jwks-"));
  });
  afterAll(async () => {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    served = [es];
    server.hits.clear();
    server.authorizations.length = 0;
    server.routes.set("/openid/v1/jwks", () => ({ status: 200, body: jwksOf(...served) }));
    server.routes.set("/.well-known/openid-configuration", () => ({
      status: 200,
      body: { issuer: server.url, jwks_uri: `${server.url}/openid/v1/jwks` },
    }));
  });
  afterEach(() => server.routes.clear());

  function urlAuthenticator(): Promise<JwksAuthenticator> {
    return JwksAuthenticator.create({
      source: { kind: "url", url: `${server.url}/openid/v1/jwks` },
      issuer: ISSUER,
      trustDomain: "cluster.local",
      clock,
    });
  }

  it("accepts a token verified against keys from a JWKS URL", async () => {
    const auth = await urlAuthenticator();
    expect((await auth.authenticate(bearer(await sign(es, kubeClaims())))).identities).toEqual([
      "spiffe://cluster.local/ns/foo/sa/bar",
    ]);
    expect(server.hitsOf("/openid/v1/jwks")).toBe(1);
  });

  it("re-fetches once on an unknown kid, then refuses it, and does not re-fetch again inside the window", async () => {
    const auth = await urlAuthenticator();
    const stranger = await makeKey("ES256", "key-unknown");
    now += 60_000;
    const first = await rejection(
      auth.authenticate(bearer(await sign(stranger, { ...kubeClaims(), exp: NOW_SECONDS + 7200 }))),
    );
    expect(first.code).toBe("ERR_TOKEN_KID_UNKNOWN");
    expect(server.hitsOf("/openid/v1/jwks")).toBe(2);
    now += 10_000;
    const other = await makeKey("ES256", "key-unknown-2");
    const second = await rejection(
      auth.authenticate(bearer(await sign(other, { ...kubeClaims(), exp: NOW_SECONDS + 7200 }))),
    );
    expect(second.code).toBe("ERR_TOKEN_KID_UNKNOWN");
    expect(server.hitsOf("/openid/v1/jwks")).toBe(2);
    now += 30_000;
    await rejection(
      auth.authenticate(bearer(await sign(other, { ...kubeClaims(), exp: NOW_SECONDS + 7200 }))),
    );
    expect(server.hitsOf("/openid/v1/jwks")).toBe(3);
  });

  it("does not re-fetch on an unknown kid right after the initial load", async () => {
    const auth = await urlAuthenticator();
    const stranger = await makeKey("ES256", "key-unknown");
    expect((await rejection(auth.authenticate(bearer(await sign(stranger, kubeClaims()))))).code).toBe(
      "ERR_TOKEN_KID_UNKNOWN",
    );
    expect(server.hitsOf("/openid/v1/jwks")).toBe(1);
  });

  it("accepts a token signed by a rotated-in key after re-fetching the JWKS", async () => {
    const auth = await urlAuthenticator();
    const rotated = await makeKey("RS256", "key-2026");
    served = [rotated];
    now += 31_000;
    const caller = await auth.authenticate(
      bearer(await sign(rotated, { ...kubeClaims(), exp: NOW_SECONDS + 7200 })),
    );
    expect(caller.identities).toEqual(["spiffe://cluster.local/ns/foo/sa/bar"]);
    expect(auth.keyLoads).toBe(2);
    // The old key is gone from the set now.
    expect(
      await rejection(
        auth.authenticate(bearer(await sign(es, { ...kubeClaims(), exp: NOW_SECONDS + 7200 }))),
      ),
    ).toHaveProperty("code", "ERR_TOKEN_KID_UNKNOWN");
  });

  it("re-fetches on an unknown kid after the wall clock stepped back (NTP), instead of for as long as the step", async () => {
    const auth = await urlAuthenticator();
    const rotated = await makeKey("RS256", "key-after-step");
    served = [rotated];
    now -= 3_600_000;
    const t = NOW_SECONDS - 3600;
    const caller = await auth.authenticate(
      bearer(await sign(rotated, { ...kubeClaims(), iat: t, nbf: t, exp: t + 3600 })),
    );
    expect(caller.identities).toEqual(["spiffe://cluster.local/ns/foo/sa/bar"]);
    expect(server.hitsOf("/openid/v1/jwks")).toBe(2);
  });

  it("shares one fetch among concurrent requests with unknown kids", async () => {
    const auth = await urlAuthenticator();
    const rotated = await makeKey("ES256", "key-new");
    served = [es, rotated];
    now += 31_000;
    const token = await sign(rotated, { ...kubeClaims(), exp: NOW_SECONDS + 7200 });
    const callers = await Promise.all(Array.from({ length: 8 }, () => auth.authenticate(bearer(token))));
    expect(callers.map((c) => c.identities[0])).toEqual(
      Array(8).fill("spiffe://cluster.local/ns/foo/sa/bar"),
    );
    expect(server.hitsOf("/openid/v1/jwks")).toBe(2);
  });

  it("re-fetches keys older than the max age in the background, so a withdrawn key stops being trusted", async () => {
    const auth = await urlAuthenticator();
    const token = await sign(es, { ...kubeClaims(), exp: NOW_SECONDS + 7200 });
    served = [rsa];
    now += 3_599_000;
    await auth.authenticate(bearer(token));
    expect(server.hitsOf("/openid/v1/jwks")).toBe(1);
    now += 2_000;
    // This request still sees the old keys; the re-fetch runs beside it.
    expect((await auth.authenticate(bearer(token))).identities).toHaveLength(1);
    await vi.waitFor(() => expect(server.hitsOf("/openid/v1/jwks")).toBe(2));
    await vi.waitFor(async () =>
      expect((await rejection(auth.authenticate(bearer(token)))).code).toBe("ERR_TOKEN_KID_UNKNOWN"),
    );
  });

  it("re-fetches on demand with refresh(), regardless of the rate limit", async () => {
    const auth = await urlAuthenticator();
    const rotated = await makeKey("ES384", "key-384");
    served = [rotated];
    await auth.refresh();
    expect(server.hitsOf("/openid/v1/jwks")).toBe(2);
    expect((await auth.authenticate(bearer(await sign(rotated, kubeClaims())))).identities).toHaveLength(1);
  });

  it("reports a JWKS endpoint failure during a re-fetch as transient and keeps the old keys", async () => {
    const auth = await urlAuthenticator();
    server.routes.set("/openid/v1/jwks", () => ({ status: 503, body: "down" }));
    now += 31_000;
    const stranger = await makeKey("ES256", "key-unknown");
    const err = await rejection(
      auth.authenticate(bearer(await sign(stranger, { ...kubeClaims(), exp: NOW_SECONDS + 7200 }))),
    );
    expect(err.code).toBe("ERR_AUTHN_BACKEND_UNAVAILABLE");
    expect(err.retry).toBe("transient");
    expect(
      (await auth.authenticate(bearer(await sign(es, { ...kubeClaims(), exp: NOW_SECONDS + 7200 }))))
        .identities,
    ).toHaveLength(1);
  });

  it("fails to start when the JWKS URL cannot be fetched, as a transient error naming the URL", async () => {
    server.routes.set("/openid/v1/jwks", () => ({ status: 500, body: "oops" }));
    const err = await rejection(urlAuthenticator());
    expect(err.code).toBe("ERR_AUTHN_BACKEND_UNAVAILABLE");
    expect(err.retry).toBe("transient");
    expect(err.message).toContain(`${server.url}/openid/v1/jwks`);
  });

  it("refuses a plain-http JWKS URL that is not on loopback", async () => {
    const err = await rejection(
      JwksAuthenticator.create({
        source: { kind: "url", url: "http://jwks.example.com/keys" },
        issuer: ISSUER,
        trustDomain: "cluster.local",
      }),
    );
    expect(err.code).toBe("ERR_CONFIG_INVALID");
  });

  it("discovers the JWKS through OIDC discovery and sends the bearer token file to the issuer's origin", async () => {
    const tokenFile = path.join(dir, "token");
    await writeFile(tokenFile, "sa-token-value\n");
    const auth = await JwksAuthenticator.create({
      source: { kind: "oidc", issuer: server.url, bearerTokenFile: tokenFile },
      trustDomain: "cluster.local",
      clock,
    });
    const token = await sign(es, { ...kubeClaims(), iss: server.url });
    expect((await auth.authenticate(bearer(token))).identities).toEqual([
      "spiffe://cluster.local/ns/foo/sa/bar",
    ]);
    expect(server.hitsOf("/.well-known/openid-configuration")).toBe(1);
    expect(server.hitsOf("/openid/v1/jwks")).toBe(1);
    expect(server.authorizations).toEqual(["Bearer sa-token-value", "Bearer sa-token-value"]);
  });

  it("does not send the bearer token to a jwks_uri on another origin", async () => {
    const other = new TestServer();
    await other.start();
    try {
      other.routes.set("/keys", () => ({ status: 200, body: jwksOf(es) }));
      server.routes.set("/.well-known/openid-configuration", () => ({
        status: 200,
        body: { issuer: server.url, jwks_uri: `${other.url}/keys` },
      }));
      const tokenFile = path.join(dir, "token2");
      await writeFile(tokenFile, "secret-token");
      await JwksAuthenticator.create({
        source: { kind: "oidc", issuer: server.url, bearerTokenFile: tokenFile },
        trustDomain: "cluster.local",
        clock,
      });
      expect(server.authorizations).toEqual(["Bearer secret-token"]);
      expect(other.authorizations).toEqual([undefined]);
    } finally {
      await other.stop();
    }
  });

  it("refuses a discovery document that names another issuer", async () => {
    server.routes.set("/.well-known/openid-configuration", () => ({
      status: 200,
      body: { issuer: "https://evil.example", jwks_uri: `${server.url}/openid/v1/jwks` },
    }));
    const err = await rejection(
      JwksAuthenticator.create({
        source: { kind: "oidc", issuer: server.url },
        trustDomain: "cluster.local",
        clock,
      }),
    );
    expect(err.message).toMatch(/names issuer "https:\/\/evil.example"/);
  });

  it("refuses an OIDC issuer's token whose iss differs from the issuer", async () => {
    const auth = await JwksAuthenticator.create({
      source: { kind: "oidc", issuer: server.url },
      trustDomain: "cluster.local",
      clock,
    });
    expect(await rejection(auth.authenticate(bearer(await sign(es, kubeClaims()))))).toHaveProperty(
      "code",
      "ERR_TOKEN_ISSUER",
    );
  });
});
