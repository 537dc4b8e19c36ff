/**
 * The primary's side of the workers' Vault calls: it keeps the one login of
 * the workload issuer (renewal on a timer, since the workers use the token
 * and the primary may never ask for it between renewals), hands each worker
 * a grant with the current token, sends every new token to all workers, and
 * answers a worker's "Vault refused generation g" by logging in again once
 * however many workers ask ({@link VaultSession.reissue}).
 */
import type { Worker } from "node:cluster";
import type { Logger } from "pino";
import { toMeshsignError } from "../errors/index.js";
import { type VaultGrant, vaultGrant, type VaultShare } from "../issuers/vault/index.js";
import type { RemoteWorkloadIssuer } from "./workload-issuer.js";
import type { FromWorker, RemoteIssuerInfo, ToWorker } from "./worker-protocol.js";

interface Shared {
  readonly info: RemoteIssuerInfo;
  readonly share: VaultShare;
  readonly stop: () => void;
}

export class PrimaryVault {
  readonly #workers: () => readonly Worker[];
  readonly #log: Logger;
  #instance = 0;
  #shared: Shared | undefined;

  constructor(options: { workers: () => readonly Worker[]; log: Logger }) {
    this.#workers = options.workers;
    this.#log = options.log;
  }

  /** Starts sharing `remote` (and stops sharing the previous issuer); throws when it cannot be shared. */
  async use(remote: RemoteWorkloadIssuer): Promise<RemoteIssuerInfo> {
    const share = remote.share;
    if (share === undefined) throw new Error(`${remote.origin} cannot be shared with the workers`);
    const grant = await vaultGrant(share);
    this.drop();
    const instance = ++this.#instance;
    let info: RemoteIssuerInfo = {
      kind: remote.issuer.kind,
      origin: remote.origin,
      rootsPem: remote.rootsPem,
      instance,
      vault: grant,
    };
    const unsubscribe = share.session.onToken((token) => {
      info = { ...info, vault: { ...info.vault, token } satisfies VaultGrant };
      if (this.#shared?.info.instance === instance) this.#shared = { ...this.#shared, info };
      this.#log.info({ issuer: remote.origin, generation: token.generation }, "new Vault token sent to the workers");
      for (const w of this.#workers()) if (w.isConnected()) w.send({ type: "vault-token", instance, token } satisfies ToWorker);
    });
    const stopFresh = share.session.keepFresh();
    this.#shared = {
      info,
      share,
      stop: () => {
        unsubscribe();
        stopFresh();
      },
    };
    return info;
  }

  /** What a worker starting now is given; undefined while no Vault issuer signs. */
  info(): RemoteIssuerInfo | undefined {
    return this.#shared?.info;
  }

  /** A worker's message about a refused token. */
  answer(w: Worker, m: Extract<FromWorker, { type: "vault-token-rejected" }>): void {
    const s = this.#shared;
    if (s === undefined || s.info.instance !== m.instance) return;
    const { instance } = m;
    s.share.session.reissue(m.generation).then(
      (token) => {
        if (w.isConnected()) w.send({ type: "vault-token", instance, token } satisfies ToWorker);
      },
      (err: unknown) => {
        const e = toMeshsignError(err);
        this.#log.warn({ err: e, issuer: s.info.origin }, "Vault login for the workers failed");
        if (w.isConnected())
          w.send({ type: "vault-token-refused", instance, generation: m.generation, message: e.message } satisfies ToWorker);
      },
    );
  }

  /** Stops sharing (the issuer is replaced, or a CA signs from now on). */
  drop(): void {
    this.#shared?.stop();
    this.#shared = undefined;
  }
}
