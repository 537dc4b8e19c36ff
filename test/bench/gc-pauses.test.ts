import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";
import { addGcPauses, GcPauseWatch, gcPausesBetween, NO_GC_PAUSES, parseGcTotals } from "../../bench/lib/gc-pauses.js";

// A /metrics text as meshsign's primary serves it: the workers' histogram summed, every GC kind.
const METRICS = `# HELP nodejs_gc_duration_seconds Garbage collection duration by kind, one of major, minor, incremental or weakcb.
# TYPE nodejs_gc_duration_seconds histogram
nodejs_gc_duration_seconds_bucket{le="0.001",kind="minor"} 10
nodejs_gc_duration_seconds_bucket{le="+Inf",kind="minor"} 40
nodejs_gc_duration_seconds_sum{kind="minor"} 0.125
nodejs_gc_duration_seconds_count{kind="minor"} 40
nodejs_gc_duration_seconds_sum{kind="major"} 0.05
nodejs_gc_duration_seconds_count{kind="major"} 3
nodejs_gc_duration_seconds_sum{kind="incremental"} 0.0025
nodejs_gc_duration_seconds_count{kind="incremental"} 2
meshsign_csr_requests_total{outcome="issued",code="OK"} 1234
`;

describe("meshsign's GC pauses from /metrics", () => {
  it("sums the pause seconds and counts of every GC kind, ignoring buckets and other metrics", () => {
    const gc = parseGcTotals(METRICS);
    expect(gc.count).toBe(45);
    expect(gc.totalMs).toBeCloseTo(177.5, 6);
    expect(gc.maxMs).toBeNaN();
  });

  it("reads nothing from a text without the histogram", () => {
    expect(parseGcTotals("up 1\n")).toMatchObject({ count: 0, totalMs: 0 });
  });

  it("gives the pauses between two readings", () => {
    const before = { count: 45, totalMs: 177.5, maxMs: Number.NaN };
    const after = { count: 60, totalMs: 230, maxMs: Number.NaN };
    expect(gcPausesBetween(before, after)).toMatchObject({ count: 15, totalMs: 52.5 });
  });
});

describe("the load generator's own GC pauses", () => {
  it("adds counts and totals and keeps the longest pause", () => {
    const sum = addGcPauses({ count: 2, totalMs: 5, maxMs: 4 }, { count: 3, totalMs: 9, maxMs: 6 });
    expect(sum).toEqual({ count: 5, totalMs: 14, maxMs: 6 });
    expect(addGcPauses(NO_GC_PAUSES, sum)).toEqual(sum);
  });

  it("counts the collections that start after reset and none before", async () => {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as (options?: { type: "major" | "minor" }) => void;
    const watch = new GcPauseWatch();
    gc();
    // Let the observer deliver the collection above before the window opens.
    await new Promise((r) => setTimeout(r, 20));
    watch.reset(performance.now());
    gc();
    gc();
    // Node reports a collection to observers from the event loop, after it ends.
    await new Promise((r) => setTimeout(r, 20));
    const pauses = watch.stop();
    expect(pauses.count).toBeGreaterThanOrEqual(2);
    expect(pauses.totalMs).toBeGreaterThan(0);
    expect(pauses.maxMs).toBeLessThanOrEqual(pauses.totalMs);
  });
});
