/**
 * The Vault token of one issuer: obtained once and shared by every signature
 * (cert-manager logs in on every Sign, #7097), renewed with
 * `auth/token/renew-self` when about two thirds of its TTL have passed (or
 * re-obtained by a fresh login when it is not renewable), dropped when Vault
 * answers 403. Concurrent callers share one login. A static token
 * (tokenSecretRef) is used as given: it cannot be re-obtained.
 *
 * For CreateCertificate workers that call Vault themselves, the session is
 * also the one place the token comes from: each distinct token gets a
 * generation number, listeners learn every new one, {@link VaultSession.reissue}
 * turns any number of "generation g was refused" into one login, and
 * {@link VaultSession.keepFresh} renews on a timer (nobody in the process may
 * ask for the token between renewals).
 */
import { isMeshsignError, MeshsignError } from "../../../errors/index.js";
import type { VaultTransport } from "./http.js";
import { vaultErrorText } from "./http.js";

/** How to obtain a token: a static one, or a login call. */
export type TokenSource =
  | { readonly kind: "static"; readonly token: string }
  | {
      readonly kind: "login";
      /** Login path below /v1/, e.g. `auth/approle/login`. */
      readonly path: string;
      /** Builds the login body (reads the current credential, e.g. a fresh Kubernetes JWT). */
      readonly body: () => Promise<Readonly<Record<string, unknown>>>;
      /** Transport for the login call (cert auth logs in with its own client certificate). */
      readonly transport?: VaultTransport;
      /** Human-readable method for messages, e.g. "AppRole". */
      readonly describe: string;
    };

interface Held {
  readonly token: string;
  /** The TTL the login granted; a renewal that gives back less than half of it means the max TTL is near. */
  readonly grantedMs: number;
  readonly renewable: boolean;
  /** Epoch ms; Infinity for tokens without a TTL. */
  readonly expiresAt: number;
  readonly renewAt: number;
}

/** A token and its generation (1, 2, ...: a new number for each distinct token). Never log it. */
export interface VaultToken {
  readonly generation: number;
  readonly token: string;
}

/** Where {@link VaultIssuer} gets its token: a {@link VaultSession}, or a worker's relay of one. */
export interface TokenProvider {
  /** Whether a rejected token can be replaced. */
  readonly canReobtain: boolean;
  /** A token valid now. */
  token(signal?: AbortSignal): Promise<string>;
  /** Vault refused `token` (403): the next {@link token} replaces it. */
  invalidate(token: string): void;
  readonly logins: number;
  readonly renewals: number;
}

/** How long {@link VaultSession.keepFresh} waits before trying again after a failed renewal or login. */
const KEEP_FRESH_RETRY_MS = 5_000;

export interface VaultSessionOptions {
  readonly transport: VaultTransport;
  readonly namespace?: string;
  readonly source: TokenSource;
  readonly now: () => number;
}

function authOf(json: unknown): { token: string; ttlS: number; renewable: boolean } | undefined {
  const auth = typeof json === "object" && json !== null ? (json as { auth?: unknown }).auth : undefined;
  if (typeof auth !== "object" || auth === null) return undefined;
  const a = auth as { client_token?: unknown; lease_duration?: unknown; renewable?: unknown };
  if (typeof a.client_token !== "string" || a.client_token === "") return undefined;
  return { token: a.client_token, ttlS: typeof a.lease_duration === "number" ? a.lease_duration : 0, renewable: a.renewable === true };
}

export class VaultSession implements TokenProvider {
  readonly #o: VaultSessionOptions;
  #held: Held | undefined;
  #inflight: Promise<string> | undefined;
  #generation = 0;
  #lastToken = "";
  readonly #listeners = new Set<(t: VaultToken) => void>();
  #freshTimer: NodeJS.Timeout | undefined;
  #fresh = 0;
  #closed = false;
  /** Successful logins and renewals, for metrics and tests. */
  logins = 0;
  renewals = 0;

  constructor(options: VaultSessionOptions) {
    this.#o = options;
    if (options.source.kind === "static") {
      this.#held = { token: options.source.token, grantedMs: 0, renewable: false, expiresAt: Number.POSITIVE_INFINITY, renewAt: Number.POSITIVE_INFINITY };
      this.#generation = 1;
      this.#lastToken = options.source.token;
    }
  }

  /** The current token with its generation, logging in or renewing first when needed. */
  async current(signal?: AbortSignal): Promise<VaultToken> {
    const token = await this.token(signal);
    // A newer token may have arrived meanwhile; either is valid, the generation goes with the string.
    return token === this.#lastToken ? { generation: this.#generation, token } : this.current(signal);
  }

  /**
   * Generation `rejected` was refused by Vault: logs in again unless that
   * already happened (a newer generation is held) or is under way. Any
   * number of callers refusing the same generation cause one login.
   */
  reissue(rejected: number, signal?: AbortSignal): Promise<VaultToken> {
    if (rejected === this.#generation && this.#held !== undefined) this.invalidate(this.#held.token);
    return this.current(signal);
  }

  /** Calls `listener` with every new token (a new generation), until the returned function is called. */
  onToken(listener: (t: VaultToken) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Renews (or logs in again) on a timer at two thirds of the TTL, while at
   * least one caller wants it; the returned function stops it for that caller.
   */
  keepFresh(): () => void {
    this.#fresh++;
    this.#armFresh();
    let stopped = false;
    return () => {
      if (stopped) return;
      stopped = true;
      if (--this.#fresh === 0) {
        clearTimeout(this.#freshTimer);
        this.#freshTimer = undefined;
      }
    };
  }

  /** Stops the renewal timer and forgets the listeners. */
  close(): void {
    this.#closed = true;
    this.#fresh = 0;
    clearTimeout(this.#freshTimer);
    this.#freshTimer = undefined;
    this.#listeners.clear();
  }

  #armFresh(delayMs?: number): void {
    if (this.#closed || this.#fresh === 0) return;
    const renewAt = this.#held?.renewAt ?? this.#o.now();
    if (delayMs === undefined && renewAt === Number.POSITIVE_INFINITY) return;
    clearTimeout(this.#freshTimer);
    const wait = delayMs ?? Math.max(0, renewAt - this.#o.now());
    // setTimeout's limit is 2^31-1 ms; longer TTLs re-arm on the way.
    this.#freshTimer = setTimeout(() => {
      this.#freshTimer = undefined;
      if (this.#held !== undefined && this.#o.now() < this.#held.renewAt) return this.#armFresh();
      this.token().then(
        () => this.#armFresh(),
        () => this.#armFresh(KEEP_FRESH_RETRY_MS),
      );
    }, Math.min(wait, 2 ** 31 - 1));
    this.#freshTimer.unref();
  }

  /** Whether a rejected token can be replaced by logging in again. */
  get canReobtain(): boolean {
    return this.#o.source.kind === "login";
  }

  /** A token valid now, logging in or renewing first when needed. */
  async token(signal?: AbortSignal): Promise<string> {
    const h = this.#held;
    const now = this.#o.now();
    if (h !== undefined && now < h.renewAt) return h.token;
    // The login or renewal is shared by every caller waiting for it, so no one caller's signal
    // cancels it (a deadline of one signature would fail all the others): it runs to the call
    // deadline, and each caller stops waiting on its own signal.
    if (this.#inflight === undefined) {
      this.#inflight = this.#refresh(h).finally(() => {
        this.#inflight = undefined;
      });
    }
    return signal === undefined ? this.#inflight : untilAborted(this.#inflight, signal);
  }

  /** Vault rejected `token` (403): forget it so the next call logs in again. */
  invalidate(token: string): void {
    if (this.#o.source.kind === "login" && this.#held?.token === token) this.#held = undefined;
  }

  async #refresh(h: Held | undefined): Promise<string> {
    if (h?.renewable && this.#o.now() < h.expiresAt) {
      const r = await this.#o.transport.call({ method: "POST", path: "auth/token/renew-self", body: {}, token: h.token, ...this.#ns() });
      const auth = r.kind === "response" && r.status === 200 ? authOf(r.json) : undefined;
      // A renewal capped by the token's max TTL comes back shorter; near that end, log in afresh.
      if (auth !== undefined && auth.ttlS * 1000 >= h.grantedMs / 2) {
        this.renewals++;
        this.#hold(auth, h.grantedMs);
        return auth.token;
      }
    }
    if (this.#o.source.kind === "static") {
      if (h !== undefined) return h.token;
      throw new MeshsignError("ERR_ISSUER_NOT_READY", "no Vault token");
    }
    try {
      return await this.#login(this.#o.source);
    } catch (err) {
      return this.#stillValid(h, err);
    }
  }

  /**
   * A login failed for a passing reason (Vault rate-limits logins, its auth backend or the
   * TokenRequest API is briefly down) while the token held still has time left: that token keeps
   * serving, and the next login is tried after {@link KEEP_FRESH_RETRY_MS}, not by every call.
   * A token Vault refused (invalidated) or that has expired is no fallback: the failure stands.
   */
  #stillValid(h: Held | undefined, err: unknown): string {
    const held = this.#held;
    const now = this.#o.now();
    if (held === undefined || held !== h || now >= held.expiresAt || !isMeshsignError(err) || err.retry !== "transient")
      throw err;
    this.#held = { ...held, renewAt: Math.min(held.expiresAt, now + KEEP_FRESH_RETRY_MS) };
    return held.token;
  }

  async #login(source: Extract<TokenSource, { kind: "login" }>): Promise<string> {
    const body = await source.body();
    const transport = source.transport ?? this.#o.transport;
    const r = await transport.call({ method: "POST", path: source.path, body, ...this.#ns() });
    if (r.kind === "transport") {
      throw new MeshsignError("ERR_ISSUER_UNAVAILABLE", `Vault ${source.describe} login failed: ${r.reason}`, { retry: "transient" });
    }
    const auth = r.status === 200 ? authOf(r.json) : undefined;
    if (auth === undefined) {
      const text = vaultErrorText(r.json);
      const why = `Vault ${source.describe} login at ${source.path} failed with HTTP ${r.status}${text !== "" ? `: ${text}` : ""}`;
      // 5xx/429 are Vault's own trouble (sealed, standby, overloaded); 4xx are our credentials.
      if (r.status >= 500 || r.status === 429) throw new MeshsignError("ERR_ISSUER_UNAVAILABLE", why, { retry: "transient" });
      throw new MeshsignError("ERR_ISSUER_REJECTED", why, { retry: "terminal" });
    }
    this.logins++;
    this.#hold(auth);
    return auth.token;
  }

  #hold(auth: { token: string; ttlS: number; renewable: boolean }, grantedMs = auth.ttlS * 1000): void {
    const now = this.#o.now();
    const ttlMs = auth.ttlS * 1000;
    this.#held =
      ttlMs <= 0
        ? { token: auth.token, grantedMs: 0, renewable: false, expiresAt: Number.POSITIVE_INFINITY, renewAt: Number.POSITIVE_INFINITY }
        : { token: auth.token, grantedMs, renewable: auth.renewable, expiresAt: now + ttlMs, renewAt: now + (ttlMs * 2) / 3 };
    // renew-self gives the same token a longer life: the same generation.
    if (auth.token !== this.#lastToken) {
      this.#lastToken = auth.token;
      const t = { generation: ++this.#generation, token: auth.token };
      for (const l of this.#listeners) l(t);
    }
  }

  #ns(): { namespace?: string } {
    return this.#o.namespace !== undefined ? { namespace: this.#o.namespace } : {};
  }
}

/** `shared`, or a transient refusal as soon as `signal` aborts (`shared` itself goes on). */
function untilAborted(shared: Promise<string>, signal: AbortSignal): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const onAbort = () =>
      reject(new MeshsignError("ERR_ISSUER_UNAVAILABLE", "the call to Vault was cancelled", { retry: "transient" }));
    // Handlers first: `shared` is always observed, even when this caller has already given up.
    shared.then(
      (t) => {
        signal.removeEventListener("abort", onAbort);
        resolve(t);
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
  });
}
