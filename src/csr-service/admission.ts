import type { handleUnaryCall, sendUnaryData, ServerUnaryCall } from "@grpc/grpc-js";
import { MeshsignError } from "../errors/index.js";
import { retryPushback, toGrpcError } from "./status.js";

/**
 * Admission control in front of CreateCertificate: at most `maxInFlight`
 * calls run at once in this process, up to `maxQueued` more wait in arrival
 * order for at most `maxQueueWaitMs`, and anything beyond is refused with
 * RESOURCE_EXHAUSTED and a retry hint, before authentication or any parsing.
 *
 * The point is how a renewal storm degrades: when 10,000 agents arrive
 * together, the calls the process can serve soon are served, the rest are
 * told to come back (istio-agent retries RESOURCE_EXHAUSTED with its own
 * back-off), and what the process holds stays bounded, instead of every call
 * starting together, memory growing with the crowd and every call timing out.
 * A queued call whose client gives up (deadline or cancel) leaves the queue.
 */
export interface AdmissionLimits {
  /** Calls running at once. */
  readonly maxInFlight: number;
  /** Calls waiting for a slot; 0 refuses whenever all slots are busy. */
  readonly maxQueued: number;
  /**
   * Longest a call may wait for a slot. A call that has waited longer is
   * refused instead of run, and while the oldest waiting call is that old,
   * new calls are refused at once: a queue that drains slower than this only
   * turns refusals into client timeouts.
   */
  readonly maxQueueWaitMs: number;
}

/** Refused callers are told to retry after this long, spread by ±50% so they do not return together. */
export const OVERLOAD_RETRY_AFTER_MS = 2000;

interface Waiting {
  readonly run: () => void;
  readonly refuse: () => void;
  readonly call: ServerUnaryCall<unknown, unknown>;
  readonly since: number;
  cancelled: boolean;
}

export class AdmissionGate {
  #inFlight = 0;
  readonly #queue: Waiting[] = [];
  #queueHead = 0;
  #refused = 0;

  constructor(
    private readonly limits: AdmissionLimits,
    private readonly options: {
      /** Told about refusals at most every few seconds, with the count since the last report. */
      onRefused?: (report: { refused: number; inFlight: number; queued: number }) => void;
      random?: () => number;
      clock?: () => number;
    } = {},
  ) {
    this.#clock = options.clock ?? Date.now;
  }

  readonly #clock: () => number;
  #expiry: NodeJS.Timeout | undefined;

  get inFlight(): number {
    return this.#inFlight;
  }

  get queued(): number {
    return this.#queue.length - this.#queueHead;
  }

  /** `handler` behind the gate. */
  wrap<Req, Res>(handler: handleUnaryCall<Req, Res>): handleUnaryCall<Req, Res> {
    return (call, callback) => {
      const release = (): void => {
        this.#inFlight--;
        this.#next();
      };
      const run = (): void => {
        this.#inFlight++;
        let released = false;
        handler(call, ((err, value, trailer, flags) => {
          if (!released) {
            released = true;
            release();
          }
          callback(err, value, trailer, flags);
        }) as sendUnaryData<Res>);
      };
      const now = this.#clock();
      if (this.#inFlight < this.limits.maxInFlight && this.queued === 0) {
        run();
      } else if (this.queued < this.limits.maxQueued && !this.#behind(now)) {
        const waiting: Waiting = {
          run,
          refuse: () => this.#refuse(callback),
          call: call as ServerUnaryCall<unknown, unknown>,
          since: now,
          cancelled: false,
        };
        call.once("cancelled", () => {
          waiting.cancelled = true;
        });
        this.#queue.push(waiting);
        this.#expiry ??= setInterval(() => this.#expire(), Math.max(50, Math.min(1000, this.limits.maxQueueWaitMs / 4)));
        this.#expiry.unref();
      } else {
        this.#refuse(callback);
      }
    };
  }

  /** Whether the oldest waiting call has waited too long already (the queue is not keeping up). */
  #behind(now: number): boolean {
    const oldest = this.#queue[this.#queueHead];
    return oldest !== undefined && now - oldest.since > this.limits.maxQueueWaitMs;
  }

  #shift(): Waiting {
    const waiting = this.#queue[this.#queueHead] as Waiting;
    this.#queue[this.#queueHead] = undefined as unknown as Waiting;
    this.#queueHead++;
    if (this.#queueHead === this.#queue.length) {
      this.#queue.length = 0;
      this.#queueHead = 0;
    } else if (this.#queueHead > 1024 && this.#queueHead * 2 > this.#queue.length) {
      this.#queue.splice(0, this.#queueHead);
      this.#queueHead = 0;
    }
    if (this.queued === 0 && this.#expiry) {
      clearInterval(this.#expiry);
      this.#expiry = undefined;
    }
    return waiting;
  }

  #next(): void {
    const now = this.#clock();
    while (this.#inFlight < this.limits.maxInFlight && this.queued > 0) {
      const waiting = this.#shift();
      // The client gave up while waiting; grpc-js has already answered it.
      if (waiting.cancelled || waiting.call.cancelled) continue;
      if (now - waiting.since > this.limits.maxQueueWaitMs) waiting.refuse();
      else waiting.run();
    }
  }

  /** Refuses waiting calls that are past the wait limit even while no slot frees up (a stuck backend). */
  #expire(): void {
    const now = this.#clock();
    while (this.queued > 0 && this.#behind(now)) {
      const waiting = this.#shift();
      if (!(waiting.cancelled || waiting.call.cancelled)) waiting.refuse();
    }
  }

  #refuse(callback: sendUnaryData<never>): void {
    this.#refused++;
    this.#report();
    const spread = 0.5 + (this.options.random ?? Math.random)();
    const retryAfterMs = Math.round(OVERLOAD_RETRY_AFTER_MS * spread);
    const error = new MeshsignError(
      "ERR_OVERLOADED",
      `the CA is at capacity (${this.#inFlight} calls in flight, ${this.queued} waiting); retry after ${retryAfterMs} ms`,
      { retry: "transient", detail: { retryAfterMs } },
    );
    const { code, details } = toGrpcError(error);
    const trailer = retryPushback(error);
    callback({ code, details, ...(trailer ? { metadata: trailer } : {}) });
  }

  #reportTimer: NodeJS.Timeout | undefined;

  #report(): void {
    if (this.#reportTimer || !this.options.onRefused) return;
    this.#reportTimer = setTimeout(() => {
      this.#reportTimer = undefined;
      this.options.onRefused?.({ refused: this.#refused, inFlight: this.#inFlight, queued: this.queued });
      this.#refused = 0;
    }, 5000);
    this.#reportTimer.unref();
  }
}
