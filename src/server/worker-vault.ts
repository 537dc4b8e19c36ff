/**
 * A CreateCertificate worker's Vault issuer: built from the primary's grant
 * (worker-protocol.ts RemoteIssuerInfo), it calls Vault over the worker's own
 * kept-alive connections with the token of the primary's one login, guarded
 * like the primary's (in-flight bound, deadline, circuit breaker). A 403 asks
 * the primary once for the next token ({@link RelayedToken}). A new grant
 * (the issuer or its Secrets changed) replaces the instance; the old one's
 * connections are closed once calls already on them had their deadline.
 */
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { GUARD_DEFAULTS } from "../issuers/guarded-issuer.js";
import { type RelayedToken, relayedVaultIssuer, type VaultIssuer } from "../issuers/vault/index.js";
import type { RemoteSigning } from "./csr-stack.js";
import { guardRemoteIssuer } from "./remote-guard.js";
import type { FromWorker, RemoteIssuerInfo, ToWorker } from "./worker-protocol.js";

interface Current {
  readonly instance: number;
  readonly issuer: VaultIssuer;
  readonly relay: RelayedToken;
}

export class WorkerVault {
  readonly #send: (m: FromWorker) => void;
  readonly #log: Logger;
  readonly #metrics: Registry;
  #current: Current | undefined;

  constructor(options: { send: (m: FromWorker) => void; log: Logger; metrics: Registry }) {
    this.#send = options.send;
    this.#log = options.log;
    this.#metrics = options.metrics;
  }

  /** A guarded issuer for `remote`, replacing the previous one. */
  use(remote: RemoteIssuerInfo): RemoteSigning {
    const { instance } = remote;
    const { issuer, relay } = relayedVaultIssuer(remote.vault, (generation) =>
      this.#send({ type: "vault-token-rejected", instance, generation }),
    );
    this.drop();
    this.#current = { instance, issuer, relay };
    const guarded = guardRemoteIssuer(issuer, {
      origin: remote.origin,
      where: remote.origin,
      log: this.#log,
      metrics: this.#metrics,
    });
    return { issuer: guarded, rootsPem: remote.rootsPem, origin: remote.origin };
  }

  /** The primary's token messages. */
  onMessage(m: Extract<ToWorker, { type: "vault-token" | "vault-token-refused" }>): void {
    const c = this.#current;
    if (c === undefined || c.instance !== m.instance) return;
    if (m.type === "vault-token") c.relay.offer(m.token);
    else c.relay.refused(m.generation, m.message);
  }

  /** No Vault issuer any more (replaced, or the primary switched to a CA); its calls get their deadline first. */
  drop(): void {
    const old = this.#current;
    this.#current = undefined;
    if (old === undefined) return;
    setTimeout(() => {
      old.relay.close();
      old.issuer.close();
    }, GUARD_DEFAULTS.callTimeoutMs).unref();
  }

  /** Closes at once (the worker stops). */
  close(): void {
    this.#current?.relay.close();
    this.#current?.issuer.close();
    this.#current = undefined;
  }
}
