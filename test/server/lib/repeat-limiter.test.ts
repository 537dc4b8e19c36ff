import { afterEach, describe, expect, it, vi } from "vitest";
import { RepeatLimiter } from "../../../src/server/lib/repeat-limiter.js";

afterEach(() => {
  vi.useRealTimers();
});

describe("RepeatLimiter", () => {
  it("lets the first of identical messages through, counts the rest of the window, then reports them in one summary", () => {
    vi.useFakeTimers();
    const summaries: [string, number, unknown][] = [];
    const limiter = new RepeatLimiter({ windowMs: 60_000, now: () => Date.now(), onSummary: (k, n, last) => summaries.push([k, n, last]) });
    const logged = Array.from({ length: 1537 }, (_, i) => limiter.admit("store write refused", `cert-${i}`)).filter(Boolean).length;
    expect(logged).toBe(1);
    expect(limiter.admit("another message")).toBe(true);
    expect(summaries).toEqual([]);
    vi.advanceTimersByTime(60_000);
    expect(summaries).toEqual([["store write refused", 1536, "cert-1536"]]);
    // A new window starts with a logged line again; a key repeated nothing has no summary.
    expect(limiter.admit("store write refused")).toBe(true);
    vi.advanceTimersByTime(60_000);
    expect(summaries).toHaveLength(1);
  });

  it("reports what it holds back when flushed", () => {
    const summaries: [string, number][] = [];
    const limiter = new RepeatLimiter({ onSummary: (k, n) => summaries.push([k, n]) });
    limiter.admit("a");
    limiter.admit("a");
    limiter.admit("a");
    limiter.flush();
    expect(summaries).toEqual([["a", 2]]);
  });
});
