import { describe, expect, it } from "vitest";
import { parseLoopLag } from "../../bench/lib/loop-lag.js";
import {
  FLAT_BOUNDS,
  lagHeld,
  lagPhases,
  median,
  rssSlopeMbPer10Min,
  type SoakSample,
  slope,
  soakVerdict,
} from "../../bench/lib/soak-verdict.js";

const MB = 2 ** 20;

/** A 30-minute soak sampled every 10 s: RSS and lag as functions of the time in seconds. */
function soak(
  rssMb: (t: number) => number,
  workerLagMs: (t: number) => number = () => 12,
  primaryLagMs: (t: number) => number = () => 11,
  seconds = 1800,
): SoakSample[] {
  return Array.from({ length: seconds / 10 }, (_, i) => {
    const t = (i + 1) * 10;
    return {
      atSeconds: t,
      rssBytes: rssMb(t) * MB,
      workerLagP99Ms: workerLagMs(t),
      primaryLagP99Ms: primaryLagMs(t),
    };
  });
}

describe("least-squares slope", () => {
  it("is the gradient of points on a line", () => {
    expect(slope([0, 1, 2, 3].map((x) => ({ x, y: 3 * x + 7 })))).toBeCloseTo(3, 10);
  });

  it("is NaN for fewer than two points or a single x", () => {
    expect(slope([{ x: 1, y: 1 }])).toBeNaN();
    expect(
      slope([
        { x: 1, y: 1 },
        { x: 1, y: 5 },
      ]),
    ).toBeNaN();
  });
});

describe("median", () => {
  it("takes the middle value, the mean of the two middle ones, and skips NaN", () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([Number.NaN, 7])).toBe(7);
    expect(median([])).toBeNaN();
  });
});

describe("the RSS slope over the last third", () => {
  it("reads a steady growth as MB per 10 minutes", () => {
    // 1 MB a minute = 10 MB per 10 minutes.
    expect(rssSlopeMbPer10Min(soak((t) => 250 + t / 60))).toBeCloseTo(10, 6);
  });

  it("ignores growth that stopped before the last third (warm-up, heap reaching its cap)", () => {
    expect(rssSlopeMbPer10Min(soak((t) => (t < 900 ? 200 + t / 10 : 290)))).toBeCloseTo(0, 6);
  });

  it("sees a GC sawtooth with no trend as flat", () => {
    const s = rssSlopeMbPer10Min(soak((t) => 280 + ((t / 10) % 6) * 4));
    expect(Math.abs(s)).toBeLessThan(1);
  });
});

describe("the event-loop lag phases", () => {
  it("compares the first and last five minutes by the median of their windows' p99", () => {
    const p = lagPhases(
      soak(
        () => 280,
        (t) => (t <= 300 ? 10 : t > 1500 ? 20 : 15),
      ),
      (s) => s.workerLagP99Ms,
      300,
    );
    expect(p).toEqual({ phaseSeconds: 300, firstMs: 10, lastMs: 20 });
  });

  it("shortens the phases to a third of a short run so they never overlap", () => {
    const p = lagPhases(
      soak(
        () => 280,
        (t) => t,
        undefined,
        180,
      ),
      (s) => s.workerLagP99Ms,
      300,
    );
    expect(p.phaseSeconds).toBe(60);
    expect(p.firstMs).toBe(35); // windows ending at 10..60 s
    expect(p.lastMs).toBe(155); // windows ending at 130..180 s
  });

  it("allows a rise within the factor or the absolute allowance, not beyond both", () => {
    expect(lagHeld({ phaseSeconds: 300, firstMs: 20, lastMs: 30 }, FLAT_BOUNDS)).toBe(true); // x1.5
    expect(lagHeld({ phaseSeconds: 300, firstMs: 2, lastMs: 7 }, FLAT_BOUNDS)).toBe(true); // +5 ms
    expect(lagHeld({ phaseSeconds: 300, firstMs: 20, lastMs: 31 }, FLAT_BOUNDS)).toBe(false);
    expect(lagHeld({ phaseSeconds: 300, firstMs: Number.NaN, lastMs: 5 }, FLAT_BOUNDS)).toBe(false);
  });
});

describe("the soak verdict", () => {
  it("is flat for steady memory and lag", () => {
    const v = soakVerdict(soak((t) => 280 + ((t / 10) % 3)));
    expect(v.flat).toBe(true);
    expect(v.reasons).toEqual([]);
  });

  it("is not flat when RSS keeps growing past the bound, and says by how much", () => {
    const v = soakVerdict(soak((t) => 250 + t / 60)); // 10 MB / 10 min
    expect(v.flat).toBe(false);
    expect(v.rssFlat).toBe(false);
    expect(v.lagFlat).toBe(true);
    expect(v.reasons[0]).toMatch(/RSS grew 10\.0 MB per 10 min/);
  });

  it("calls a shrinking tree flat", () => {
    expect(soakVerdict(soak((t) => 400 - t / 60)).rssFlat).toBe(true);
  });

  it("is not flat when the primary's lag doubles though the workers' holds", () => {
    const v = soakVerdict(
      soak(
        () => 280,
        undefined,
        (t) => (t > 900 ? 24 : 11),
      ),
    );
    expect(v.flat).toBe(false);
    expect(v.lagFlat).toBe(false);
    expect(v.reasons).toEqual(["primary's event-loop lag p99 went from 11.0 to 24.0 ms"]);
  });

  it("is never flat with too few samples to judge", () => {
    const v = soakVerdict(soak(() => 280, undefined, undefined, 30));
    expect(v.flat).toBe(false);
    expect(v.reasons[0]).toMatch(/only 1 sample/);
  });
});

describe("event-loop lag from /metrics", () => {
  it("reads the workers' aggregated gauges and the primary's prefixed ones, in ms", () => {
    const text = [
      "# TYPE nodejs_eventloop_lag_p99_seconds gauge",
      "nodejs_eventloop_lag_p99_seconds 0.0125",
      "nodejs_eventloop_lag_max_seconds 0.04",
      "meshsign_primary_nodejs_eventloop_lag_p99_seconds 0.0105",
      "meshsign_primary_nodejs_eventloop_lag_max_seconds 0.011",
    ].join("\n");
    const r = parseLoopLag(text);
    expect(r.workers.p99Ms).toBeCloseTo(12.5, 9);
    expect(r.workers.maxMs).toBeCloseTo(40, 9);
    expect(r.primary.p99Ms).toBeCloseTo(10.5, 9);
    expect(r.primary.maxMs).toBeCloseTo(11, 9);
  });

  it("takes the unprefixed figures as the primary's when it serves alone (--workers 1)", () => {
    const r = parseLoopLag(
      'nodejs_eventloop_lag_p99_seconds{a="b"} 0.02\nnodejs_eventloop_lag_max_seconds 0.03\n',
    );
    expect(r.primary).toEqual(r.workers);
    expect(r.primary.p99Ms).toBeCloseTo(20, 9);
  });

  it("is NaN when the gauges are missing", () => {
    expect(parseLoopLag("up 1\n").workers.p99Ms).toBeNaN();
  });
});
