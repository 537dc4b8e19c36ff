import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { TokenReviewer, TokenReviewStatus } from "../../src/authn/index.js";
import { KubeTokenReviewer, TokenReviewAuthenticator } from "../../src/authn/index.js";
import { MeshsignError } from "../../src/errors/index.js";
import { base64url, bearer, NOW_SECONDS, TestServer } from "./helpers.js";

let now = NOW_SECONDS * 1000;
const clock = () => now;

/** A JWT-shaped token; the fake reviewer decides validity, so the signature is filler. */
function token(name: string, exp: number | undefined = NOW_SECONDS + 3600): string {
  const payload = exp === undefined ? { name } : { name, exp };
  return `${base64url(JSON.stringify({ alg: "RS256", kid: "k" }))}.${base64url(JSON.stringify(payload))}.${base64url(name)}`;
}

function accepted(
  username = "system:serviceaccount:foo:bar",
  extra?: Record<string, string[]>,
): TokenReviewStatus {
  return {
    authenticated: true,
    audiences: ["istio-ca"],
    user: {
      username,
      uid: "7b3c2c0e-6d0e-4d53-9a6e-5a8f3b1e0c11",
      groups: ["system:serviceaccounts", "system:serviceaccounts:foo", "system:authenticated"],
      ...(extra === undefined ? {} : { extra }),
    },
  };
}

class FakeReviewer implements TokenReviewer {
  readonly calls: { token: string; audiences: readonly string[] }[] = [];
  answer: () => Promise<TokenReviewStatus> = async () => accepted();
  async review(t: string, audiences: readonly string[]): Promise<TokenReviewStatus> {
    this.calls.push({ token: t, audiences });
    return this.answer();
  }
}

async function rejection(promise: Promise<unknown>): Promise<MeshsignError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, "expected a rejection").toBeInstanceOf(MeshsignError);
  return err as MeshsignError;
}

let reviewer: FakeReviewer;
beforeEach(() => {
  now = NOW_SECONDS * 1000;
  reviewer = new FakeReviewer();
});

function authenticator(
  options: { cacheTtlSeconds?: number; cacheMaxEntries?: number; audiences?: string[] } = {},
) {
  return new TokenReviewAuthenticator({ reviewer, trustDomain: "cluster.local", clock, ...options });
}

describe("TokenReviewAuthenticator rules", () => {
  it("accepts a bound service-account token and takes pod name and UID from user.extra", async () => {
    reviewer.answer = async () =>
      accepted("system:serviceaccount:foo:bar", {
        "authentication.kubernetes.io/pod-name": ["bar-5d9c7"],
        "authentication.kubernetes.io/pod-uid": ["0f7e4a1c-1111-4c2b-8a77-123456789abc"],
      });
    const t = token("a");
    expect(await authenticator().authenticate(bearer(t))).toEqual({
      identities: ["spiffe://cluster.local/ns/foo/sa/bar"],
      source: "tokenreview",
      kubernetes: {
        namespace: "foo",
        serviceAccount: "bar",
        podName: "bar-5d9c7",
        podUid: "0f7e4a1c-1111-4c2b-8a77-123456789abc",
      },
      expiresAt: NOW_SECONDS + 3600,
    });
    expect(reviewer.calls).toEqual([{ token: t, audiences: ["istio-ca"] }]);
  });

  it("accepts a legacy token without pod information", async () => {
    const caller = await authenticator().authenticate(bearer(token("a")));
    expect(caller.kubernetes).toEqual({ namespace: "foo", serviceAccount: "bar" });
  });

  it("reviews with the configured audiences and accepts any of them coming back", async () => {
    reviewer.answer = async () => ({ ...accepted(), audiences: ["meshsign"] });
    const caller = await authenticator({ audiences: ["istio-ca", "meshsign"] }).authenticate(
      bearer(token("a")),
    );
    expect(caller.identities).toEqual(["spiffe://cluster.local/ns/foo/sa/bar"]);
    expect(reviewer.calls[0]?.audiences).toEqual(["istio-ca", "meshsign"]);
  });

  const refused: [string, TokenReviewStatus, string, RegExp][] = [
    [
      "a review that reports an error",
      { ...accepted(), authenticated: false, error: "token has expired" },
      "ERR_TOKEN_REJECTED",
      /rejected by the Kubernetes API server/,
    ],
    [
      "a review with an error even if authenticated",
      { ...accepted(), error: "something odd" },
      "ERR_TOKEN_REJECTED",
      /rejected/,
    ],
    [
      "a review that is not authenticated",
      { ...accepted(), authenticated: false },
      "ERR_TOKEN_REJECTED",
      /not authenticated/,
    ],
    [
      "a review without the authenticated field",
      { user: accepted().user ?? {}, audiences: ["istio-ca"] },
      "ERR_TOKEN_REJECTED",
      /not authenticated/,
    ],
    [
      "a review that returns no audiences (the token is for the API server)",
      { ...accepted(), audiences: [] },
      "ERR_TOKEN_AUDIENCE",
      /audience mismatch/,
    ],
    [
      "a review for another audience",
      { ...accepted(), audiences: ["vault"] },
      "ERR_TOKEN_AUDIENCE",
      /audience mismatch/,
    ],
    [
      "a user outside the system:serviceaccounts group",
      {
        ...accepted(),
        user: { username: "system:serviceaccount:foo:bar", groups: ["system:authenticated"] },
      },
      "ERR_TOKEN_CLAIMS",
      /system:serviceaccounts/,
    ],
    [
      "a username with three parts",
      accepted("system:serviceaccount:foo"),
      "ERR_TOKEN_CLAIMS",
      /system:serviceaccount:<namespace>/,
    ],
    [
      "a username with five parts",
      accepted("system:serviceaccount:foo:bar:baz"),
      "ERR_TOKEN_CLAIMS",
      /system:serviceaccount:<namespace>/,
    ],
    [
      "a username with an empty namespace",
      accepted("system:serviceaccount::bar"),
      "ERR_TOKEN_CLAIMS",
      /system:serviceaccount:<namespace>/,
    ],
    [
      "a username with an empty service account",
      accepted("system:serviceaccount:foo:"),
      "ERR_TOKEN_CLAIMS",
      /system:serviceaccount:<namespace>/,
    ],
    [
      "a node username",
      accepted("system:node:worker-1"),
      "ERR_TOKEN_CLAIMS",
      /system:serviceaccount:<namespace>/,
    ],
    ["an empty status", {}, "ERR_TOKEN_REJECTED", /not authenticated/],
  ];
  it.each(refused)("refuses %s", async (_name, status, code, message) => {
    reviewer.answer = async () => status;
    const t = token("a");
    const err = await rejection(authenticator().authenticate(bearer(t)));
    expect(err.code).toBe(code);
    expect(err.message).toMatch(message);
    expect(err.message).not.toContain(t);
    expect(err.retry).toBe("terminal");
  });

  it("reports an unreachable API server as a transient backend failure", async () => {
    reviewer.answer = async () => {
      throw new Error("connect ECONNREFUSED 10.96.0.1:443");
    };
    const err = await rejection(authenticator().authenticate(bearer(token("a"))));
    expect(err.code).toBe("ERR_AUTHN_BACKEND_UNAVAILABLE");
    expect(err.retry).toBe("transient");
  });

  it("refuses a token whose exp is already past without asking the API server", async () => {
    const err = await rejection(authenticator().authenticate(bearer(token("old", NOW_SECONDS - 120))));
    expect(err.code).toBe("ERR_TOKEN_EXPIRED");
    expect(reviewer.calls).toHaveLength(0);
  });

  it("refuses a foreign clusterid without asking the API server", async () => {
    const err = await rejection(authenticator().authenticate(bearer(token("a"), ["remote"])));
    expect(err.code).toBe("ERR_CLUSTER_ID_MISMATCH");
    expect(reviewer.calls).toHaveLength(0);
  });

  it("refuses a request without a bearer token without asking the API server", async () => {
    const err = await rejection(authenticator().authenticate({ authorization: ["bearer x"], clusterId: [] }));
    expect(err.code).toBe("ERR_TOKEN_MISSING");
    expect(reviewer.calls).toHaveLength(0);
  });
});

describe("TokenReviewAuthenticator cache", () => {
  it("answers a repeated token from the cache", async () => {
    const auth = authenticator();
    const t = token("a");
    const first = await auth.authenticate(bearer(t));
    now += 59_000;
    const second = await auth.authenticate(bearer(t));
    expect(second).toEqual(first);
    expect(auth.reviewCalls).toBe(1);
  });

  it("hands out copies, so a caller mutating its result does not poison the cache", async () => {
    const auth = authenticator();
    const first = await auth.authenticate(bearer(token("a")));
    first.identities.push("spiffe://cluster.local/ns/kube-system/sa/admin");
    expect((await auth.authenticate(bearer(token("a")))).identities).toEqual([
      "spiffe://cluster.local/ns/foo/sa/bar",
    ]);
  });

  it("reviews different tokens separately", async () => {
    const auth = authenticator();
    await auth.authenticate(bearer(token("a")));
    await auth.authenticate(bearer(token("b")));
    expect(auth.reviewCalls).toBe(2);
  });

  it("reviews again once the cache TTL has passed", async () => {
    const auth = authenticator({ cacheTtlSeconds: 60 });
    await auth.authenticate(bearer(token("a")));
    now += 60_001;
    await auth.authenticate(bearer(token("a")));
    expect(auth.reviewCalls).toBe(2);
  });

  it("reviews again once the cache TTL has passed, even when the wall clock stepped back (NTP) meanwhile", async () => {
    const auth = authenticator({ cacheTtlSeconds: 60 });
    await auth.authenticate(bearer(token("a")));
    now -= 3_600_000;
    now += 61_000;
    // 61 s after the review by any clock that keeps time: the pod may be gone, ask again.
    await auth.authenticate(bearer(token("a")));
    expect(auth.reviewCalls).toBe(2);
  });

  it("never keeps a result past the token's own exp", async () => {
    const auth = authenticator({ cacheTtlSeconds: 600 });
    const t = token("short", NOW_SECONDS + 20);
    await auth.authenticate(bearer(t));
    now += 19_000;
    await auth.authenticate(bearer(t));
    expect(auth.reviewCalls).toBe(1);
    now += 2_000; // past exp, still inside the clock skew, so the API server is asked again
    await auth.authenticate(bearer(t));
    expect(auth.reviewCalls).toBe(2);
  });

  it("caches an opaque (non-JWT) token for the TTL", async () => {
    const auth = authenticator({ cacheTtlSeconds: 60 });
    await auth.authenticate(bearer("opaque-token"));
    await auth.authenticate(bearer("opaque-token"));
    expect(auth.reviewCalls).toBe(1);
  });

  it("does not cache refusals", async () => {
    const auth = authenticator();
    reviewer.answer = async () => ({ authenticated: false });
    await rejection(auth.authenticate(bearer(token("a"))));
    reviewer.answer = async () => accepted();
    expect((await auth.authenticate(bearer(token("a")))).identities).toHaveLength(1);
    expect(auth.reviewCalls).toBe(2);
  });

  it("does not cache backend failures", async () => {
    const auth = authenticator();
    reviewer.answer = async () => {
      throw new Error("503");
    };
    await rejection(auth.authenticate(bearer(token("a"))));
    reviewer.answer = async () => accepted();
    await auth.authenticate(bearer(token("a")));
    expect(auth.reviewCalls).toBe(2);
  });

  it("evicts the least recently used result when full", async () => {
    const auth = authenticator({ cacheMaxEntries: 2 });
    await auth.authenticate(bearer(token("a")));
    await auth.authenticate(bearer(token("b")));
    await auth.authenticate(bearer(token("a"))); // a is now the most recent
    await auth.authenticate(bearer(token("c"))); // evicts b
    expect(auth.reviewCalls).toBe(3);
    await auth.authenticate(bearer(token("a")));
    expect(auth.reviewCalls).toBe(3);
    await auth.authenticate(bearer(token("b")));
    expect(auth.reviewCalls).toBe(4);
  });

  it("reviews every time when the cache is disabled", async () => {
    const auth = authenticator({ cacheTtlSeconds: 0 });
    await auth.authenticate(bearer(token("a")));
    await auth.authenticate(bearer(token("a")));
    expect(auth.reviewCalls).toBe(2);
  });

  it("shares one review among concurrent requests with the same token", async () => {
    const auth = authenticator();
    let release: (s: TokenReviewStatus) => void = () => {};
    reviewer.answer = () => new Promise((resolve) => (release = resolve));
    const pending = Array.from({ length: 5 }, () => auth.authenticate(bearer(token("a"))));
    await Promise.resolve();
    release(accepted());
    const callers = await Promise.all(pending);
    expect(callers.every((c) => c.identities[0] === "spiffe://cluster.local/ns/foo/sa/bar")).toBe(true);
    expect(auth.reviewCalls).toBe(1);
  });

  it("refuses invalid cache options, naming them", () => {
    expect(() => authenticator({ cacheTtlSeconds: -1 })).toThrow(/cacheTtlSeconds/);
    expect(() => authenticator({ cacheMaxEntries: 1.5 })).toThrow(/cacheMaxEntries/);
    expect(() => authenticator({ audiences: [] })).toThrow(/audiences/);
  });
});

describe("KubeTokenReviewer", () => {
  it("sends a TokenReview with the token and audiences and returns its status", async () => {
    const bodies: unknown[] = [];
    const api = {
      createTokenReview: async (param: { body: unknown }) => {
        bodies.push(param.body);
        return { status: accepted() };
      },
    };
    const status = await new KubeTokenReviewer(api as never).review("tok", ["istio-ca"]);
    expect(status).toEqual(accepted());
    expect(bodies).toEqual([
      {
        apiVersion: "authentication.k8s.io/v1",
        kind: "TokenReview",
        spec: { token: "tok", audiences: ["istio-ca"] },
      },
    ]);
  });

  it("maps an API error to a transient failure that names the HTTP status, not the token", async () => {
    const api = {
      createTokenReview: async () => {
        throw Object.assign(new Error("HTTP-Code: 403 Message: forbidden"), { code: 403 });
      },
    };
    const err = await rejection(new KubeTokenReviewer(api as never).review("secret-token", ["istio-ca"]));
    expect(err.code).toBe("ERR_AUTHN_BACKEND_UNAVAILABLE");
    expect(err.retry).toBe("transient");
    expect(err.detail).toEqual({ status: 403 });
    expect(JSON.stringify(err.detail) + err.message).not.toContain("secret-token");
  });

  it("gives up on an API server that does not answer", async () => {
    const api = { createTokenReview: () => new Promise(() => {}) };
    const err = await rejection(new KubeTokenReviewer(api as never, 20).review("tok", ["istio-ca"]));
    expect(err.code).toBe("ERR_AUTHN_BACKEND_UNAVAILABLE");
    expect(err.message).toMatch(/did not answer in time/);
  });

  describe("through @kubernetes/client-node against a loopback API server", () => {
    const server = new TestServer();
    beforeAll(() => server.start());
    afterAll(() => server.stop());

    it("POSTs to the tokenreviews endpoint with the kubeconfig's credentials", async () => {
      server.routes.set("/apis/authentication.k8s.io/v1/tokenreviews", (body) => ({
        status: 201,
        body: { ...JSON.parse(body), status: accepted() },
      }));
      const { KubeConfig } = await import("@kubernetes/client-node");
      const kc = new KubeConfig();
      kc.loadFromOptions({
        clusters: [{ name: "test", server: server.url, skipTLSVerify: true }],
        users: [{ name: "meshsign", token: "meshsign-sa-token" }],
        contexts: [{ name: "test", cluster: "test", user: "meshsign" }],
        currentContext: "test",
      });
      const reviewer = await KubeTokenReviewer.fromKubeConfig(kc);
      const auth = new TokenReviewAuthenticator({ reviewer, trustDomain: "cluster.local", clock });
      const t = token("workload");
      expect((await auth.authenticate(bearer(t))).identities).toEqual([
        "spiffe://cluster.local/ns/foo/sa/bar",
      ]);
      const request = server.requests.at(-1);
      expect(request?.method).toBe("POST");
      expect(JSON.parse(request?.body ?? "{}")).toMatchObject({
        kind: "TokenReview",
        spec: { token: t, audiences: ["istio-ca"] },
      });
      expect(server.authorizations.at(-1)).toBe("Bearer meshsign-sa-token");
    });

    it("maps a 403 from the API server to a transient failure", async () => {
      server.routes.set("/apis/authentication.k8s.io/v1/tokenreviews", () => ({
        status: 403,
        body: { kind: "Status", apiVersion: "v1", status: "Failure", reason: "Forbidden", code: 403 },
      }));
      const { KubeConfig } = await import("@kubernetes/client-node");
      const kc = new KubeConfig();
      kc.loadFromClusterAndUser({ name: "test", server: server.url, skipTLSVerify: true }, { name: "anon" });
      const err = await rejection((await KubeTokenReviewer.fromKubeConfig(kc)).review("tok", ["istio-ca"]));
      expect(err.code).toBe("ERR_AUTHN_BACKEND_UNAVAILABLE");
      expect(err.detail).toEqual({ status: 403 });
    });
  });
});
