import { describe, expect, it } from "vitest";
import {
  type AuthnInput,
  DEFAULT_CLUSTER_ID,
  TokenReviewAuthenticator,
  type TokenReviewStatus,
} from "../../src/authn/index.js";
import { isMeshsignError } from "../../src/errors/index.js";

/*
 * istio/istio security/pkg/server/ca/authenticate/kubeauth/kube_jwt_test.go,
 * translated case by case: the TokenReview authenticator, with a fake
 * TokenReview API answering as the upstream reactor does. Upstream compares
 * whole Go error strings; each case here asserts the phrase that names the
 * failure.
 */

const UPSTREAM = "istio/istio security/pkg/server/ca/authenticate/kubeauth/kube_jwt_test.go";
const PRIMARY = DEFAULT_CLUSTER_ID;
const INVALID_TOKEN = "invalid-token";

/** The upstream reactor's TokenReview answer for `token`, with the audiences it returns. */
function review(token: string, audiences: string[]): TokenReviewStatus {
  return {
    authenticated: token !== INVALID_TOKEN,
    audiences,
    user: { username: "system:serviceaccount:default:example-pod-sa", groups: ["system:serviceaccounts"] },
  };
}

function authenticator(statusAudiences: string[]) {
  return new TokenReviewAuthenticator({
    reviewer: { review: async (token) => review(token, statusAudiences) },
    trustDomain: "example.com",
    clusterId: PRIMARY,
    cacheTtlSeconds: 0,
  });
}

/** Metadata as the upstream case builds it: its own values, then `Bearer <token>` appended when a token is set. */
function input(clusterId: string, authorization: string[], token: string): AuthnInput {
  return {
    clusterId: [clusterId],
    authorization: token ? [...authorization, `Bearer ${token}`] : authorization,
  };
}

async function outcome(a: TokenReviewAuthenticator, i: AuthnInput) {
  try {
    return { caller: await a.authenticate(i) };
  } catch (err) {
    if (!isMeshsignError(err)) throw err;
    return { error: err.message };
  }
}

describe(`${UPSTREAM} TestNewKubeJWTAuthenticator`, () => {
  it("an authenticator for the default cluster name accepts the Kubernetes cluster id", async () => {
    expect(DEFAULT_CLUSTER_ID).toBe("Kubernetes");
    const result = await outcome(authenticator(["istio-ca"]), input("Kubernetes", [], "bearer-token"));
    expect(result.caller?.identities).toEqual(["spiffe://example.com/ns/default/sa/example-pod-sa"]);
  });
});

describe(`${UPSTREAM} TestAuthenticate`, () => {
  it("No bearer token", async () => {
    const result = await outcome(authenticator([]), input(PRIMARY, ["Basic callername"], ""));
    expect(result.error).toContain("no bearer token");
  });

  it("token not authenticated", async () => {
    const result = await outcome(authenticator([]), input(PRIMARY, ["Basic callername"], INVALID_TOKEN));
    expect(result.error).toContain("not authenticated");
  });

  it("token authenticated (the bearer value after a Basic one), when the review names the requested audience", async () => {
    const result = await outcome(
      authenticator(["istio-ca"]),
      input(PRIMARY, ["Basic callername"], "bearer-token"),
    );
    expect(result.caller).toMatchObject({
      identities: ["spiffe://example.com/ns/default/sa/example-pod-sa"],
      kubernetes: { namespace: "default", serviceAccount: "example-pod-sa" },
    });
  });

  // Upstream's fake review returns no audiences and istiod accepts it. Deliberate: the TokenReview API says an
  // empty status.audiences means "valid for the API server", not for istio-ca, so meshsign refuses it.
  it("token authenticated, with the upstream fixture's empty status.audiences: refused (audience not confirmed)", async () => {
    const result = await outcome(authenticator([]), input(PRIMARY, ["Basic callername"], "bearer-token"));
    expect(result.error).toContain("audience mismatch");
  });

  it("not found remote cluster results in error", async () => {
    const result = await outcome(
      authenticator(["istio-ca"]),
      input("non-exist", ["Basic callername"], "bearer-token"),
    );
    expect(result.error).toContain('client claims to be in cluster "non-exist"');
  });
});

describe(`${UPSTREAM} TestIsAllowedKubernetesAudience`, () => {
  // Upstream allows the four API-server audiences for istiod's first-party-JWT mode. Deliberate: meshsign accepts
  // only the configured token audiences (istio-ca), so a token valid only for the API server is refused.
  it.each([
    { in: "kubernetes.default.svc", upstream: true },
    { in: "kubernetes.default.svc.cluster.local", upstream: true },
    { in: "https://kubernetes.default.svc", upstream: true },
    { in: "https://kubernetes.default.svc.cluster.local", upstream: true },
    { in: "foo.default.svc", upstream: false },
    { in: "foo.default.svc:80", upstream: false },
    { in: "https://foo.default.svc:80", upstream: false },
  ])(
    "$in (upstream: $upstream): refused, meshsign accepts only the configured audiences",
    async ({ in: aud }) => {
      const result = await outcome(authenticator([aud]), input(PRIMARY, [], "bearer-token"));
      expect(result.error).toContain("audience mismatch");
    },
  );
});
