import { describe, expect, it } from "vitest";
import { exponentialDelayMs, nextIssuanceAttemptMs, DEFAULT_ISSUANCE_BACKOFF } from "../../src/engine/backoff.js";
import { renewalJitterMs, renewalTime } from "../../src/engine/renewal.js";
import { Scheduler } from "../../src/engine/scheduler.js";
import { FakeClock } from "./lib/fake-clock.js";

const H = 3_600_000;
const D = 24 * H;
const T0 = Date.parse("2026-03-01T00:00:00Z");

describe("renewal time", () => {
  it.each([
    ["a default 90-day certificate renews 30 days before expiry", { notBeforeMs: T0, notAfterMs: T0 + 90 * D }, T0 + 60 * D],
    ["a 1h certificate renews at 40 minutes", { notBeforeMs: T0, notAfterMs: T0 + H }, T0 + 40 * 60_000],
    ["renewBefore shorter than the lifetime is used as is", { notBeforeMs: T0, notAfterMs: T0 + 90 * D, renewBeforeMs: 15 * D }, T0 + 75 * D],
    ["renewBefore longer than the lifetime falls back to a third", { notBeforeMs: T0, notAfterMs: T0 + 3 * H, renewBeforeMs: 5 * H }, T0 + 2 * H],
    ["renewBeforePercentage 25 renews at three quarters", { notBeforeMs: T0, notAfterMs: T0 + 100 * H, renewBeforePercentage: 25 }, T0 + 75 * H],
    ["the result is truncated to the second", { notBeforeMs: T0, notAfterMs: T0 + 10_000 }, T0 + 6_000],
  ])("%s", (_name, input, expected) => {
    expect(renewalTime(input)).toBe(expected);
  });

  it("returns nothing when renewal is disabled", () => {
    expect(renewalTime({ notBeforeMs: T0, notAfterMs: T0 + D, disabled: true })).toBeUndefined();
  });

  it("jitters within 5 % of the renew-before window, at most one hour", () => {
    expect(renewalJitterMs({ notBeforeMs: T0, notAfterMs: T0 + 3 * H }, 0)).toBe(0);
    expect(renewalJitterMs({ notBeforeMs: T0, notAfterMs: T0 + 3 * H }, 0.5)).toBe(90_000);
    expect(renewalJitterMs({ notBeforeMs: T0, notAfterMs: T0 + 90 * D }, 0.999)).toBeLessThan(H);
  });
});

describe("issuance back-off", () => {
  it.each([
    [0, 1], [1, 1], [2, 2], [3, 4], [4, 8], [5, 16], [6, 32], [7, 32], [50, 32],
  ])("after %i failed attempts the wait is %ih", (attempts, hours) => {
    expect(exponentialDelayMs(attempts, DEFAULT_ISSUANCE_BACKOFF)).toBe(hours * H);
  });

  it("schedules the next attempt from the last failure, and not at all without one", () => {
    expect(nextIssuanceAttemptMs(T0, 3)).toBe(T0 + 4 * H);
    expect(nextIssuanceAttemptMs(undefined, 3)).toBeUndefined();
  });
});

describe("scheduler", () => {
  it("runs keys in deadline order, one at a time per key, and re-runs a key enqueued while it ran", async () => {
    const clock = new FakeClock(T0);
    const seen: string[] = [];
    let running = 0;
    let maxRunning = 0;
    let rerun = true;
    const s: Scheduler = new Scheduler({
      clock,
      concurrency: 4,
      handler: async (key) => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        seen.push(`${key}@${clock.now() - T0}`);
        if (key === "b" && rerun) {
          rerun = false;
          s.enqueue("b");
        }
        await new Promise((r) => setImmediate(r));
        running--;
        return undefined;
      },
    });
    s.schedule("c", T0 + 3000);
    s.schedule("a", T0 + 1000);
    s.schedule("b", T0 + 2000);
    s.schedule("a", T0 + 5000); // later than the existing deadline: ignored
    s.start();
    await clock.advanceTo(T0 + 10_000, () => s.idle());
    expect(seen).toEqual(["a@1000", "b@2000", "b@2000", "c@3000"]);
    expect(maxRunning).toBe(1);
    await s.stop();
  });

  it("retries a failing key with exponential back-off starting at one second", async () => {
    const clock = new FakeClock(T0);
    const times: number[] = [];
    const s = new Scheduler({
      clock,
      handler: async () => {
        times.push(clock.now() - T0);
        throw new Error("boom");
      },
    });
    s.start();
    s.enqueue("x");
    await s.idle();
    await clock.advanceTo(T0 + 8_000, () => s.idle());
    expect(times).toEqual([0, 1000, 3000, 7000]);
    await s.stop();
  });
});
