/**
 * Stop-the-world garbage-collection pauses over a load window, for the
 * load generator (observed in-process) and for meshsign (from the
 * `nodejs_gc_duration_seconds` histogram prom-client keeps in every
 * process). Every request in flight in a process waits out its pauses, so
 * they are one of the places a p99 goes.
 */
import { type PerformanceEntry, PerformanceObserver } from "node:perf_hooks";

export interface GcPauses {
  readonly count: number;
  readonly totalMs: number;
  /** Longest single pause, ms; NaN when unknown (a histogram keeps no maximum). */
  readonly maxMs: number;
}

export const NO_GC_PAUSES: GcPauses = { count: 0, totalMs: 0, maxMs: 0 };

export function addGcPauses(a: GcPauses, b: GcPauses): GcPauses {
  return { count: a.count + b.count, totalMs: a.totalMs + b.totalMs, maxMs: Math.max(a.maxMs, b.maxMs) };
}

/** Sums this process's GC pauses (perf_hooks `gc` entries) that start after the last {@link reset}. */
export class GcPauseWatch {
  #since = Number.POSITIVE_INFINITY;
  #pauses: GcPauses = NO_GC_PAUSES;
  readonly #observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) this.#add(e);
  });

  constructor() {
    this.#observer.observe({ entryTypes: ["gc"] });
  }

  /** Starts counting from `now` (performance.now() milliseconds). */
  reset(now: number): void {
    this.#since = now;
    this.#pauses = NO_GC_PAUSES;
  }

  /** The pauses counted so far; the observer is disconnected. Entries still queued are taken first. */
  stop(): GcPauses {
    for (const e of this.#observer.takeRecords()) this.#add(e);
    this.#observer.disconnect();
    return this.#pauses;
  }

  #add(e: PerformanceEntry): void {
    if (e.startTime < this.#since) return;
    this.#pauses = addGcPauses(this.#pauses, { count: 1, totalMs: e.duration, maxMs: e.duration });
  }
}

const GC_SUM = "nodejs_gc_duration_seconds_sum";
const GC_COUNT = "nodejs_gc_duration_seconds_count";

/**
 * meshsign's GC pauses so far, summed over every GC kind and every process in a /metrics text (the
 * primary's /metrics carries the workers' figures summed, then its own).
 */
export function parseGcTotals(metricsText: string): GcPauses {
  let seconds = 0;
  let count = 0;
  for (const line of metricsText.split("\n")) {
    const isSum = line.startsWith(GC_SUM);
    if (!isSum && !line.startsWith(GC_COUNT)) continue;
    const value = Number(line.slice(line.lastIndexOf(" ") + 1));
    if (!Number.isFinite(value)) continue;
    if (isSum) seconds += value;
    else count += value;
  }
  return { count, totalMs: seconds * 1000, maxMs: Number.NaN };
}

/** The pauses between two readings of {@link parseGcTotals}. */
export function gcPausesBetween(before: GcPauses, after: GcPauses): GcPauses {
  return { count: after.count - before.count, totalMs: after.totalMs - before.totalMs, maxMs: Number.NaN };
}
