import { describe, expect, it } from "vitest";
import { LogLimiter } from "../../src/engine/lib/log-limiter.js";
import { FakeClock } from "./lib/fake-clock.js";

describe("LogLimiter", () => {
  it("lets one line per key through each interval and reports how many were left out", async () => {
    const clock = new FakeClock(0);
    const limiter = new LogLimiter({ clock, intervalMs: 60_000 });
    expect(limiter.allow("a")).toEqual({ suppressed: 0 });
    expect(limiter.allow("a")).toBeUndefined();
    expect(limiter.allow("a")).toBeUndefined();
    expect(limiter.allow("b")).toEqual({ suppressed: 0 });
    await clock.advance(59_999);
    expect(limiter.allow("a")).toBeUndefined();
    await clock.advance(1);
    expect(limiter.allow("a")).toEqual({ suppressed: 3 });
    expect(limiter.allow("a")).toBeUndefined();
  });

  it("caps lines across keys with a token bucket, counting what it drops per key", async () => {
    const clock = new FakeClock(0);
    const limiter = new LogLimiter({ clock, burst: 3, perSecond: 1 });
    const allowed = Array.from({ length: 10 }, (_, i) => limiter.allow(`k${i}`)).filter((a) => a !== undefined);
    expect(allowed).toHaveLength(3);
    await clock.advance(1_000);
    expect(limiter.allow("k9")).toEqual({ suppressed: 1 });
    expect(limiter.allow("k8")).toBeUndefined();
  });

  it("forgets the oldest keys beyond maxKeys", () => {
    const clock = new FakeClock(0);
    const limiter = new LogLimiter({ clock, maxKeys: 2, burst: 100 });
    limiter.allow("a");
    limiter.allow("b");
    limiter.allow("c");
    // "a" was forgotten, so it is allowed again at once.
    expect(limiter.allow("a")).toEqual({ suppressed: 0 });
    expect(limiter.allow("c")).toBeUndefined();
  });
});
