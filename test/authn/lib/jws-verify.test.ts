import { sign as nodeSign } from "node:crypto";
import fc from "fast-check";
import type { JSONWebKeySet, JWK, JWTPayload } from "jose";
import { CompactSign, createLocalJWKSet, errors, FlattenedSign, jwtVerify, SignJWT } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { isStrictBase64url } from "../../../src/authn/lib/base64url.js";
import { JwkKeyRing } from "../../../src/authn/lib/jwk-keyring.js";
import { CompactJwsVerifier } from "../../../src/authn/lib/jws-verify.js";
import { checkJwtClaims, type JwtClaimsPolicy } from "../../../src/authn/lib/jwt-claims.js";
import { isMeshsignError } from "../../../src/errors/index.js";
import type { TestKey } from "../helpers.js";
import { base64url, ISSUER, kubeClaims, makeKey, NOW_SECONDS, sign } from "../helpers.js";
import { keyPairSync } from "../../lib/key-pair.js";

/**
 * Differential tests: the node:crypto verifier (CompactJwsVerifier +
 * checkJwtClaims over a JwkKeyRing) against jose's jwtVerify over
 * createLocalJWKSet, with the error mapping meshsign used while it verified
 * with jose. Same token, same keys, same clock: same decision.
 */

const ALL_ALGORITHMS = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
  "Ed25519",
];
const NOW_MS = NOW_SECONDS * 1000;
const POLICY: JwtClaimsPolicy = { issuer: ISSUER, audiences: ["istio-ca"], clockToleranceSeconds: 30 };

type Outcome = { ok: true; payload: JWTPayload } | { ok: false; code: string };

/** How meshsign mapped jose's errors to codes before the switch (the oracle's half of the contract). */
function codeOfJoseError(err: unknown): string {
  if (err instanceof errors.JWTExpired) return "ERR_TOKEN_EXPIRED";
  if (err instanceof errors.JWTClaimValidationFailed) {
    switch (err.claim) {
      case "nbf":
        return "ERR_TOKEN_NOT_YET_VALID";
      case "iss":
        return "ERR_TOKEN_ISSUER";
      case "aud":
        return "ERR_TOKEN_AUDIENCE";
      default:
        return "ERR_TOKEN_CLAIMS";
    }
  }
  if (err instanceof errors.JOSEAlgNotAllowed || err instanceof errors.JOSENotSupported)
    return "ERR_TOKEN_ALGORITHM";
  if (err instanceof errors.JWSSignatureVerificationFailed) return "ERR_TOKEN_SIGNATURE";
  if (err instanceof errors.JWKSNoMatchingKey) return "ERR_TOKEN_KID_UNKNOWN";
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) return "ERR_TOKEN_MALFORMED";
  return "ERR_TOKEN_REJECTED";
}

async function joseOutcome(
  token: string,
  jwks: JSONWebKeySet,
  algorithms = ALL_ALGORITHMS,
): Promise<Outcome> {
  const options = {
    issuer: POLICY.issuer,
    audience: [...POLICY.audiences],
    algorithms,
    clockTolerance: POLICY.clockToleranceSeconds,
    requiredClaims: ["iss", "aud", "exp"],
    currentDate: new Date(NOW_MS),
  };
  try {
    try {
      return { ok: true, payload: (await jwtVerify(token, createLocalJWKSet(jwks), options)).payload };
    } catch (err) {
      if (!(err instanceof errors.JWKSMultipleMatchingKeys)) throw err;
      for await (const key of err) {
        try {
          return { ok: true, payload: (await jwtVerify(token, key, options)).payload };
        } catch (inner) {
          if (!(inner instanceof errors.JWSSignatureVerificationFailed)) throw inner;
        }
      }
      throw new errors.JWSSignatureVerificationFailed();
    }
  } catch (err) {
    return { ok: false, code: codeOfJoseError(err) };
  }
}

/** One verifier for the whole file, so what it remembers of earlier headers is exercised too. */
const sharedVerifiers = new Map<string, CompactJwsVerifier>();

function outcomeWith(verifier: CompactJwsVerifier, token: string, jwks: JSONWebKeySet): Outcome {
  try {
    const payload = verifier.verify(token, JwkKeyRing.fromJwks(jwks));
    return { ok: true, payload: checkJwtClaims(payload, POLICY, NOW_MS) };
  } catch (err) {
    if (!isMeshsignError(err)) throw err;
    if (token.length > 16) expect(err.message).not.toContain(token);
    return { ok: false, code: err.code };
  }
}

/** {@link outcomeWith} through `verifyAsync` (the signature on libuv's thread pool). */
async function asyncOutcomeWith(
  verifier: CompactJwsVerifier,
  token: string,
  jwks: JSONWebKeySet,
): Promise<Outcome> {
  try {
    const payload = await verifier.verifyAsync(token, JwkKeyRing.fromJwks(jwks));
    return { ok: true, payload: checkJwtClaims(payload, POLICY, NOW_MS) };
  } catch (err) {
    if (!isMeshsignError(err)) throw err;
    if (token.length > 16) expect(err.message).not.toContain(token);
    return { ok: false, code: err.code };
  }
}

function ourOutcome(token: string, jwks: JSONWebKeySet, algorithms = ALL_ALGORITHMS): Outcome {
  const fresh = outcomeWith(new CompactJwsVerifier(algorithms), token, jwks);
  const key = algorithms.join();
  const shared = sharedVerifiers.get(key) ?? new CompactJwsVerifier(algorithms);
  sharedVerifiers.set(key, shared);
  // Twice through the shared verifier: the second time its header is remembered (when it was accepted).
  expect(outcomeWith(shared, token, jwks)).toEqual(fresh);
  expect(outcomeWith(shared, token, jwks)).toEqual(fresh);
  return fresh;
}

/** Every segment is the one base64url encoding of what it decodes to. */
function isCanonical(token: string): boolean {
  const parts = token.split(".");
  return parts.length === 3 && parts.every((p) => Buffer.from(p, "base64url").toString("base64url") === p);
}

/**
 * The differential rule. Identical decisions on canonical tokens; the new
 * verifier may only be stricter on non-canonical base64url, and only by
 * calling the token malformed (it checks the encoding before looking up keys).
 */
async function expectSameDecision(
  token: string,
  jwks: JSONWebKeySet,
  algorithms = ALL_ALGORITHMS,
): Promise<void> {
  const ours = ourOutcome(token, jwks, algorithms);
  // The thread-pool path decides exactly as the synchronous one, with the same error codes.
  expect(await asyncOutcomeWith(new CompactJwsVerifier(algorithms), token, jwks)).toEqual(ours);
  const theirs = await joseOutcome(token, jwks, algorithms);
  if (ours.ok) {
    expect(theirs).toEqual(ours);
    return;
  }
  if (theirs.ok) {
    expect(
      isCanonical(token),
      `only a non-canonical token may be refused where jose accepts (${ours.code})`,
    ).toBe(false);
    expect(ours.code).toBe("ERR_TOKEN_MALFORMED");
    return;
  }
  if (theirs.code === "ERR_TOKEN_MALFORMED" || isCanonical(token)) expect(ours.code).toBe(theirs.code);
  else expect([theirs.code, "ERR_TOKEN_MALFORMED"]).toContain(ours.code);
}

let keys: TestKey[] = [];
let jwks: JSONWebKeySet;
let tokens: string[] = [];

beforeAll(async () => {
  keys = await Promise.all(ALL_ALGORITHMS.map((alg) => makeKey(alg, `key-${alg.toLowerCase()}`)));
  jwks = { keys: keys.map((k) => k.publicJwk) };
  tokens = await Promise.all(keys.map((k) => sign(k, kubeClaims())));
});

describe("CompactJwsVerifier against jose", () => {
  it.each(ALL_ALGORITHMS)("accepts a jose-signed %s token with the same claims as jose", async (alg) => {
    const key = keys.find((k) => k.alg === alg) as TestKey;
    const token = await sign(key, kubeClaims("ns-a", "sa-b"));
    const ours = ourOutcome(token, jwks);
    expect(ours).toEqual({ ok: true, payload: kubeClaims("ns-a", "sa-b") });
    expect(await joseOutcome(token, jwks)).toEqual(ours);
  });

  it.each(ALL_ALGORITHMS)(
    "refuses a %s token whose signature is from another key of the same type",
    async (alg) => {
      const impostor = await makeKey(alg, `key-${alg.toLowerCase()}`);
      const token = await sign(impostor, kubeClaims());
      expect(ourOutcome(token, jwks)).toEqual({ ok: false, code: "ERR_TOKEN_SIGNATURE" });
      await expectSameDecision(token, jwks);
    },
  );

  const claims: [string, JWTPayload, string | undefined][] = [
    ["valid claims", kubeClaims(), undefined],
    ["exp just inside the skew", { ...kubeClaims(), exp: NOW_SECONDS - 29 }, undefined],
    ["exp exactly at the skew", { ...kubeClaims(), exp: NOW_SECONDS - 30 }, "ERR_TOKEN_EXPIRED"],
    ["nbf exactly at the skew", { ...kubeClaims(), nbf: NOW_SECONDS + 30 }, undefined],
    ["nbf just beyond the skew", { ...kubeClaims(), nbf: NOW_SECONDS + 31 }, "ERR_TOKEN_NOT_YET_VALID"],
    ["a string nbf", { ...kubeClaims(), nbf: "soon" as unknown as number }, "ERR_TOKEN_NOT_YET_VALID"],
    ["a string iat", { ...kubeClaims(), iat: "then" as unknown as number }, "ERR_TOKEN_CLAIMS"],
    ["a null exp", { ...kubeClaims(), exp: null as unknown as number }, "ERR_TOKEN_CLAIMS"],
    ["no iss, no aud, no exp (iss is reported first)", { sub: "x" }, "ERR_TOKEN_ISSUER"],
    ["no aud and no exp (aud is reported first)", { iss: ISSUER }, "ERR_TOKEN_AUDIENCE"],
    ["no exp", { iss: ISSUER, aud: "istio-ca" }, "ERR_TOKEN_CLAIMS"],
    [
      "a wrong issuer and an expired exp (issuer first)",
      { ...kubeClaims(), iss: "x", exp: 1 },
      "ERR_TOKEN_ISSUER",
    ],
    [
      "an aud array of numbers",
      { ...kubeClaims(), aud: [1, 2] as unknown as string[] },
      "ERR_TOKEN_AUDIENCE",
    ],
    ["a null aud", { ...kubeClaims(), aud: null as unknown as string }, "ERR_TOKEN_AUDIENCE"],
    [
      "an issuer that differs only in a trailing slash",
      { ...kubeClaims(), iss: `${ISSUER}/` },
      "ERR_TOKEN_ISSUER",
    ],
    ["an iat in the future (not checked)", { ...kubeClaims(), iat: NOW_SECONDS + 99_999 }, undefined],
  ];
  it.each(claims)("decides like jose on %s", async (_name, payload, code) => {
    const token = await sign(keys[6] as TestKey, payload);
    const ours = ourOutcome(token, jwks);
    expect(ours.ok ? undefined : ours.code).toBe(code);
    await expectSameDecision(token, jwks);
  });

  const crafted: [string, () => string | Promise<string>, string][] = [
    [
      "alg none with an empty signature",
      async () => `${base64url(JSON.stringify({ alg: "none" }))}.${base64url(JSON.stringify(kubeClaims()))}.`,
      "ERR_TOKEN_ALGORITHM",
    ],
    [
      "HS256 keyed with the RSA public JWK (algorithm confusion)",
      () =>
        new SignJWT(kubeClaims())
          .setProtectedHeader({ alg: "HS256", kid: "key-rs256" })
          .sign(new TextEncoder().encode(JSON.stringify(keys[0]?.publicJwk))),
      "ERR_TOKEN_ALGORITHM",
    ],
    [
      "HS256 keyed with the RSA modulus bytes",
      () =>
        new SignJWT(kubeClaims())
          .setProtectedHeader({ alg: "HS256", kid: "key-rs256" })
          .sign(Buffer.from(String(keys[0]?.publicJwk.n), "base64url")),
      "ERR_TOKEN_ALGORITHM",
    ],
    [
      "an ES256 header on an RS256 signature",
      () => resign(tokens[0] as string, { alg: "ES256" }),
      "ERR_TOKEN_KID_UNKNOWN",
    ],
    [
      "an ES256 header naming the RSA key's kid",
      () => resign(tokens[6] as string, { alg: "ES256", kid: "key-rs256" }),
      "ERR_TOKEN_KID_UNKNOWN",
    ],
    ["a numeric kid", () => resign(tokens[6] as string, { kid: 7 }), "ERR_TOKEN_KID_UNKNOWN"],
    ["an empty alg", () => resign(tokens[6] as string, { alg: "" }), "ERR_TOKEN_MALFORMED"],
    ["an alg that is an array", () => resign(tokens[6] as string, { alg: ["ES256"] }), "ERR_TOKEN_MALFORMED"],
    [
      "a header that is a JSON array",
      async () => `${base64url("[1]")}.${(tokens[6] as string).split(".").slice(1).join(".")}`,
      "ERR_TOKEN_MALFORMED",
    ],
    [
      "crit naming an unknown extension",
      () => resign(tokens[6] as string, { crit: ["exp"], exp: 1 }),
      "ERR_TOKEN_ALGORITHM",
    ],
    ["an empty crit", () => resign(tokens[6] as string, { crit: [] }), "ERR_TOKEN_MALFORMED"],
    [
      "crit b64 without a b64 member",
      () => resign(tokens[6] as string, { crit: ["b64"] }),
      "ERR_TOKEN_MALFORMED",
    ],
    [
      "crit b64 with a string b64",
      () => resign(tokens[6] as string, { crit: ["b64"], b64: "no" }),
      "ERR_TOKEN_MALFORMED",
    ],
    ["a payload that is a JSON string", () => signRaw(keys[6] as TestKey, '"hello"'), "ERR_TOKEN_MALFORMED"],
    [
      "a payload that is not UTF-8",
      () => signRaw(keys[6] as TestKey, Buffer.from([0x7b, 0xff, 0x7d])),
      "ERR_TOKEN_MALFORMED",
    ],
    ["four parts", async () => `${tokens[6]}.e30`, "ERR_TOKEN_MALFORMED"],
    ["two parts", async () => (tokens[6] as string).split(".").slice(0, 2).join("."), "ERR_TOKEN_MALFORMED"],
  ];
  it.each(crafted)("refuses %s, as jose does", async (_name, makeToken, code) => {
    const token = await makeToken();
    expect(ourOutcome(token, jwks)).toEqual({ ok: false, code });
    await expectSameDecision(token, jwks);
  });

  it("accepts crit b64 with b64 true (an understood extension), as jose does", async () => {
    const token = await sign(keys[6] as TestKey, kubeClaims(), { crit: ["b64"], b64: true });
    expect(ourOutcome(token, jwks).ok).toBe(true);
    await expectSameDecision(token, jwks);
  });

  it("refuses an unencoded payload (b64 false) as malformed, where jose also refuses", async () => {
    const key = keys[6] as TestKey;
    const flattened = await new FlattenedSign(new TextEncoder().encode(JSON.stringify(kubeClaims())))
      .setProtectedHeader({ alg: key.alg, kid: key.kid, crit: ["b64"], b64: false })
      .sign(key.privateKey);
    const token = `${flattened.protected}.${flattened.payload}.${flattened.signature}`;
    expect(ourOutcome(token, jwks)).toEqual({ ok: false, code: "ERR_TOKEN_MALFORMED" });
    expect((await joseOutcome(token, jwks)).ok).toBe(false);
  });

  it("refuses an algorithm that is supported but not enabled, as jose does", async () => {
    const token = tokens[0] as string;
    expect(ourOutcome(token, jwks, ["ES256"])).toEqual({ ok: false, code: "ERR_TOKEN_ALGORITHM" });
    await expectSameDecision(token, jwks, ["ES256"]);
  });

  it("never enables none or HMAC, even when asked to", async () => {
    const hs = await new SignJWT(kubeClaims()).setProtectedHeader({ alg: "HS256" }).sign(new Uint8Array(32));
    const none = `${base64url(JSON.stringify({ alg: "none" }))}.${base64url(JSON.stringify(kubeClaims()))}.`;
    const octSet = { keys: [{ kty: "oct", k: base64url(new Uint8Array(32)) }] };
    for (const token of [hs, none]) {
      expect(ourOutcome(token, octSet, ["HS256", "none"])).toEqual({
        ok: false,
        code: "ERR_TOKEN_ALGORITHM",
      });
    }
  });

  it("refuses an RS256 token from a key shorter than 2048 bits, as jose does", async () => {
    const { privateKey, publicKey } = keyPairSync("rsa", { modulusLength: 1024 });
    const small = { keys: [{ ...(publicKey.export({ format: "jwk" }) as JWK), kid: "small" }] };
    // jose will not sign with such a key either, so node:crypto does.
    const input = `${base64url(JSON.stringify({ alg: "RS256", kid: "small" }))}.${base64url(JSON.stringify(kubeClaims()))}`;
    const token = `${input}.${base64url(nodeSign("sha256", Buffer.from(input), privateKey))}`;
    expect(ourOutcome(token, small)).toEqual({ ok: false, code: "ERR_TOKEN_REJECTED" });
    await expectSameDecision(token, small);
  });

  it("tries every key of the token's type when the token has no kid, as jose does", async () => {
    const a = await makeKey("ES256", "a");
    const b = await makeKey("ES256", "b");
    const noKid = { keys: [a, b].map(({ publicJwk: { kid: _kid, ...jwk } }) => jwk) };
    const good = await new SignJWT(kubeClaims()).setProtectedHeader({ alg: "ES256" }).sign(b.privateKey);
    const forged = await new SignJWT(kubeClaims())
      .setProtectedHeader({ alg: "ES256" })
      .sign((keys[6] as TestKey).privateKey);
    expect(ourOutcome(good, noKid).ok).toBe(true);
    expect(ourOutcome(forged, noKid)).toEqual({ ok: false, code: "ERR_TOKEN_SIGNATURE" });
    await expectSameDecision(good, noKid);
    await expectSameDecision(forged, noKid);
  });

  const keyRules: [string, Record<string, unknown>, boolean][] = [
    ["use enc", { use: "enc" }, false],
    ["key_ops without verify", { key_ops: ["encrypt"] }, false],
    ["key_ops with duplicates", { key_ops: ["verify", "verify"] }, false],
    [
      "key_ops verify and sign (WebCrypto cannot import that public key)",
      { key_ops: ["verify", "sign"] },
      false,
    ],
    ["key_ops verify", { key_ops: ["verify"] }, true],
    ["a string ext", { ext: "yes" }, false],
    ["ext false", { ext: false }, true],
    ["alg pinned to another algorithm", { alg: "ES384" }, false],
    ["a numeric alg", { alg: 5 }, false],
    ["a point not on the curve", { y: base64url(Buffer.alloc(32, 1)) }, false],
  ];
  it.each(keyRules)("decides like jose on a key with %s", async (_name, change, accepted) => {
    const set = { keys: [{ ...(keys[6] as TestKey).publicJwk, ...change } as JWK] };
    const token = tokens[6] as string;
    expect(ourOutcome(token, set).ok).toBe(accepted);
    await expectSameDecision(token, set);
  });
});

describe("CompactJwsVerifier on mutated tokens (property)", () => {
  const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const odd = [..."=+/. \n%\u00e9"];

  type Mutation = (token: string) => string | Promise<string>;
  const at = (i: number, s: string) => Math.min(i, s.length);
  const mutation: fc.Arbitrary<Mutation> = fc.oneof(
    fc.tuple(fc.nat(), fc.constantFrom(...B64URL, ...odd)).map(
      ([i, c]) =>
        (t: string) =>
          `${t.slice(0, at(i, t) % t.length)}${c}${t.slice((at(i, t) % t.length) + 1)}`,
    ),
    fc.tuple(fc.nat(), fc.constantFrom(...B64URL, ...odd)).map(
      ([i, c]) =>
        (t: string) =>
          `${t.slice(0, at(i, t))}${c}${t.slice(at(i, t))}`,
    ),
    fc.nat().map((i) => (t: string) => t.slice(0, at(i, t) % t.length)),
    fc.nat({ max: 2 }).map(
      (part) => (t: string) =>
        t
          .split(".")
          .map((p, j) => (j === part ? `${p}=` : p))
          .join("."),
    ),
    fc.nat({ max: 2 }).map(
      (part) => (t: string) =>
        t
          .split(".")
          .map((p, j) => (j === part ? `${p}==` : p))
          .join("."),
    ),
    fc.nat({ max: 10 }).map((n) => (t: string) => {
      const [h, , s] = t.split(".");
      return `${h}.${(tokens[n] as string).split(".")[1]}.${s}`;
    }),
    fc.nat({ max: 10 }).map((n) => (t: string) => {
      const [h, p] = t.split(".");
      return `${h}.${p}.${(tokens[n] as string).split(".")[2]}`;
    }),
    fc
      .record({
        alg: fc.constantFrom(...ALL_ALGORITHMS, "none", "HS256", "", undefined),
        kid: fc.constantFrom(...ALL_ALGORITHMS.map((a) => `key-${a.toLowerCase()}`), "nope", undefined, 3),
        typ: fc.constantFrom("JWT", "at+jwt", undefined, 1),
      })
      .map((change) => (t: string) => resign(t, change)),
    fc.constant((t: string) => t.replace(/\./, "..")),
  );

  it("makes the same decision as jose for random mutations of valid tokens", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: 10 }),
        fc.array(mutation, { minLength: 1, maxLength: 3 }),
        async (n, mutations) => {
          let token = tokens[n] as string;
          for (const m of mutations) token = await m(token);
          await expectSameDecision(token, jwks);
        },
      ),
      { numRuns: 400 },
    );
    // Hundreds of RSA and EC verifications by two libraries: seconds on an idle machine, and
    // several times that on a loaded one. The limit is generous because speed is not what it tests.
  }, 180_000);

  it("never accepts a token with a flipped bit in its signed bytes", async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: 10 }), fc.nat(), fc.nat({ max: 7 }), async (n, pos, bit) => {
        const token = tokens[n] as string;
        const [h, p, s] = token.split(".") as [string, string, string];
        const parts = [Buffer.from(h, "base64url"), Buffer.from(p, "base64url"), Buffer.from(s, "base64url")];
        const which = pos % 3;
        const bytes = parts[which] as Buffer;
        const i = Math.floor(pos / 3) % bytes.length;
        bytes[i] = (bytes[i] as number) ^ (1 << bit);
        const mutated = parts.map((b) => b.toString("base64url")).join(".");
        expect(ourOutcome(mutated, jwks).ok).toBe(false);
        await expectSameDecision(mutated, jwks);
      }),
      { numRuns: 300 },
    );
  }, 180_000);
});

describe("isStrictBase64url", () => {
  const cases: [string, string, boolean][] = [
    ["the empty string", "", true],
    ["one full quantum", "YWJj", true],
    ["two characters with zero trailing bits", "YQ", true],
    ["two characters with non-zero trailing bits", "YR", false],
    ["three characters with zero trailing bits", "YWI", true],
    ["three characters with non-zero trailing bits", "YWJ", false],
    ["a single character", "Y", false],
    ["padding", "YQ==", false],
    ["the standard alphabet's plus", "a+bc", false],
    ["the standard alphabet's slash", "a/bc", false],
    ["the URL-safe minus and underscore", "-_-_", true],
    ["whitespace", "YW Jj", false],
    ["a non-ASCII letter", "YWJ\u00e9", false],
  ];
  it.each(cases)("judges %s", (_name, text, expected) => {
    expect(isStrictBase64url(text)).toBe(expected);
  });

  it("accepts exactly the canonical encoding of every byte string", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
        expect(isStrictBase64url(Buffer.from(bytes).toString("base64url"))).toBe(true);
      }),
    );
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...B64URL_AND_MORE), maxLength: 40 }), (text) => {
        expect(isStrictBase64url(text)).toBe(Buffer.from(text, "base64url").toString("base64url") === text);
      }),
      { numRuns: 2000 },
    );
  });
});

const B64URL_AND_MORE = [..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/ ."];

/** `token` with its header changed (undefined deletes a member) and its signature kept. */
function resign(token: string, change: Record<string, unknown>): string {
  const [h, p, s] = token.split(".");
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(h ?? "", "base64url").toString("utf8")) as Record<string, unknown>;
  } catch {
    return token; // an earlier mutation already broke the header
  }
  if (typeof header !== "object" || header === null) return token;
  for (const [k, v] of Object.entries(change)) {
    if (v === undefined) delete header[k];
    else header[k] = v;
  }
  return `${base64url(JSON.stringify(header))}.${p}.${s}`;
}

/** A compact JWS over arbitrary payload bytes (what SignJWT will not produce). */
function signRaw(
  key: TestKey,
  payload: string | Uint8Array,
  header: Record<string, unknown> = {},
): Promise<string> {
  const bytes = typeof payload === "string" ? new TextEncoder().encode(payload) : payload;
  return new CompactSign(bytes)
    .setProtectedHeader({ alg: key.alg, kid: key.kid, ...header })
    .sign(key.privateKey);
}
