import type https from "node:https";
import type { KubeConfig } from "@kubernetes/client-node";
import { MeshsignError } from "../../../errors/index.js";

/** How long applied credentials are reused; client-go re-reads a token file once a minute. */
export const CREDENTIALS_REFRESH_MS = 10_000;

/** What a request to the API server needs from the KubeConfig. */
export interface AppliedCredentials {
  /** Request headers: Authorization (bearer or basic) and any impersonation headers. */
  readonly headers: Readonly<Record<string, string>>;
  /** The TLS half: CA, client certificate and key, server name, verification. */
  readonly tls: Pick<https.RequestOptions, "ca" | "cert" | "key" | "servername" | "rejectUnauthorized">;
}

/**
 * The KubeConfig's credentials, applied at most every {@link CREDENTIALS_REFRESH_MS} instead of
 * per request: client-node's `applyToHTTPSOptions` decodes (in-cluster: reads from disk) the CA,
 * builds an `https.Agent` and asks the auth provider on every call, which costs more than a
 * small API call itself. Tokens that rotate (in-cluster token files, exec plugins) are picked up
 * at the next refresh; {@link invalidate} (after a 401) forces one.
 */
export class CachedCredentials {
  readonly #kc: KubeConfig;
  readonly #refreshMs: number;
  readonly #now: () => number;
  #current: Promise<AppliedCredentials> | undefined;
  #appliedAt = 0;

  constructor(kc: KubeConfig, refreshMs = CREDENTIALS_REFRESH_MS, now: () => number = Date.now) {
    this.#kc = kc;
    this.#refreshMs = refreshMs;
    this.#now = now;
  }

  /** The credentials to send now; concurrent callers share one refresh. */
  get(): Promise<AppliedCredentials> {
    const now = this.#now();
    if (this.#current === undefined || now - this.#appliedAt >= this.#refreshMs) {
      this.#appliedAt = now;
      const pending = this.#apply();
      this.#current = pending;
      // A failed refresh is not kept: the next call tries again.
      pending.catch(() => {
        if (this.#current === pending) this.#current = undefined;
      });
    }
    return this.#current;
  }

  /** Drops the cached credentials, so the next request applies them afresh. */
  invalidate(): void {
    this.#current = undefined;
  }

  async #apply(): Promise<AppliedCredentials> {
    const options: https.RequestOptions = { headers: {} };
    try {
      await this.#kc.applyToHTTPSOptions(options);
    } catch (err) {
      // A token file mid-rotation or an auth plugin failing: worth another try.
      throw new MeshsignError("ERR_STORE_UNAVAILABLE", "could not prepare API server credentials", {
        cause: err,
        retry: "transient",
      });
    }
    const headers: Record<string, string> = {};
    if (options.headers && !Array.isArray(options.headers)) {
      for (const [name, value] of Object.entries(options.headers)) {
        if (typeof value === "string" || typeof value === "number")
          headers[name.toLowerCase()] = String(value);
      }
    }
    if (options.auth) headers.authorization = `Basic ${Buffer.from(options.auth).toString("base64")}`;
    const tls: AppliedCredentials["tls"] = {
      ...(options.ca === undefined ? {} : { ca: options.ca }),
      ...(options.cert === undefined ? {} : { cert: options.cert }),
      ...(options.key === undefined ? {} : { key: options.key }),
      ...(options.servername === undefined ? {} : { servername: options.servername }),
      ...(options.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: options.rejectUnauthorized }),
    };
    return { headers, tls };
  }
}
