/**
 * One ACME server seen through one account key: the directory, the nonce
 * pool, and the signed POST every other module goes through.
 *
 * What `post` promises:
 * - every request carries a fresh nonce; a `badNonce` refusal (RFC 8555
 *   §6.5, which Pebble sends for 5% of good nonces on purpose) is retried
 *   with the nonce that refusal carried, up to {@link MAX_BAD_NONCE_RETRIES}
 *   times, and counted in `stats`;
 * - a 429 or 503 whose `Retry-After` is short is waited out in place
 *   (at most twice); a longer one becomes a transient error that carries
 *   `retryAfterMs` for the caller's scheduler, never a tight loop;
 * - any other refusal becomes a typed error with the CA's problem document
 *   (src/acme/problems.ts). The account key, JWS and EAB MAC never appear in
 *   an error or a log line.
 * Time is injected (`now`, `sleep`) so tests can drive the waits.
 */
import type { KeyObject } from "node:crypto";
import { MeshsignError } from "../errors/index.js";
import { type AcmeDirectory, fetchDirectory } from "./directory.js";
import { accountKeyAlgorithm, signRequest } from "./jws.js";
import { header, readJson } from "./lib/json.js";
import { retryAfterMs } from "./lib/retry-after.js";
import { NoncePool } from "./nonces.js";
import { parseProblem, problemError, shortType } from "./problems.js";
import { createTransport, type HttpResponse, type Transport, type TransportOptions } from "./transport.js";

export const MAX_BAD_NONCE_RETRIES = 5;
/** A Retry-After up to this long is waited out inside one call. */
export const DEFAULT_MAX_INLINE_WAIT_MS = 10_000;
const MAX_INLINE_WAITS = 2;

export interface AcmeClientOptions extends TransportOptions {
  /** The directory URL (the Issuer's `server`). */
  readonly directoryUrl: string;
  readonly accountKey: KeyObject;
  /** The account URL when known (the Issuer's `status.acme.uri`). */
  readonly accountUrl?: string;
  /** A transport to use instead of building one from the TLS options. */
  readonly transport?: Transport;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Longest Retry-After waited out in place; longer ones are returned as errors. */
  readonly maxInlineWaitMs?: number;
}

/** A successful ACME response. */
export interface AcmeResponse extends HttpResponse {
  /** The Location header (new accounts and orders). */
  readonly location?: string;
}

/** Counters tests and metrics read. */
export interface AcmeClientStats {
  requests: number;
  badNonceRetries: number;
  inlineWaits: number;
}

export class AcmeClient {
  readonly stats: AcmeClientStats = { requests: 0, badNonceRetries: 0, inlineWaits: 0 };
  /** Set by account registration or lookup; required for every `kid` request. */
  accountUrl: string | undefined;
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
  private readonly nonces: NoncePool;
  private readonly maxInlineWaitMs: number;

  private constructor(
    readonly directory: AcmeDirectory,
    readonly accountKey: KeyObject,
    private readonly transport: Transport,
    options: AcmeClientOptions,
  ) {
    this.accountUrl = options.accountUrl;
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.maxInlineWaitMs = options.maxInlineWaitMs ?? DEFAULT_MAX_INLINE_WAIT_MS;
    this.nonces = new NoncePool(async () => {
      // GET (204 No Content), which RFC 8555 §7.2 has every server answer as it answers HEAD:
      // Node's HTTP client closes the connection after a HEAD response without Content-Length
      // (Pebble's, for one), so every nonce fetched by HEAD cost the next request a new TLS handshake.
      const res = await this.transport("GET", this.directory.newNonce);
      return header(res.headers, "replay-nonce");
    });
  }

  /** Checks the account key and fetches the directory. */
  static async connect(options: AcmeClientOptions): Promise<AcmeClient> {
    accountKeyAlgorithm(options.accountKey);
    const transport = options.transport ?? createTransport(options);
    const directory = await fetchDirectory(transport, options.directoryUrl);
    return new AcmeClient(directory, options.accountKey, transport, options);
  }

  /**
   * A signed POST of `payload` (undefined: POST-as-GET) to `url`. `action`
   * names the step in errors ("newOrder", "finalize"). `useJwk` signs with
   * the public key instead of the account URL (newAccount only).
   */
  async post(
    url: string,
    payload: unknown,
    action: string,
    options: { readonly useJwk?: boolean; readonly accept?: string } = {},
  ): Promise<AcmeResponse> {
    const kid = options.useJwk === true ? undefined : this.accountUrl;
    if (options.useJwk !== true && kid === undefined)
      throw new MeshsignError(
        "ERR_ACME_PROTOCOL",
        `${action} needs an ACME account: register or look it up first`,
      );
    let badNonces = 0;
    let waits = 0;
    for (;;) {
      const nonce = await this.nonces.take();
      const jws = await signRequest({
        key: this.accountKey,
        url,
        nonce,
        payload,
        ...(kid === undefined ? {} : { kid }),
      });
      this.stats.requests++;
      const res = await this.transport(
        "POST",
        url,
        { contentType: "application/jose+json", data: JSON.stringify(jws) },
        options.accept,
      );
      this.nonces.put(header(res.headers, "replay-nonce"));
      if (res.status < 400) {
        const location = header(res.headers, "location");
        return {
          ...res,
          ...(location === undefined ? {} : { location: resolveLocation(location, url, action) }),
        };
      }
      const problem = parseProblem(tryJson(res.body));
      const wait = retryAfterMs(header(res.headers, "retry-after"), this.now());
      if (
        problem !== undefined &&
        shortType(problem.type) === "badNonce" &&
        badNonces < MAX_BAD_NONCE_RETRIES
      ) {
        badNonces++;
        this.stats.badNonceRetries++;
        continue;
      }
      if (
        (res.status === 429 || res.status === 503) &&
        wait !== undefined &&
        wait <= this.maxInlineWaitMs &&
        waits < MAX_INLINE_WAITS
      ) {
        waits++;
        this.stats.inlineWaits++;
        await this.sleep(wait);
        continue;
      }
      const context = {
        action,
        url,
        status: res.status,
        ...(wait === undefined ? {} : { retryAfterMs: wait }),
      };
      if (problem !== undefined) throw problemError(problem, context);
      throw new MeshsignError(
        res.status >= 500 ? "ERR_ACME_UNAVAILABLE" : "ERR_ACME_PROTOCOL",
        `ACME server answered ${action} with HTTP ${res.status} and no problem document`,
        { retry: res.status >= 500 || res.status === 429 ? "transient" : "terminal", detail: context },
      );
    }
  }

  /**
   * An unauthenticated GET (the directory and RFC 9773 renewalInfo are the
   * only resources read this way). A non-200 answer becomes a typed error.
   */
  async get(url: string, action: string): Promise<{ body: Buffer; retryAfterMs?: number }> {
    this.stats.requests++;
    const res = await this.transport("GET", url, undefined, "application/json");
    const wait = retryAfterMs(header(res.headers, "retry-after"), this.now());
    if (res.status === 200) return { body: res.body, ...(wait === undefined ? {} : { retryAfterMs: wait }) };
    const context = {
      action,
      url,
      status: res.status,
      ...(wait === undefined ? {} : { retryAfterMs: wait }),
    };
    const problem = parseProblem(tryJson(res.body));
    if (problem !== undefined) throw problemError(problem, context);
    throw new MeshsignError(
      res.status >= 500 ? "ERR_ACME_UNAVAILABLE" : "ERR_ACME_PROTOCOL",
      `ACME server answered ${action} with HTTP ${res.status}`,
      {
        retry: res.status >= 500 || res.status === 429 ? "transient" : "terminal",
        detail: context,
      },
    );
  }

  /** POST-as-GET of `url`, its body parsed as a JSON object. */
  async fetchJson(
    url: string,
    action: string,
  ): Promise<{ body: Record<string, unknown>; response: AcmeResponse }> {
    const response = await this.post(url, undefined, action);
    return { body: readJson(response.body, `ACME ${action}`), response };
  }
}

/** The Location of an answer, absolute; the CA's protocol error (not a TypeError) when it is not a URL. */
function resolveLocation(location: string, base: string, action: string): string {
  try {
    return new URL(location, base).toString();
  } catch {
    throw new MeshsignError(
      "ERR_ACME_PROTOCOL",
      `ACME server answered ${action} with a Location that is not a URL`,
    );
  }
}

function tryJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString("utf8"));
  } catch {
    return undefined;
  }
}
