import type { VaultGrant, VaultToken } from "../issuers/vault/index.js";
import type { Config } from "./config.js";
import type { CaMaterial } from "./csr-stack.js";
import type { IssuanceRecord } from "./issuance-log.js";
import type { ServingKeyPair } from "./tls/rotating-credentials.js";

/**
 * A remote workload issuer (Vault) each worker calls itself, with the token
 * the primary's one login obtained (worker-vault.ts, primary-vault.ts). It
 * carries the token and the transport's client key: never log it.
 */
export interface RemoteIssuerInfo {
  readonly kind: string;
  readonly origin: string;
  readonly rootsPem: string;
  /** Which issuer instance of the primary this is; token messages name it. */
  readonly instance: number;
  readonly vault: VaultGrant;
}

/** Messages from the primary to a CreateCertificate worker. */
export type ToWorker =
  | {
      type: "init";
      config: Config;
      pair: ServingKeyPair;
      ca: CaMaterial;
      remote?: RemoteIssuerInfo;
      /** The token's and the leaf's signatures on libuv's thread pool (buildCsrStack's cryptoOnThreadPool). */
      cryptoOnThreadPool?: boolean;
    }
  | { type: "serving"; pair: ServingKeyPair }
  | { type: "roots"; pem: string }
  | { type: "ca"; ca: CaMaterial }
  | { type: "remote"; remote: RemoteIssuerInfo }
  /** A new token of issuer `instance` (after a re-login), or the answer to vault-token-rejected. */
  | { type: "vault-token"; instance: number; token: VaultToken }
  /** The primary could not obtain a token newer than `generation`; `message` is safe to show. */
  | { type: "vault-token-refused"; instance: number; generation: number; message: string }
  | { type: "shutdown" };
/** Messages from a worker to the primary. */
export type FromWorker =
  | { type: "hello" }
  | { type: "ready"; port: number }
  | { type: "issued"; records: IssuanceRecord[] }
  /** Vault refused generation `generation` of issuer `instance`'s token (HTTP 403). */
  | { type: "vault-token-rejected"; instance: number; generation: number };

/**
 * Workers report issuances to the primary in batches: one IPC message per
 * request cost about 10% of a worker's CPU under load (a pipe write and a
 * wake-up of the primary per certificate; bench profile, docs/benchmarks.md).
 */
export const ISSUED_FLUSH_MS = 100;
export const ISSUED_BATCH_MAX = 256;
