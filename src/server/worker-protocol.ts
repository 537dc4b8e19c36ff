import type { Config } from "./config.js";
import type { CaMaterial } from "./csr-stack.js";
import type { IssuanceRecord } from "./issuance-log.js";
import type { SignAnswer, SignCall } from "./remote-signing.js";
import type { ServingKeyPair } from "./tls/rotating-credentials.js";

/** A remote workload issuer (Vault) the primary signs with on the workers' behalf. */
export interface RemoteIssuerInfo {
  readonly kind: string;
  readonly origin: string;
  readonly rootsPem: string;
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
  | SignAnswer
  | { type: "shutdown" };
/** Messages from a worker to the primary. */
export type FromWorker =
  | { type: "hello" }
  | { type: "ready"; port: number }
  | { type: "issued"; records: IssuanceRecord[] }
  | SignCall;

/**
 * Workers report issuances to the primary in batches: one IPC message per
 * request cost about 10% of a worker's CPU under load (a pipe write and a
 * wake-up of the primary per certificate; bench profile, docs/benchmarks.md).
 */
export const ISSUED_FLUSH_MS = 100;
export const ISSUED_BATCH_MAX = 256;
