import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  AcmeClient,
  type AcmeOrder,
  accountKeyAlgorithm,
  describeProblem,
  downloadCertificate,
  finalizeOrder,
  getAuthorization,
  getOrder,
  MAX_BAD_NONCE_RETRIES,
  problemOf,
  type Transport,
  waitOrder,
} from "../../src/acme/index.js";
import { retryAfterMs } from "../../src/acme/lib/retry-after.js";
import { parseProblem, problemError } from "../../src/acme/problems.js";
import { isMeshsignError, type MeshsignError } from "../../src/errors/index.js";
import { generateKeySync } from "../../src/pki/index.js";
import { keyPairSync } from "../lib/key-pair.js";

const BASE = "https://acme.test";
const DIRECTORY = {
  newNonce: `${BASE}/nonce`,
  newAccount: `${BASE}/account`,
  newOrder: `${BASE}/order`,
  meta: { profiles: { classic: "c" } },
};

interface Reply {
  readonly status: number;
  readonly body?: unknown;
  readonly headers?: Record<string, string | string[]>;
}

/** A scripted ACME server: the directory, nonces on every answer, then `replies` in order for POSTs. */
function fakeServer(replies: Reply[]) {
  let n = 0;
  const seen = { nonceFetches: 0, posts: 0, nonces: [] as string[] };
  const transport: Transport = async (method, url, body) => {
    const nonce = `nonce${n++}`;
    if (method === "GET" && url === `${BASE}/dir`)
      return { status: 200, headers: {}, body: Buffer.from(JSON.stringify(DIRECTORY)) };
    if (method === "GET" && url === DIRECTORY.newNonce) {
      seen.nonceFetches++;
      return { status: 200, headers: { "replay-nonce": nonce }, body: Buffer.alloc(0) };
    }
    seen.posts++;
    const jws = JSON.parse(body?.data ?? "{}") as { protected: string };
    seen.nonces.push(JSON.parse(Buffer.from(jws.protected, "base64url").toString()).nonce);
    const r = replies.shift() ?? { status: 500 };
    const text = typeof r.body === "string" ? r.body : JSON.stringify(r.body ?? {});
    return { status: r.status, headers: { "replay-nonce": nonce, ...r.headers }, body: Buffer.from(text) };
  };
  return { transport, seen };
}

const badNonce = {
  status: 400,
  body: { type: "urn:ietf:params:acme:error:badNonce", detail: "JWS has an invalid anti-replay nonce" },
};

async function connect(replies: Reply[], sleeps: number[] = []) {
  const server = fakeServer(replies);
  const client = await AcmeClient.connect({
    directoryUrl: `${BASE}/dir`,
    accountKey: generateKeySync({ type: "ec", curve: "P-256" }),
    accountUrl: `${BASE}/acct/1`,
    transport: server.transport,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
  });
  return { client, server };
}

describe("AcmeClient.post", () => {
  it("retries a badNonce with the nonce that refusal carried, counts it, and returns the success", async () => {
    const { client, server } = await connect([badNonce, badNonce, { status: 200, body: { ok: true } }]);
    const res = await client.post(`${BASE}/thing`, undefined, "thing");
    expect(res.status).toBe(200);
    expect(client.stats.badNonceRetries).toBe(2);
    // One newNonce fetch; every later nonce came from the previous answer, none used twice.
    expect(server.seen.nonceFetches).toBe(1);
    expect(new Set(server.seen.nonces).size).toBe(server.seen.nonces.length);
  });

  it("gives up after the retry budget and reports the CA's badNonce as transient", async () => {
    const { client } = await connect(Array.from({ length: MAX_BAD_NONCE_RETRIES + 1 }, () => badNonce));
    const err = await client.post(`${BASE}/thing`, undefined, "thing").catch((e: unknown) => e);
    expect(isMeshsignError(err, "ERR_ACME_PROBLEM")).toBe(true);
    expect((err as MeshsignError).retry).toBe("transient");
    expect(client.stats.badNonceRetries).toBe(MAX_BAD_NONCE_RETRIES);
  });

  it("waits out a short Retry-After on 429 and 503, then succeeds", async () => {
    const sleeps: number[] = [];
    const rateLimited = { type: "urn:ietf:params:acme:error:rateLimited", detail: "slow down" };
    const { client } = await connect(
      [
        { status: 429, body: rateLimited, headers: { "retry-after": "2" } },
        { status: 503, body: "", headers: { "retry-after": "1" } },
        { status: 201, body: {} },
      ],
      sleeps,
    );
    expect((await client.post(`${BASE}/thing`, {}, "thing")).status).toBe(201);
    expect(sleeps).toEqual([2000, 1000]);
  });

  it("returns a long Retry-After as a transient rateLimited error carrying the wait, without sleeping", async () => {
    const sleeps: number[] = [];
    const { client } = await connect(
      [
        {
          status: 429,
          body: {
            type: "urn:ietf:params:acme:error:rateLimited",
            detail: "too many certificates for example.com",
          },
          headers: { "retry-after": "3600" },
        },
      ],
      sleeps,
    );
    const err = (await client
      .post(`${BASE}/order`, {}, "newOrder")
      .catch((e: unknown) => e)) as MeshsignError;
    expect(err.code).toBe("ERR_ACME_PROBLEM");
    expect(err.retry).toBe("transient");
    expect(err.detail.retryAfterMs).toBe(3_600_000);
    expect(err.message).toBe(
      "ACME server refused newOrder: rateLimited: too many certificates for example.com",
    );
    expect(sleeps).toEqual([]);
  });

  it("makes a 429 transient whatever its problem type (a front proxy's about:blank), with its Retry-After", async () => {
    const { client } = await connect([
      {
        status: 429,
        body: { type: "about:blank", title: "Too Many Requests", detail: "request limit exceeded" },
        headers: { "retry-after": "600" },
      },
    ]);
    const err = (await client
      .post(`${BASE}/order`, {}, "newOrder")
      .catch((e: unknown) => e)) as MeshsignError;
    expect(err.code).toBe("ERR_ACME_PROBLEM");
    expect(err.retry).toBe("transient");
    expect(err.detail.retryAfterMs).toBe(600_000);
    expect(err.message).toContain("request limit exceeded");
  });

  it("makes a 4xx problem terminal with its subproblems in the message", async () => {
    const { client } = await connect([
      {
        status: 400,
        body: {
          type: "urn:ietf:params:acme:error:rejectedIdentifier",
          detail: "Some identifiers were rejected",
          subproblems: [
            {
              type: "urn:ietf:params:acme:error:rejectedIdentifier",
              detail: "blocked by policy",
              identifier: { type: "dns", value: "blocked.example" },
            },
          ],
        },
      },
    ]);
    const err = (await client
      .post(`${BASE}/order`, {}, "newOrder")
      .catch((e: unknown) => e)) as MeshsignError;
    expect(err.retry).toBe("terminal");
    expect(err.message).toContain("blocked.example: rejectedIdentifier: blocked by policy");
    expect(problemOf(err)?.subproblems?.[0]?.identifier).toEqual({ type: "dns", value: "blocked.example" });
  });

  it("reports an error status without a problem document by its HTTP status", async () => {
    const { client } = await connect([{ status: 502, body: "<html>bad gateway</html>" }]);
    const err = (await client
      .post(`${BASE}/x`, undefined, "order")
      .catch((e: unknown) => e)) as MeshsignError;
    expect(err.code).toBe("ERR_ACME_UNAVAILABLE");
    expect(err.retry).toBe("transient");
    expect(err.message).not.toContain("html");
  });

  it("refuses a kid request without an account, before sending anything", async () => {
    const server = fakeServer([]);
    const client = await AcmeClient.connect({
      directoryUrl: `${BASE}/dir`,
      accountKey: generateKeySync({ type: "ec", curve: "P-256" }),
      transport: server.transport,
    });
    await expect(client.post(`${BASE}/x`, undefined, "order")).rejects.toThrow(/needs an ACME account/);
    expect(server.seen.posts).toBe(0);
  });
});

describe("polling a pending resource", () => {
  const order = (status: string) => ({
    status,
    identifiers: [{ type: "dns", value: "a.example.com" }],
    authorizations: [],
    finalize: `${BASE}/finalize/1`,
  });

  it("sleeps the CA's Retry-After between polls (clamped to at least 500 ms) until the wanted state", async () => {
    const sleeps: number[] = [];
    const { client } = await connect(
      [
        { status: 200, body: order("pending"), headers: { "retry-after": "3" } },
        { status: 200, body: order("pending"), headers: { "retry-after": "0" } },
        { status: 200, body: order("ready") },
      ],
      sleeps,
    );
    const ready = await waitOrder(client, `${BASE}/order/1`, ["ready"], Date.now() + 60_000);
    expect(ready.status).toBe("ready");
    expect(sleeps).toEqual([3000, 500]);
  });

  it("stops at the deadline with a transient timeout instead of waiting forever", async () => {
    let now = 0;
    const server = fakeServer(Array.from({ length: 10 }, () => ({ status: 200, body: order("pending") })));
    const client = await AcmeClient.connect({
      directoryUrl: `${BASE}/dir`,
      accountKey: generateKeySync({ type: "ec", curve: "P-256" }),
      accountUrl: `${BASE}/acct/1`,
      transport: server.transport,
      now: () => now,
      sleep: async (ms) => {
        now += ms;
      },
    });
    const err = (await waitOrder(client, `${BASE}/order/1`, ["ready"], 3_500).catch(
      (e: unknown) => e,
    )) as MeshsignError;
    expect(err.code).toBe("ERR_ACME_TIMEOUT");
    expect(err.retry).toBe("transient");
    expect(now).toBeLessThanOrEqual(3_500);
  });
});

describe("reading what the CA sends", () => {
  it("names an order's malformed URL in a protocol error, not an internal one", async () => {
    const { client } = await connect([
      {
        status: 200,
        body: {
          status: "pending",
          identifiers: [{ type: "dns", value: "a.example.com" }],
          authorizations: ["https://[::1"],
          finalize: `${BASE}/finalize/1`,
        },
      },
    ]);
    const err = (await getOrder(client, `${BASE}/order/1`).catch((e: unknown) => e)) as MeshsignError;
    expect(err.code).toBe("ERR_ACME_PROTOCOL");
    expect(err.message).toBe("ACME order authorization URL is not a URL");
  });

  it("names a Location that is not a URL in a protocol error, not an internal one", async () => {
    const { client } = await connect([{ status: 201, body: {}, headers: { location: "https://[::1" } }]);
    const err = (await client
      .post(`${BASE}/order`, {}, "newOrder")
      .catch((e: unknown) => e)) as MeshsignError;
    expect(err.code).toBe("ERR_ACME_PROTOCOL");
    expect(err.message).toBe("ACME server answered newOrder with a Location that is not a URL");
  });

  it("skips an alternate chain Link that is not a URL and keeps the others", async () => {
    const pem = `-----BEGIN CERTIFICATE-----\n${Buffer.from([1, 1, 1]).toString("base64")}\n-----END CERTIFICATE-----\n`;
    const { client } = await connect([
      {
        status: 200,
        body: pem,
        headers: { link: '<https://[::1>;rel="alternate", <https://acme.test/cert/1/1>;rel="alternate"' },
      },
    ]);
    expect((await downloadCertificate(client, `${BASE}/cert/1`)).alternates).toBe(1);
  });

  it("skips a challenge whose URL is not a URL and keeps the others of the authorization", async () => {
    const token = "t".repeat(43);
    const { client } = await connect([
      {
        status: 200,
        body: {
          status: "pending",
          identifier: { type: "dns", value: "a.example.com" },
          challenges: [
            { type: "tls-alpn-01", url: "not a url", status: "pending", token },
            { type: "http-01", url: `${BASE}/chall/1`, status: "pending", token },
          ],
        },
      },
    ]);
    const authz = await getAuthorization(client, `${BASE}/authz/1`);
    expect(authz.challenges.map((c) => c.type)).toEqual(["http-01"]);
  });
});

describe("finalizing", () => {
  it("says why the CA failed the order after the CSR, its subproblems (which name, what check) included", async () => {
    const order = (status: string, extra: Record<string, unknown> = {}) => ({
      status,
      identifiers: [{ type: "dns", value: "a.example.com" }],
      authorizations: [],
      finalize: `${BASE}/finalize/1`,
      ...extra,
    });
    const { client } = await connect([
      { status: 200, body: order("processing") },
      {
        status: 200,
        body: order("invalid", {
          error: {
            type: "urn:ietf:params:acme:error:caa",
            detail: "Rechecking CAA for 1 identifier failed. Refer to sub-problems for more information",
            subproblems: [
              {
                type: "urn:ietf:params:acme:error:caa",
                detail: "CAA record for a.example.com prevents issuance",
                identifier: { type: "dns", value: "a.example.com" },
              },
            ],
          },
        }),
      },
    ]);
    const ready: AcmeOrder = {
      url: `${BASE}/order/1`,
      status: "ready",
      identifiers: [{ type: "dns", value: "a.example.com" }],
      authorizations: [],
      finalize: `${BASE}/finalize/1`,
    };
    const err = (await finalizeOrder(client, ready, new Uint8Array([1]), Date.now() + 60_000).catch(
      (e: unknown) => e,
    )) as MeshsignError;
    expect(err.code).toBe("ERR_ACME_ORDER_INVALID");
    expect(err.message).toContain("a.example.com: caa: CAA record for a.example.com prevents issuance");
  });
});

describe("certificate download", () => {
  const pem = (n: number) =>
    `-----BEGIN CERTIFICATE-----\n${Buffer.from([n, n, n]).toString("base64")}\n-----END CERTIFICATE-----\n`;
  it("reads every rel=alternate Link, repeated or comma-joined, and ignores other relations", async () => {
    // The bodies are not certificates: the default chain is taken when no preferredChain is set.
    const { client } = await connect([
      {
        status: 200,
        body: pem(1),
        headers: {
          link: '<https://acme.test/cert/1/1>;rel="alternate", <https://acme.test/dir>;rel="index", <https://acme.test/cert/1/2>; rel=alternate',
        },
      },
    ]);
    const chain = await downloadCertificate(client, `${BASE}/cert/1`);
    expect(chain.alternates).toBe(2);
    expect(chain.url).toBe(`${BASE}/cert/1`);
  });
});

describe("problem documents", () => {
  it("cleans control characters from the CA's text and caps its length", () => {
    const p = parseProblem({
      type: "urn:ietf:params:acme:error:malformed",
      detail: `a\u0000b\nc${"x".repeat(2000)}`,
    });
    expect(p?.detail?.startsWith("a b c")).toBe(true);
    expect(p?.detail?.length).toBeLessThanOrEqual(515);
  });

  it.each([
    ["rateLimited", 429, "transient"],
    ["serverInternal", 500, "transient"],
    ["badNonce", 400, "transient"],
    ["unauthorized", 403, "terminal"],
    ["rejectedIdentifier", 400, "terminal"],
    ["malformed", 503, "transient"],
  ])("classifies %s with HTTP %i as %s", (type, status, retry) => {
    const err = problemError(
      { type: `urn:ietf:params:acme:error:${type}` },
      { action: "x", url: BASE, status },
    );
    expect(err.retry).toBe(retry);
  });

  it("never throws on arbitrary JSON and always yields a printable description", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const p = parseProblem(v);
        if (p !== undefined) expect(typeof describeProblem(p)).toBe("string");
      }),
    );
  });
});

describe("Retry-After", () => {
  it.each([
    ["120", 120_000],
    [" 5 ", 5_000],
    ["Thu, 01 Jan 1970 00:01:40 GMT", 40_000],
    ["Thu, 01 Jan 1970 00:00:00 GMT", 0],
    ["soon", undefined],
    ["-5", undefined],
    [undefined, undefined],
  ])("reads %s as %s ms", (value, ms) => {
    expect(retryAfterMs(value, 60_000)).toBe(ms);
  });
});

describe("account keys", () => {
  it.each([
    ["RSA 2048", "RS256", keyPairSync("rsa", { modulusLength: 2048 }).privateKey],
    ["EC P-256", "ES256", keyPairSync("ec", { namedCurve: "P-256" }).privateKey],
    ["EC P-384", "ES384", keyPairSync("ec", { namedCurve: "P-384" }).privateKey],
  ])("signs with %s as %s", (_n, alg, key) => {
    expect(accountKeyAlgorithm(key)).toBe(alg);
  });

  it.each([
    ["RSA 1024", keyPairSync("rsa", { modulusLength: 1024 }).privateKey],
    ["Ed25519", keyPairSync("ed25519").privateKey],
    ["a public key", keyPairSync("ec", { namedCurve: "P-256" }).publicKey],
  ])("refuses %s", (_n, key) => {
    expect(() => accountKeyAlgorithm(key)).toThrow(/account key/);
  });
});
