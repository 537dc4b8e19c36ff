/** Latency summaries for the benchmark. */

export interface LatencySummary {
  readonly count: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly meanMs: number;
}

/** Nearest-rank percentile of sorted values: the smallest value with at least p% of values at or below it. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}

/** Summarizes latencies in milliseconds (the array is sorted in place). */
export function summarize(latenciesMs: Float64Array): LatencySummary {
  latenciesMs.sort();
  let sum = 0;
  for (const v of latenciesMs) sum += v;
  return {
    count: latenciesMs.length,
    p50Ms: percentile(latenciesMs, 50),
    p90Ms: percentile(latenciesMs, 90),
    p99Ms: percentile(latenciesMs, 99),
    maxMs: latenciesMs.length ? (latenciesMs[latenciesMs.length - 1] as number) : Number.NaN,
    meanMs: latenciesMs.length ? sum / latenciesMs.length : Number.NaN,
  };
}

/** A growable Float64Array, so a long run does not allocate a JS number per sample. */
export class SampleBuffer {
  #data = new Float64Array(1 << 14);
  #length = 0;

  push(v: number): void {
    if (this.#length === this.#data.length) {
      const next = new Float64Array(this.#data.length * 2);
      next.set(this.#data);
      this.#data = next;
    }
    this.#data[this.#length++] = v;
  }

  get length(): number {
    return this.#length;
  }

  /** A copy of the samples. */
  values(): Float64Array {
    return this.#data.slice(0, this.#length);
  }
}
