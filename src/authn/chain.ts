import type { ErrorCode, Retry } from "../errors/index.js";
import { MeshsignError, toMeshsignError } from "../errors/index.js";
import type { Authenticator, AuthnInput, Caller } from "./types.js";

/** Why one authenticator refused; carried in the chain error's `detail.failures`. */
export interface AuthenticationFailure {
  readonly authenticator: string;
  readonly code: ErrorCode;
  /** The authenticator's client-safe message, e.g. "token expired". */
  readonly message: string;
  readonly retry: Retry;
}

/**
 * Runs the configured authenticators in order; the first that accepts (and
 * yields at least one identity) wins, like istio-csr and istiod.
 *
 * When none accepts:
 * - if any refusal was transient (e.g. the TokenReview API or a JWKS endpoint
 *   is down) it throws ERR_AUTHN_BACKEND_UNAVAILABLE with retry "transient", so
 *   the caller is told to come back rather than that its credential is bad;
 * - otherwise ERR_UNAUTHENTICATED whose message names each reason
 *   ("jwks: token expired"), never the credential itself.
 * Either way `detail.failures` lists each {@link AuthenticationFailure} and
 * `cause` is an AggregateError of the original errors (for the log only).
 */
export async function authenticateChain(
  authenticators: readonly Authenticator[],
  input: AuthnInput,
): Promise<Caller> {
  if (authenticators.length === 0) {
    throw new MeshsignError("ERR_UNAUTHENTICATED", "authentication failed: no authenticator is configured");
  }
  const errors: MeshsignError[] = [];
  const failures: AuthenticationFailure[] = [];
  for (const authenticator of authenticators) {
    let error: MeshsignError;
    try {
      const caller = await authenticator.authenticate(input);
      if (caller.identities.length > 0) return caller;
      error = new MeshsignError("ERR_UNAUTHENTICATED", "credential carries no identity");
    } catch (err) {
      error = toMeshsignError(err);
    }
    errors.push(error);
    failures.push({
      authenticator: authenticator.name,
      code: error.code,
      message: error.message,
      retry: error.retry,
    });
  }
  const reasons = failures.map((f) => `${f.authenticator}: ${f.message}`).join("; ");
  const cause = new AggregateError(errors, "every authenticator refused");
  if (failures.some((f) => f.retry === "transient")) {
    throw new MeshsignError(
      "ERR_AUTHN_BACKEND_UNAVAILABLE",
      `authentication unavailable, retry later (${reasons})`,
      {
        detail: { failures },
        cause,
        retry: "transient",
      },
    );
  }
  throw new MeshsignError("ERR_UNAUTHENTICATED", `authentication failed (${reasons})`, {
    detail: { failures },
    cause,
  });
}
