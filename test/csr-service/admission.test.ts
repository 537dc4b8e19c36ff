import { EventEmitter } from "node:events";
import { type handleUnaryCall, type Metadata, type ServerUnaryCall, type ServiceError, status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { AdmissionGate } from "../../src/csr-service/admission.js";
import { IdentityRateLimiter, rateLimitedPolicy } from "../../src/csr-service/identity-rate-limit.js";
import type { AuthorizedRequest, CsrPolicy } from "../../src/csr-service/handler.js";
import { MeshsignError } from "../../src/errors/index.js";

/** A call as the gate sees it: an emitter that can be cancelled. */
function fakeCall(): ServerUnaryCall<unknown, unknown> & { cancel(): void } {
  const call = Object.assign(new EventEmitter(), {
    cancelled: false,
    cancel() {
      call.cancelled = true;
      call.emit("cancelled");
    },
  });
  return call as unknown as ServerUnaryCall<unknown, unknown> & { cancel(): void };
}

/** A handler whose calls finish when the test says so. */
function heldHandler(): { handler: handleUnaryCall<unknown, string>; started: string[]; finish(id: string): void } {
  const pending = new Map<string, () => void>();
  const started: string[] = [];
  return {
    started,
    handler: (call, callback) => {
      const id = (call as unknown as { id: string }).id;
      started.push(id);
      pending.set(id, () => callback(null, `done ${id}`));
    },
    finish: (id) => pending.get(id)?.(),
  };
}

interface Outcome {
  err: Partial<ServiceError> | null;
  value?: string;
}

function submit(wrapped: handleUnaryCall<unknown, string>, id: string): { call: ReturnType<typeof fakeCall>; outcome: Outcome[] } {
  const call = Object.assign(fakeCall(), { id });
  const outcome: Outcome[] = [];
  wrapped(call as never, (err, value) => outcome.push({ err: err as Partial<ServiceError> | null, ...(value ? { value } : {}) }));
  return { call, outcome };
}

describe("the admission gate", () => {
  it("runs up to maxInFlight calls, queues up to maxQueued, and refuses the rest at once with a retry hint", () => {
    const h = heldHandler();
    const gate = new AdmissionGate({ maxInFlight: 2, maxQueued: 3, maxQueueWaitMs: 60_000 }, { random: () => 0.5 });
    const wrapped = gate.wrap(h.handler);
    const calls = ["a", "b", "c", "d", "e", "f", "g"].map((id) => submit(wrapped, id));
    expect(h.started).toEqual(["a", "b"]);
    expect(gate.queued).toBe(3);
    for (const refused of calls.slice(5)) {
      expect(refused.outcome).toHaveLength(1);
      const err = refused.outcome[0]?.err;
      expect(err?.code).toBe(status.RESOURCE_EXHAUSTED);
      expect(err?.details).toMatch(/at capacity .*retry after 2000 ms \(ERR_OVERLOADED\)/);
      expect((err?.metadata as Metadata | undefined)?.get("grpc-retry-pushback-ms")).toEqual(["2000"]);
    }
  });

  it("starts queued calls in arrival order as slots free up", () => {
    const h = heldHandler();
    const wrapped = new AdmissionGate({ maxInFlight: 1, maxQueued: 10, maxQueueWaitMs: 60_000 }).wrap(h.handler);
    const calls = ["a", "b", "c"].map((id) => submit(wrapped, id));
    expect(h.started).toEqual(["a"]);
    h.finish("a");
    expect(calls[0]?.outcome).toEqual([{ err: null, value: "done a" }]);
    expect(h.started).toEqual(["a", "b"]);
    h.finish("b");
    expect(h.started).toEqual(["a", "b", "c"]);
  });

  it("drops a queued call whose client gave up, and it never runs", () => {
    const h = heldHandler();
    const gate = new AdmissionGate({ maxInFlight: 1, maxQueued: 10, maxQueueWaitMs: 60_000 });
    const wrapped = gate.wrap(h.handler);
    submit(wrapped, "a");
    const b = submit(wrapped, "b");
    submit(wrapped, "c");
    b.call.cancel();
    h.finish("a");
    expect(h.started).toEqual(["a", "c"]);
  });

  it("with no queue, refuses whenever every slot is busy", () => {
    const h = heldHandler();
    const wrapped = new AdmissionGate({ maxInFlight: 1, maxQueued: 0, maxQueueWaitMs: 60_000 }).wrap(h.handler);
    submit(wrapped, "a");
    expect(submit(wrapped, "b").outcome[0]?.err?.code).toBe(status.RESOURCE_EXHAUSTED);
  });

  it("refuses a waiting call that has waited past the limit instead of running it when a slot frees", () => {
    let now = 0;
    const h = heldHandler();
    const wrapped = new AdmissionGate({ maxInFlight: 1, maxQueued: 10, maxQueueWaitMs: 1000 }, { clock: () => now }).wrap(h.handler);
    submit(wrapped, "a");
    const b = submit(wrapped, "b");
    now = 1500;
    h.finish("a");
    expect(h.started).toEqual(["a"]);
    expect(b.outcome[0]?.err?.code).toBe(status.RESOURCE_EXHAUSTED);
  });

  it("refuses new calls at once while the oldest waiting call is past the limit (the queue is not keeping up)", () => {
    let now = 0;
    const h = heldHandler();
    const wrapped = new AdmissionGate({ maxInFlight: 1, maxQueued: 10, maxQueueWaitMs: 1000 }, { clock: () => now }).wrap(h.handler);
    submit(wrapped, "a");
    submit(wrapped, "b");
    now = 500;
    expect(submit(wrapped, "c").outcome).toEqual([]);
    now = 1001;
    expect(submit(wrapped, "d").outcome[0]?.err?.code).toBe(status.RESOURCE_EXHAUSTED);
  });

  it("refuses waiting calls past the limit even when no slot frees up (a stuck backend)", async () => {
    const h = heldHandler();
    const wrapped = new AdmissionGate({ maxInFlight: 1, maxQueued: 10, maxQueueWaitMs: 100 }).wrap(h.handler);
    submit(wrapped, "a");
    const b = submit(wrapped, "b");
    await new Promise((r) => setTimeout(r, 400));
    expect(b.outcome[0]?.err?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(h.started).toEqual(["a"]);
  });

  it("frees the slot of a call that failed", () => {
    const failing: handleUnaryCall<unknown, string> = (_call, callback) => callback({ code: status.INTERNAL, details: "boom" });
    const gate = new AdmissionGate({ maxInFlight: 1, maxQueued: 0, maxQueueWaitMs: 60_000 });
    const wrapped = gate.wrap(failing);
    for (let i = 0; i < 5; i++) expect(submit(wrapped, `x${i}`).outcome[0]?.err?.code).toBe(status.INTERNAL);
    expect(gate.inFlight).toBe(0);
  });
});

describe("the per-identity rate limit", () => {
  const A = "spiffe://cluster.local/ns/a/sa/a";
  const B = "spiffe://cluster.local/ns/b/sa/b";

  it("grants a burst, then one per 1/rate seconds, and says how long to wait", () => {
    let now = 1_000_000;
    const limiter = new IdentityRateLimiter({ ratePerSecond: 2, burst: 3 }, () => now);
    expect([limiter.take(A), limiter.take(A), limiter.take(A)]).toEqual([0, 0, 0]);
    expect(limiter.take(A)).toBe(500);
    now += 499;
    expect(limiter.take(A)).toBeGreaterThan(0);
    now += 2;
    expect(limiter.take(A)).toBe(0);
  });

  it("does not lock an identity out when the wall clock steps back (NTP)", () => {
    let now = 10_000_000;
    const limiter = new IdentityRateLimiter({ ratePerSecond: 1, burst: 2 }, () => now);
    expect([limiter.take(A), limiter.take(A)]).toEqual([0, 0]);
    now -= 3_600_000;
    // One token's wait, as without the step; not the hour the clock went back.
    expect(limiter.take(A)).toBe(1000);
    now += 1000;
    expect(limiter.take(A)).toBe(0);
  });

  it("keeps identities apart", () => {
    const limiter = new IdentityRateLimiter({ ratePerSecond: 1, burst: 1 }, () => 5);
    expect(limiter.take(A)).toBe(0);
    expect(limiter.take(A)).toBeGreaterThan(0);
    expect(limiter.take(B)).toBe(0);
  });

  it("refuses through the policy with ERR_RATE_LIMITED and the wait in its detail", async () => {
    const authorized = { identity: A, keyAlgorithm: "ecdsa-p256" } as unknown as AuthorizedRequest;
    const policy: CsrPolicy = () => authorized;
    const limited = rateLimitedPolicy(policy, new IdentityRateLimiter({ ratePerSecond: 1, burst: 1 }, () => 0));
    const input = {} as Parameters<CsrPolicy>[0];
    await expect(limited(input)).resolves.toBe(authorized);
    const refused = await Promise.resolve(limited(input)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(MeshsignError);
    expect(refused).toMatchObject({ code: "ERR_RATE_LIMITED", detail: { retryAfterMs: 1000 } });
  });
});
