/**
 * One live instance per issuer resource in a process, whoever builds it.
 *
 * The engine (Certificates) and the CreateCertificate path build the issuer
 * an Issuer/ClusterIssuer names on their own, each with its own lifecycle
 * (the engine rebuilds on every change it watches; the workload issuer on
 * the changes it watches). For a remote backend two instances mean two
 * logins, two tokens to renew, two connection pools and two health timers
 * against the same Vault. A factory that receives this pool (through
 * {@link IssuerBuildContext.shared}) asks it first: the same resource with
 * the same spec and Secret values gets the instance already live, behind a
 * handle whose `close` releases one reference; the instance itself closes
 * when the last handle does. A changed spec or Secret is another key, so it
 * gets a new instance, as before.
 */
import { createHash } from "node:crypto";
import type { Issuer, IssuerStatus, SignRequest, SignResult } from "./issuer.js";

interface Entry {
  readonly instance: Promise<Issuer>;
  refs: number;
}

/** A reference to a shared instance: everything but `close` goes to it. */
class SharedIssuerHandle implements Issuer {
  readonly #instance: Issuer;
  readonly #release: () => void;
  #closed = false;

  constructor(instance: Issuer, release: () => void) {
    this.#instance = instance;
    this.#release = release;
  }

  get kind(): string {
    return this.#instance.kind;
  }

  /** The shared instance (statistics such as a Vault issuer's token logins). */
  get instance(): Issuer {
    return this.#instance;
  }

  status(): IssuerStatus {
    return this.#instance.status();
  }

  sign(request: SignRequest, signal?: AbortSignal): Promise<SignResult> {
    return this.#instance.sign(request, signal);
  }

  watchStatus(listener: (status: IssuerStatus) => void): () => void {
    return this.#instance.watchStatus?.(listener) ?? (() => {});
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#release();
  }
}

/** The instance behind `issuer` when it is a handle from a {@link SharedIssuers} pool, else `issuer` itself. */
export function sharedInstanceOf(issuer: Issuer): Issuer {
  return issuer instanceof SharedIssuerHandle ? issuer.instance : issuer;
}

export class SharedIssuers {
  readonly #entries = new Map<string, Entry>();

  /**
   * A stable key for a resource and everything its instance is built from
   * (spec and the Secret values read), hashed so no Secret value is held in
   * a key.
   */
  static key(resource: string, inputs: unknown): string {
    return `${resource}#${createHash("sha256").update(JSON.stringify(inputs)).digest("base64url")}`;
  }

  /** Live instances (for tests and metrics). */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * A handle on the instance for `key`, calling `create` only when none is
   * live; concurrent callers share one `create`. `created` says whether this
   * call built it (a caller that built an instance in advance closes its own
   * when not). A `create` that fails is not kept.
   */
  async acquire(key: string, create: () => Promise<Issuer>): Promise<{ issuer: Issuer; created: boolean }> {
    let entry = this.#entries.get(key);
    const created = entry === undefined;
    if (entry === undefined) {
      const instance = create();
      entry = { instance, refs: 0 };
      this.#entries.set(key, entry);
      const e = entry;
      instance.catch(() => {
        if (this.#entries.get(key) === e) this.#entries.delete(key);
      });
    }
    entry.refs++;
    const e = entry;
    let instance: Issuer;
    try {
      instance = await e.instance;
    } catch (err) {
      e.refs--;
      throw err;
    }
    return {
      issuer: new SharedIssuerHandle(instance, () => {
        e.refs--;
        if (e.refs > 0) return;
        if (this.#entries.get(key) === e) this.#entries.delete(key);
        instance.close?.();
      }),
      created,
    };
  }
}
