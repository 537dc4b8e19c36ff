import type { handleUnaryCall, sendUnaryData, ServerUnaryCall } from "@grpc/grpc-js";
import { MeshsignError } from "../errors/index.js";
import { retryPushback, toGrpcError } from "./status.js";

/**
 * Admission control in front of CreateCertificate: at most `maxInFlight`
 * calls run at once in this process, up to `maxQueued` more wait in arrival
 * order, and anything beyond is refused at once with RESOURCE_EXHAUSTED and a
 * retry hint, before authentication or any parsing.
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
}

/** Refused callers are told to retry after this long, spread by ±50% so they do not return together. */
export const OVERLOAD_RETRY_AFTER_MS = 2000;

interface Waiting {
  readonly run: () => void;
  readonly call: ServerUnaryCall<unknown, unknown>;
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
    } = {},
  ) {}

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
      if (this.#inFlight < this.limits.maxInFlight && this.queued === 0) {
        run();
      } else if (this.queued < this.limits.maxQueued) {
        const waiting: Waiting = { run, call: call as ServerUnaryCall<unknown, unknown>, cancelled: false };
        call.once("cancelled", () => {
          waiting.cancelled = true;
        });
        this.#queue.push(waiting);
      } else {
        this.#refuse(callback);
      }
    };
  }

  #next(): void {
    while (this.#inFlight < this.limits.maxInFlight && this.queued > 0) {
      const waiting = this.#queue[this.#queueHead] as Waiting;
      this.#queue[this.#queueHead] = undefined as unknown as Waiting;
      this.#queueHead++;
      if (this.#queueHead > 1024 && this.#queueHead * 2 > this.#queue.length) {
        this.#queue.splice(0, this.#queueHead);
        this.#queueHead = 0;
      }
      // The client gave up while waiting; grpc-js has already answered it.
      if (waiting.cancelled || waiting.call.cancelled) continue;
      waiting.run();
    }
  }

  #refuse(callback: sendUnaryData<never>): void {
    this.#refused++;
    this.#report();
    const spread = 0.5 + (this.options.random ?? Math.random)();
    const retryAfterMs = Math.round(OVERLOAD_RETRY_AFTER_MS * spread);
    const error = new MeshsignError(
      "ERR_OVERLOADED",
      `the CA is at capacity (${this.limits.maxInFlight} calls in flight, ${this.limits.maxQueued} waiting); retry after ${retryAfterMs} ms`,
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
