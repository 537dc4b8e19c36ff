/** Messages between the benchmark and its load-generator processes (IPC, advanced serialization). */
import type { GcPauses } from "./gc-pauses.js";

/** What the server under test is and how to trust it. */
export interface LoadTarget {
  readonly address: string;
  readonly rootsPem: string;
  /** TLS server name to verify (a name in the serving certificate). */
  readonly serverName: string;
}

/** One pre-built request: a CSR and the token of the identity it names. */
export interface LoadItem {
  readonly csr: string;
  readonly token: string;
}

export interface LoadJob {
  readonly target: LoadTarget;
  /** `create-certificate`: Istio's CreateCertificate with `items`; `empty`: the echo server's empty unary call. */
  readonly call: "create-certificate" | "empty";
  readonly items: readonly LoadItem[];
  /**
   * `reused`: `channels` long-lived channels (one HTTP/2 connection each), `inFlightPerChannel`
   * requests in flight on each; `cold`: `channels * inFlightPerChannel` lanes, each request on a
   * new channel (TCP + TLS handshake + HTTP/2 preface), closed after the answer.
   */
  readonly connection: "reused" | "cold";
  readonly channels: number;
  readonly inFlightPerChannel: number;
  /** Requests in this window are sent but not counted. */
  readonly warmupMs: number;
  readonly durationMs: number;
  /** Stop after this many counted requests even if `durationMs` has not passed. */
  readonly maxRequests: number;
  readonly deadlineMs: number;
  /**
   * Open loop: start requests at this constant total rate (per second, spread over the reused
   * channels) whatever the answers, instead of keeping `inFlightPerChannel` in flight. Latency is
   * then timed from each request's scheduled start, so a server that falls behind is not hidden.
   */
  readonly ratePerSecond?: number;
  /** Open loop: more than this many unanswered requests and the next scheduled ones are skipped (counted). */
  readonly maxInFlight?: number;
  /** When set, an {@link IntervalReport} is sent every this many ms of the measured window. */
  readonly intervalMs?: number;
}

/** What one load process saw in one interval of the measured window (requests answered in it). */
export interface IntervalReport {
  /** 0, 1, ... in order; the last one may be shorter. */
  readonly seq: number;
  readonly elapsedMs: number;
  readonly requests: number;
  readonly errorsByCode: Record<string, number>;
  /** Latencies of the successful requests, ms. */
  readonly latenciesMs: Float64Array;
  /** Open loop: scheduled requests not sent because `maxInFlight` were unanswered. */
  readonly skipped: number;
}

export interface LoadResult {
  /** Counted requests (after warm-up), successful or not. */
  readonly requests: number;
  readonly errors: number;
  /** Error counts by gRPC code/name, and a few messages. */
  readonly errorsByCode: Record<string, number>;
  readonly errorSamples: readonly string[];
  readonly elapsedMs: number;
  /** Latency of each successful counted request, ms. */
  readonly latenciesMs: Float64Array;
  /** CPU this load process spent in the counted window (user + system), ms. */
  readonly cpuMs: number;
  /** This load process's own GC pauses in the counted window (every request in flight waited them out). */
  readonly gc: GcPauses;
}

/** `stop` ends the measured window now (requests in flight still finish and count). */
export type ToLoadClient = { readonly type: "run"; readonly job: LoadJob } | { readonly type: "stop" };
export type FromLoadClient =
  | { readonly type: "ready" }
  | { readonly type: "measuring" }
  | { readonly type: "interval"; readonly report: IntervalReport }
  | { readonly type: "result"; readonly result: LoadResult }
  | { readonly type: "failed"; readonly message: string };
