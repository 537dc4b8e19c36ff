/**
 * A Vault token obtained by another process (meshsign's primary, which
 * holds the one {@link VaultSession} of the issuer) and relayed to this one
 * (a CreateCertificate worker that calls Vault itself). The relay never logs
 * in: when Vault refuses the token (403) the next {@link RelayedToken.token}
 * asks the owner once for the next generation, and every call waiting for it
 * shares that one question. The owner also pushes each new token (renewal
 * that changed it, re-login) through {@link RelayedToken.offer}.
 */
import { MeshsignError } from "../../../errors/index.js";
import type { TokenProvider, VaultToken } from "./session.js";

export interface RelayedTokenOptions {
  readonly initial: VaultToken;
  /** Whether the owner can obtain another token (false for a static token). */
  readonly canReobtain: boolean;
  /** Asks the owner for a token newer than generation `rejected`; the answer comes to offer() or refused(). */
  readonly ask: (rejected: number) => void;
  /** How long to wait for the owner's answer before giving up (the owner is stuck or gone). */
  readonly timeoutMs: number;
}

interface Waiter {
  resolve(token: string): void;
  reject(err: MeshsignError): void;
}

export class RelayedToken implements TokenProvider {
  readonly #o: RelayedTokenOptions;
  #current: VaultToken;
  #stale = false;
  #asked = false;
  #timer: NodeJS.Timeout | undefined;
  readonly #waiting = new Set<Waiter>();
  /** Never counted here: the owner logs in and renews. */
  readonly logins = 0;
  readonly renewals = 0;

  constructor(options: RelayedTokenOptions) {
    this.#o = options;
    this.#current = options.initial;
  }

  get canReobtain(): boolean {
    return this.#o.canReobtain;
  }

  /** The generation held now. */
  get generation(): number {
    return this.#current.generation;
  }

  token(signal?: AbortSignal): Promise<string> {
    if (!this.#stale) return Promise.resolve(this.#current.token);
    if (signal?.aborted) return Promise.reject(cancelled());
    return new Promise<string>((resolve, reject) => {
      const onAbort = () => {
        this.#waiting.delete(waiter);
        reject(cancelled());
      };
      const waiter: Waiter = {
        resolve: (t) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(t);
        },
        reject: (e) => {
          signal?.removeEventListener("abort", onAbort);
          reject(e);
        },
      };
      this.#waiting.add(waiter);
      signal?.addEventListener("abort", onAbort, { once: true });
      if (!this.#asked) {
        this.#asked = true;
        this.#timer = setTimeout(
          () => this.refused(this.#current.generation, `no new Vault token within ${this.#o.timeoutMs} ms`),
          this.#o.timeoutMs,
        );
        this.#timer.unref();
        this.#o.ask(this.#current.generation);
      }
    });
  }

  invalidate(token: string): void {
    if (this.#o.canReobtain && token === this.#current.token) this.#stale = true;
  }

  /** The owner's token: taken when newer than the one held, and handed to every waiting call. */
  offer(t: VaultToken): void {
    if (t.generation < this.#current.generation) return;
    if (t.generation === this.#current.generation && this.#stale) {
      // The owner still holds the generation refused here (a static token, or it saw no 403 yet).
      this.refused(t.generation, "Vault refused the token and no newer one could be obtained");
      return;
    }
    this.#current = t;
    this.#stale = false;
    this.#settle((w) => w.resolve(t.token));
  }

  /** The owner could not obtain a token newer than generation `rejected`; `message` is safe to show. */
  refused(rejected: number, message: string): void {
    if (rejected !== this.#current.generation || !this.#stale) return;
    const err = new MeshsignError("ERR_ISSUER_UNAVAILABLE", message, { retry: "transient" });
    this.#settle((w) => w.reject(err));
  }

  /** Refuses every waiting call (the issuer is being replaced or the process stops). */
  close(): void {
    const err = new MeshsignError("ERR_ISSUER_UNAVAILABLE", "the Vault issuer is being replaced", {
      retry: "transient",
    });
    this.#settle((w) => w.reject(err));
  }

  #settle(each: (w: Waiter) => void): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#asked = false;
    const waiting = [...this.#waiting];
    this.#waiting.clear();
    for (const w of waiting) each(w);
  }
}

function cancelled(): MeshsignError {
  return new MeshsignError("ERR_ISSUER_UNAVAILABLE", "the call to Vault was cancelled", { retry: "transient" });
}
