import type { JSONWebKeySet, JWTPayload } from "jose";
import { isMeshsignError, MeshsignError } from "../errors/index.js";
import { extractBearerToken } from "./bearer.js";
import { checkClusterId, DEFAULT_CLUSTER_ID } from "./cluster-id.js";
import { JwkKeyRing } from "./lib/jwk-keyring.js";
import { loadJwks } from "./lib/jwks-source.js";
import { CompactJwsVerifier } from "./lib/jws-verify.js";
import { checkJwtClaims, type JwtClaimsPolicy } from "./lib/jwt-claims.js";
import { assertTrustDomain, serviceAccountSpiffeId } from "./lib/spiffe.js";
import { kubernetesInfoFromClaims } from "./lib/token-identity.js";
import type { Authenticator, AuthnInput, Caller, Clock } from "./types.js";
import { systemClock } from "./types.js";

/** The audience Istio projects into sidecar tokens (`global.sds.token.aud`). */
export const DEFAULT_TOKEN_AUDIENCES: readonly string[] = ["istio-ca"];
/** Tolerance on exp/nbf. Small: meshsign and the token issuer are expected to run NTP. */
export const DEFAULT_CLOCK_SKEW_SECONDS = 30;
/** Algorithms accepted unless configured otherwise; covers Kubernetes (RS256/ES256) and common OIDC issuers. */
export const DEFAULT_JWT_ALGORITHMS: readonly string[] = ["RS256", "ES256", "ES384", "PS256", "EdDSA"];
/**
 * Everything that may ever be enabled: asymmetric signatures only. `none` and
 * HS* can never be, so a public key can never be used as an HMAC secret.
 */
export const PERMITTED_JWT_ALGORITHMS: readonly string[] = [
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
/** An unknown `kid` triggers at most one key re-fetch per this many seconds. */
export const DEFAULT_JWKS_REFETCH_INTERVAL_SECONDS = 30;
/**
 * Keys older than this are re-fetched in the background on the next request,
 * so a key the issuer withdrew stops being trusted even if no unknown `kid` shows up.
 */
export const DEFAULT_JWKS_MAX_AGE_SECONDS = 3600;

/** Where the verification keys come from. Files named here are re-read on each (re-)fetch. */
export type JwksSource =
  /** A JWKS JSON file on disk (e.g. `kubectl get --raw /openid/v1/jwks > jwks.json`). */
  | { kind: "file"; path: string }
  /**
   * A JWKS URL, e.g. in a cluster `https://kubernetes.default.svc/openid/v1/jwks`
   * with `caFile` = the service-account `ca.crt` and `bearerTokenFile` = its `token`.
   */
  | { kind: "url"; url: string; caFile?: string; bearerTokenFile?: string }
  /**
   * OIDC discovery: `<issuer>/.well-known/openid-configuration` -> `jwks_uri`.
   * The bearer token is sent to `jwks_uri` only when it has the issuer's origin.
   */
  | { kind: "oidc"; issuer: string; caFile?: string; bearerTokenFile?: string }
  /** Keys already in memory (the dev token issuer). */
  | { kind: "static"; jwks: JSONWebKeySet };

export interface JwksAuthenticatorOptions {
  readonly source: JwksSource;
  /** Expected `iss`. Defaults to the issuer of an "oidc" source; required for the other kinds. */
  readonly issuer?: string;
  /** The token's `aud` must contain one of these. Default {@link DEFAULT_TOKEN_AUDIENCES}. */
  readonly audiences?: readonly string[];
  /** Trust domain of the SPIFFE IDs built from tokens, e.g. `cluster.local`. */
  readonly trustDomain: string;
  /** The only `clusterid` accepted (when one is claimed). Default {@link DEFAULT_CLUSTER_ID}. */
  readonly clusterId?: string;
  /** Tolerance on exp/nbf in seconds. Default {@link DEFAULT_CLOCK_SKEW_SECONDS}. */
  readonly clockSkewSeconds?: number;
  /** Allowed `alg` values, a subset of {@link PERMITTED_JWT_ALGORITHMS}. Default {@link DEFAULT_JWT_ALGORITHMS}. */
  readonly algorithms?: readonly string[];
  /** Minimum seconds between two key fetches caused by unknown `kid`s. Default {@link DEFAULT_JWKS_REFETCH_INTERVAL_SECONDS}. */
  readonly refetchIntervalSeconds?: number;
  /** Re-fetch keys older than this in the background (not for "static"). Default {@link DEFAULT_JWKS_MAX_AGE_SECONDS}. */
  readonly maxKeyAgeSeconds?: number;
  readonly clock?: Clock;
  /**
   * Verify the signature on libuv's thread pool (node:crypto's callback form)
   * instead of the calling thread. Each trip to the pool costs ~35-45 us of CPU
   * (a job object, two thread wake-ups, the promise), more than the RS256
   * verification itself; worth it only where cores would otherwise be idle.
   * Default false.
   */
  readonly verifyOnThreadPool?: boolean;
}

/**
 * Verifies Kubernetes-shaped service-account JWTs against a JWKS and turns them
 * into `spiffe://<td>/ns/<ns>/sa/<sa>` callers.
 *
 * Every key of the set is imported into a `KeyObject` once per fetch, and a
 * token is verified synchronously with `node:crypto` (no WebCrypto promise, no
 * thread-pool hop): a request costs one signature verification and a few
 * microseconds of parsing. A token whose `kid` is not in the set triggers a
 * re-fetch, at most once per refetch interval, with concurrent misses sharing
 * the one fetch.
 */
export class JwksAuthenticator implements Authenticator {
  readonly name = "jwks";
  private readonly source: JwksSource;
  private readonly clusterId: string;
  private readonly trustDomain: string;
  private readonly clock: Clock;
  private readonly refetchIntervalMs: number;
  private readonly maxKeyAgeMs: number;
  private readonly jws: CompactJwsVerifier;
  private readonly verifyOnThreadPool: boolean;
  private readonly claimsPolicy: JwtClaimsPolicy;
  private keySet: JwkKeyRing;
  private lastFetchAt: number;
  private loadedAt: number;
  private inflight: Promise<void> | undefined;
  private loads = 1;

  private constructor(
    options: Required<Omit<JwksAuthenticatorOptions, "source">> & { source: JwksSource },
    keys: JSONWebKeySet,
  ) {
    this.source = options.source;
    this.clusterId = options.clusterId;
    this.trustDomain = options.trustDomain;
    this.clock = options.clock;
    this.refetchIntervalMs = options.refetchIntervalSeconds * 1000;
    this.maxKeyAgeMs = options.maxKeyAgeSeconds * 1000;
    this.jws = new CompactJwsVerifier(options.algorithms);
    this.verifyOnThreadPool = options.verifyOnThreadPool;
    this.claimsPolicy = {
      issuer: options.issuer,
      audiences: [...options.audiences],
      clockToleranceSeconds: options.clockSkewSeconds,
    };
    this.keySet = JwkKeyRing.fromJwks(keys);
    this.lastFetchAt = this.clock();
    this.loadedAt = this.lastFetchAt;
  }

  /**
   * Validates the options and loads the keys once.
   *
   * @throws MeshsignError ERR_CONFIG_INVALID naming the bad option or file;
   *   ERR_AUTHN_BACKEND_UNAVAILABLE (transient) when a remote JWKS cannot be fetched.
   */
  static async create(options: JwksAuthenticatorOptions): Promise<JwksAuthenticator> {
    const resolved = resolveOptions(options);
    const keys = await loadJwks(resolved.source);
    return new JwksAuthenticator(resolved, keys);
  }

  /** How many times the keys were loaded, the initial load included (for metrics and tests). */
  get keyLoads(): number {
    return this.loads;
  }

  /**
   * Re-loads the keys now, ignoring the rate limit (e.g. on SIGHUP or from an
   * admin command). Concurrent calls share one fetch; on failure the old keys stay.
   */
  refresh(): Promise<void> {
    return this.fetchKeys();
  }

  async authenticate(input: AuthnInput): Promise<Caller> {
    this.refreshIfStale();
    checkClusterId(input, this.clusterId);
    const token = extractBearerToken(input);
    const payload = await this.verify(token);
    const kubernetes = kubernetesInfoFromClaims(payload);
    const caller: Caller = {
      identities: [serviceAccountSpiffeId(this.trustDomain, kubernetes.namespace, kubernetes.serviceAccount)],
      source: "jwks",
      kubernetes,
    };
    if (typeof payload.exp === "number") caller.expiresAt = payload.exp;
    return caller;
  }

  private async verify(token: string): Promise<JWTPayload> {
    try {
      return await this.verifyWithCurrentKeys(token);
    } catch (err) {
      if (!isMeshsignError(err, "ERR_TOKEN_KID_UNKNOWN")) throw err;
      if (!(await this.refetchIfAllowed())) throw err;
    }
    return this.verifyWithCurrentKeys(token);
  }

  /** The signature (on this thread, or on libuv's thread pool when configured), then the claims. */
  private async verifyWithCurrentKeys(token: string): Promise<JWTPayload> {
    const payload = this.verifyOnThreadPool
      ? await this.jws.verifyAsync(token, this.keySet)
      : this.jws.verify(token, this.keySet);
    return checkJwtClaims(payload, this.claimsPolicy, this.clock());
  }

  /**
   * Re-loads the keys unless that happened less than the refetch interval ago.
   * Returns whether a (possibly shared) fetch completed, so the caller retries.
   */
  private async refetchIfAllowed(): Promise<boolean> {
    if (this.inflight === undefined && within(this.clock() - this.lastFetchAt, this.refetchIntervalMs))
      return false;
    try {
      await this.fetchKeys();
    } catch (err) {
      throw reloadFailure(err);
    }
    return true;
  }

  /** Starts a background re-fetch when the keys are older than the max age (rate limit applies). */
  private refreshIfStale(): void {
    if (this.source.kind === "static" || this.inflight !== undefined) return;
    const now = this.clock();
    if (
      within(now - this.loadedAt, this.maxKeyAgeMs) ||
      within(now - this.lastFetchAt, this.refetchIntervalMs)
    )
      return;
    // Requests keep using the current keys meanwhile; a failure keeps them and is retried after the interval.
    this.fetchKeys().catch(() => {});
  }

  private fetchKeys(): Promise<void> {
    if (this.inflight === undefined) {
      // The rate-limit window starts when a fetch starts, so a failing endpoint is not hammered either.
      this.lastFetchAt = this.clock();
      this.loads += 1;
      this.inflight = loadJwks(this.source)
        .then((keys) => {
          this.keySet = JwkKeyRing.fromJwks(keys);
          this.loadedAt = this.clock();
        })
        .finally(() => {
          this.inflight = undefined;
        });
    }
    return this.inflight;
  }
}

/**
 * A re-load that fails while serving is the key source's trouble, not the caller's: transient
 * whatever the cause (a JWKS file caught mid-write reads as invalid JSON, a file being replaced
 * as missing), so the caller hears UNAVAILABLE and retries instead of UNAUTHENTICATED, and the
 * file's path stays in the log. Only the first load, at start-up, is a configuration error.
 */
function reloadFailure(err: unknown): MeshsignError {
  if (isMeshsignError(err) && err.retry === "transient") return err;
  return new MeshsignError(
    "ERR_AUTHN_BACKEND_UNAVAILABLE",
    "the token verification keys could not be re-loaded",
    { cause: err, retry: "transient" },
  );
}

/**
 * Whether a span since an event is inside a window. A negative span means the wall clock stepped
 * back (NTP) and says nothing about how long ago the event was: it counts as outside, or key
 * re-fetches would stop for as long as the step and a rotated-in key be refused meanwhile.
 */
function within(spanMs: number, windowMs: number): boolean {
  return spanMs >= 0 && spanMs < windowMs;
}

function resolveOptions(
  options: JwksAuthenticatorOptions,
): Required<Omit<JwksAuthenticatorOptions, "source">> & { source: JwksSource } {
  const issuer = options.issuer ?? (options.source.kind === "oidc" ? options.source.issuer : undefined);
  if (issuer === undefined || issuer.length === 0) {
    throw new MeshsignError("ERR_CONFIG_INVALID", "jwks.issuer: the expected token issuer is required");
  }
  const audiences = options.audiences ?? DEFAULT_TOKEN_AUDIENCES;
  if (audiences.length === 0 || audiences.some((a) => a.length === 0)) {
    throw new MeshsignError(
      "ERR_CONFIG_INVALID",
      "jwks.audiences: at least one non-empty audience is required",
    );
  }
  const algorithms = options.algorithms ?? DEFAULT_JWT_ALGORITHMS;
  const forbidden = algorithms.filter((alg) => !PERMITTED_JWT_ALGORITHMS.includes(alg));
  if (algorithms.length === 0 || forbidden.length > 0) {
    throw new MeshsignError(
      "ERR_CONFIG_INVALID",
      `jwks.algorithms: ${forbidden.length > 0 ? `${forbidden.join(", ")} may not be enabled` : "at least one algorithm is required"} (permitted: ${PERMITTED_JWT_ALGORITHMS.join(", ")})`,
    );
  }
  const clockSkewSeconds = options.clockSkewSeconds ?? DEFAULT_CLOCK_SKEW_SECONDS;
  if (!Number.isFinite(clockSkewSeconds) || clockSkewSeconds < 0 || clockSkewSeconds > 300) {
    throw new MeshsignError("ERR_CONFIG_INVALID", "jwks.clockSkewSeconds: must be between 0 and 300");
  }
  const refetchIntervalSeconds = options.refetchIntervalSeconds ?? DEFAULT_JWKS_REFETCH_INTERVAL_SECONDS;
  if (!Number.isFinite(refetchIntervalSeconds) || refetchIntervalSeconds < 0) {
    throw new MeshsignError(
      "ERR_CONFIG_INVALID",
      "jwks.refetchIntervalSeconds: must be a non-negative number",
    );
  }
  const maxKeyAgeSeconds = options.maxKeyAgeSeconds ?? DEFAULT_JWKS_MAX_AGE_SECONDS;
  if (!Number.isFinite(maxKeyAgeSeconds) || maxKeyAgeSeconds <= 0) {
    throw new MeshsignError("ERR_CONFIG_INVALID", "jwks.maxKeyAgeSeconds: must be a positive number");
  }
  return {
    source: options.source,
    issuer,
    audiences,
    trustDomain: assertTrustDomain(options.trustDomain, "trustDomain"),
    clusterId: options.clusterId ?? DEFAULT_CLUSTER_ID,
    clockSkewSeconds,
    algorithms,
    refetchIntervalSeconds,
    maxKeyAgeSeconds,
    clock: options.clock ?? systemClock,
    verifyOnThreadPool: options.verifyOnThreadPool ?? false,
  };
}
