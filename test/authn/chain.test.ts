import { describe, expect, it } from "vitest";
import type { AuthenticationFailure, Authenticator, AuthnInput, Caller } from "../../src/authn/index.js";
import { authenticateChain } from "../../src/authn/index.js";
import { MeshsignError } from "../../src/errors/index.js";

const input: AuthnInput = { authorization: ["Bearer secret-token-value"], clusterId: [] };

function accepting(name: string, identity: string, calls: string[] = []): Authenticator {
  return {
    name,
    authenticate: async () => {
      calls.push(name);
      return { identities: [identity], source: "jwks" } satisfies Caller;
    },
  };
}

function refusing(name: string, error: unknown, calls: string[] = []): Authenticator {
  return {
    name,
    authenticate: async () => {
      calls.push(name);
      throw error;
    },
  };
}

async function failure(promise: Promise<unknown>): Promise<MeshsignError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(MeshsignError);
  return err as MeshsignError;
}

describe("authenticateChain", () => {
  it("returns the first authenticator's caller that accepts and asks no further", async () => {
    const calls: string[] = [];
    const caller = await authenticateChain(
      [
        refusing("client-cert", new MeshsignError("ERR_CLIENT_CERT_INVALID", "no client certificate"), calls),
        accepting("jwks", "spiffe://cluster.local/ns/a/sa/b", calls),
        accepting("tokenreview", "spiffe://cluster.local/ns/c/sa/d", calls),
      ],
      input,
    );
    expect(caller.identities).toEqual(["spiffe://cluster.local/ns/a/sa/b"]);
    expect(calls).toEqual(["client-cert", "jwks"]);
  });

  it("refuses with ERR_UNAUTHENTICATED naming every reason when none accepts", async () => {
    const err = await failure(
      authenticateChain(
        [
          refusing("client-cert", new MeshsignError("ERR_CLIENT_CERT_INVALID", "no client certificate")),
          refusing("jwks", new MeshsignError("ERR_TOKEN_EXPIRED", "token expired")),
        ],
        input,
      ),
    );
    expect(err.code).toBe("ERR_UNAUTHENTICATED");
    expect(err.retry).toBe("terminal");
    expect(err.message).toBe(
      "authentication failed (client-cert: no client certificate; jwks: token expired)",
    );
    expect(err.detail.failures).toEqual([
      {
        authenticator: "client-cert",
        code: "ERR_CLIENT_CERT_INVALID",
        message: "no client certificate",
        retry: "terminal",
      },
      { authenticator: "jwks", code: "ERR_TOKEN_EXPIRED", message: "token expired", retry: "terminal" },
    ] satisfies AuthenticationFailure[]);
    expect(err.cause).toBeInstanceOf(AggregateError);
  });

  it("reports a transient backend failure as transient so the client retries", async () => {
    const err = await failure(
      authenticateChain(
        [
          refusing("client-cert", new MeshsignError("ERR_CLIENT_CERT_INVALID", "no client certificate")),
          refusing(
            "tokenreview",
            new MeshsignError(
              "ERR_AUTHN_BACKEND_UNAVAILABLE",
              "the Kubernetes TokenReview API is unavailable",
              {
                retry: "transient",
              },
            ),
          ),
        ],
        input,
      ),
    );
    expect(err.code).toBe("ERR_AUTHN_BACKEND_UNAVAILABLE");
    expect(err.retry).toBe("transient");
    expect(err.message).toMatch(/tokenreview: the Kubernetes TokenReview API is unavailable/);
  });

  it("treats a caller without identities as a refusal", async () => {
    const empty: Authenticator = {
      name: "odd",
      authenticate: async () => ({ identities: [], source: "jwks" }),
    };
    const err = await failure(authenticateChain([empty], input));
    expect(err.code).toBe("ERR_UNAUTHENTICATED");
    expect(err.message).toMatch(/odd: credential carries no identity/);
  });

  it("hides the message of an unexpected error behind 'internal error'", async () => {
    const err = await failure(
      authenticateChain([refusing("buggy", new Error("secret-token-value leaked"))], input),
    );
    expect(err.code).toBe("ERR_UNAUTHENTICATED");
    expect(err.message).toBe("authentication failed (buggy: internal error)");
    expect(err.message).not.toContain("secret-token-value");
  });

  it("refuses when no authenticator is configured", async () => {
    const err = await failure(authenticateChain([], input));
    expect(err.code).toBe("ERR_UNAUTHENTICATED");
    expect(err.message).toMatch(/no authenticator is configured/);
  });
});
