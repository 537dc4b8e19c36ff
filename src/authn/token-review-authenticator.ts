import { createHash } from "node:crypto";
import { MeshsignError } from "../errors/index.js";
import { extractBearerToken } from "./bearer.js";
import { checkClusterId, DEFAULT_CLUSTER_ID } from "./cluster-id.js";
import { DEFAULT_CLOCK_SKEW_SECONDS, DEFAULT_TOKEN_AUDIENCES } from "./jwks-authenticator.js";
import { parseServiceAccountUsername } from "./lib/kubernetes-names.js";
import { ExpiringLruCache } from "./lib/lru-cache.js";
import { assertTrustDomain, serviceAccountSpiffeId } from "./lib/spiffe.js";
import { unverifiedExpiry } from "./lib/unverified-exp.js";
import type { Authenticator, AuthnInput, Caller, Clock, KubernetesInfo } from "./types.js";
import { systemClock } from "./types.js";

/** The part of a `authentication.k8s.io/v1` TokenReview status that authentication reads. */
export interface TokenReviewStatus {
  authenticated?: boolean;
  error?: string;
  /** Audiences the token was found valid for (the intersection with the requested ones). */
  audiences?: string[];
  user?: {
    username?: string;
    uid?: string;
    groups?: string[];
    extra?: Record<string, string[]>;
  };
}

/** Asks Kubernetes whether a token is valid. Throw (anything) when the API cannot answer. */
export interface TokenReviewer {
  review(token: string, audiences: readonly string[]): Promise<TokenReviewStatus>;
}

/** Positive results are reused for at most this long (and never past the token's exp). */
export const DEFAULT_TOKEN_REVIEW_CACHE_TTL_SECONDS = 60;
/** At most this many cached results; the least recently used goes first. */
export const DEFAULT_TOKEN_REVIEW_CACHE_SIZE = 10_000;

const SERVICE_ACCOUNTS_GROUP = "system:serviceaccounts";
const POD_NAME_EXTRA = "authentication.kubernetes.io/pod-name";
const POD_UID_EXTRA = "authentication.kubernetes.io/pod-uid";

export interface TokenReviewAuthenticatorOptions {
  readonly reviewer: TokenReviewer;
  /** Trust domain of the SPIFFE IDs built from tokens, e.g. `cluster.local`. */
  readonly trustDomain: string;
  /** `spec.audiences` of each review. Default {@link DEFAULT_TOKEN_AUDIENCES} (Istio's `TOKEN_AUDIENCES`). */
  readonly audiences?: readonly string[];
  /** The only `clusterid` accepted (when one is claimed). Default {@link DEFAULT_CLUSTER_ID}. */
  readonly clusterId?: string;
  /** Default {@link DEFAULT_TOKEN_REVIEW_CACHE_TTL_SECONDS}; 0 disables the cache. */
  readonly cacheTtlSeconds?: number;
  /** Default {@link DEFAULT_TOKEN_REVIEW_CACHE_SIZE}. */
  readonly cacheMaxEntries?: number;
  readonly clock?: Clock;
}

/**
 * Authenticates bearer tokens with the Kubernetes TokenReview API, with
 * Istio's rules (reference §3.1): no `status.error`, `authenticated` true,
 * group `system:serviceaccounts`, username exactly
 * `system:serviceaccount:<ns>:<sa>`, pod name/UID from `user.extra`. In
 * addition the returned `status.audiences` must contain a requested audience,
 * as the TokenReview API asks of clients that set `spec.audiences`.
 *
 * Accepted results are cached by SHA-256 of the token, bounded in size and in
 * time, never past the token's own `exp`. Refusals are not cached: a refusal
 * cache does not slow down an attacker who varies the token, and it could pin
 * a refusal caused by a momentary API-server state; a token that is already
 * past its (unverified) `exp` is refused without asking the API server.
 * Concurrent reviews of the same token share one API call.
 */
export class TokenReviewAuthenticator implements Authenticator {
  readonly name = "tokenreview";
  private readonly reviewer: TokenReviewer;
  private readonly trustDomain: string;
  private readonly audiences: readonly string[];
  private readonly clusterId: string;
  private readonly cacheTtlMs: number;
  private readonly clock: Clock;
  private readonly cache: ExpiringLruCache<Caller>;
  private readonly inflight = new Map<string, Promise<Caller>>();
  private calls = 0;

  constructor(options: TokenReviewAuthenticatorOptions) {
    this.reviewer = options.reviewer;
    this.trustDomain = assertTrustDomain(options.trustDomain);
    this.audiences = options.audiences ?? DEFAULT_TOKEN_AUDIENCES;
    if (this.audiences.length === 0 || this.audiences.some((a) => a.length === 0)) {
      throw new MeshsignError(
        "ERR_CONFIG_INVALID",
        "tokenReview.audiences: at least one non-empty audience is required",
      );
    }
    this.clusterId = options.clusterId ?? DEFAULT_CLUSTER_ID;
    const ttl = options.cacheTtlSeconds ?? DEFAULT_TOKEN_REVIEW_CACHE_TTL_SECONDS;
    const size = options.cacheMaxEntries ?? DEFAULT_TOKEN_REVIEW_CACHE_SIZE;
    if (!Number.isFinite(ttl) || ttl < 0) {
      throw new MeshsignError(
        "ERR_CONFIG_INVALID",
        "tokenReview.cacheTtlSeconds: must be a non-negative number",
      );
    }
    if (!Number.isInteger(size) || size < 0) {
      throw new MeshsignError(
        "ERR_CONFIG_INVALID",
        "tokenReview.cacheMaxEntries: must be a non-negative integer",
      );
    }
    this.cacheTtlMs = ttl * 1000;
    this.cache = new ExpiringLruCache(ttl > 0 ? size : 0);
    this.clock = options.clock ?? systemClock;
  }

  /** TokenReview API calls made so far (for metrics and tests). */
  get reviewCalls(): number {
    return this.calls;
  }

  async authenticate(input: AuthnInput): Promise<Caller> {
    checkClusterId(input, this.clusterId);
    const token = extractBearerToken(input);
    const now = this.clock();
    const key = createHash("sha256").update(token).digest("base64url");
    // A cached result never outlives the token's exp, so a hit needs no expiry check.
    const cached = this.cache.get(key, now);
    if (cached !== undefined) return copy(cached);
    const exp = unverifiedExpiry(token);
    if (exp !== undefined && exp * 1000 + DEFAULT_CLOCK_SKEW_SECONDS * 1000 < now) {
      throw new MeshsignError("ERR_TOKEN_EXPIRED", "token expired");
    }
    let pending = this.inflight.get(key);
    if (pending === undefined) {
      pending = this.review(token, exp).finally(() => this.inflight.delete(key));
      this.inflight.set(key, pending);
    }
    const caller = await pending;
    const reviewedAt = this.clock();
    const expiresAt = Math.min(
      reviewedAt + this.cacheTtlMs,
      exp === undefined ? Number.POSITIVE_INFINITY : exp * 1000,
    );
    if (expiresAt > reviewedAt) this.cache.set(key, caller, expiresAt, reviewedAt);
    return copy(caller);
  }

  private async review(token: string, exp: number | undefined): Promise<Caller> {
    let status: TokenReviewStatus;
    this.calls += 1;
    try {
      status = await this.reviewer.review(token, this.audiences);
    } catch (err) {
      if (err instanceof MeshsignError) throw err;
      throw new MeshsignError(
        "ERR_AUTHN_BACKEND_UNAVAILABLE",
        "the Kubernetes TokenReview API is unavailable",
        {
          cause: err,
          retry: "transient",
        },
      );
    }
    const kubernetes = checkStatus(status, this.audiences);
    const caller: Caller = {
      identities: [serviceAccountSpiffeId(this.trustDomain, kubernetes.namespace, kubernetes.serviceAccount)],
      source: "tokenreview",
      kubernetes,
    };
    if (exp !== undefined) caller.expiresAt = exp;
    return caller;
  }
}

/** The chain of checks on a review result; the first that fails names the rule. */
function checkStatus(status: TokenReviewStatus, audiences: readonly string[]): KubernetesInfo {
  if (status.error !== undefined && status.error !== "") {
    throw new MeshsignError("ERR_TOKEN_REJECTED", "token rejected by the Kubernetes API server", {
      detail: { tokenReviewError: status.error.slice(0, 256) },
    });
  }
  if (status.authenticated !== true) {
    throw new MeshsignError("ERR_TOKEN_REJECTED", "token not authenticated by the Kubernetes API server");
  }
  if (!(status.audiences ?? []).some((a) => audiences.includes(a))) {
    throw new MeshsignError("ERR_TOKEN_AUDIENCE", "token audience mismatch", {
      detail: { reviewedAudiences: status.audiences ?? [] },
    });
  }
  const user = status.user ?? {};
  if (!(user.groups ?? []).includes(SERVICE_ACCOUNTS_GROUP)) {
    throw new MeshsignError(
      "ERR_TOKEN_CLAIMS",
      `token is not a service-account token (no ${SERVICE_ACCOUNTS_GROUP} group)`,
    );
  }
  const account = parseServiceAccountUsername(user.username ?? "");
  if (account === undefined) {
    throw new MeshsignError(
      "ERR_TOKEN_CLAIMS",
      "token user is not system:serviceaccount:<namespace>:<service-account>",
    );
  }
  const info: KubernetesInfo = { ...account };
  const podName = user.extra?.[POD_NAME_EXTRA]?.[0];
  const podUid = user.extra?.[POD_UID_EXTRA]?.[0];
  if (podName !== undefined && podName !== "") info.podName = podName;
  if (podUid !== undefined && podUid !== "") info.podUid = podUid;
  return info;
}

function copy(caller: Caller): Caller {
  return {
    ...caller,
    identities: [...caller.identities],
    ...(caller.kubernetes === undefined ? {} : { kubernetes: { ...caller.kubernetes } }),
  };
}
