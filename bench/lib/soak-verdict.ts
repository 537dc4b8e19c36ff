/**
 * The soak case's judgement, as pure functions over its 10-second samples:
 * the RSS trend over the last third of the run (least-squares slope, MB per
 * 10 minutes) and the event-loop lag p99 of the first and last minutes. A
 * run is "flat" when memory stopped growing and the loops are not slower at
 * the end than at the start: a leak or a queue that builds up shows as one
 * or the other long before it takes a process down.
 */

/** One 10-second sample of the soak. */
export interface SoakSample {
  /** Seconds since the soak's measured window opened, at the end of this sample. */
  readonly atSeconds: number;
  /** Summed VmRSS of the meshsign process tree (primary + workers), bytes. */
  readonly rssBytes: number;
  /** Event-loop lag p99 of the window, ms: the workers' (averaged over them) and the primary's. */
  readonly workerLagP99Ms: number;
  readonly primaryLagP99Ms: number;
}

/** What "flat" means; printed with the verdict. */
export interface FlatBounds {
  /** Largest RSS growth over the last third still called flat, MB per 10 minutes. */
  readonly rssSlopeMbPer10Min: number;
  /** The last minutes' lag p99 may be at most this times the first minutes'... */
  readonly lagRiseFactor: number;
  /** ...or at most this many ms above it (timer noise on a shared machine), whichever is larger. */
  readonly lagRiseAllowanceMs: number;
  /** Length of the first and last phases compared for lag, seconds (at most a third of the run each). */
  readonly lagPhaseSeconds: number;
}

export const FLAT_BOUNDS: FlatBounds = {
  rssSlopeMbPer10Min: 5,
  lagRiseFactor: 1.5,
  lagRiseAllowanceMs: 5,
  lagPhaseSeconds: 300,
};

/** Least-squares slope of y over x; NaN with fewer than two distinct x. */
export function slope(points: readonly { readonly x: number; readonly y: number }[]): number {
  const n = points.length;
  if (n < 2) return Number.NaN;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.x - mx) * (p.y - my);
    den += (p.x - mx) ** 2;
  }
  return den > 0 ? num / den : Number.NaN;
}

/** The samples of the last third of the run (by time). */
export function lastThird(samples: readonly SoakSample[]): SoakSample[] {
  const end = samples.at(-1)?.atSeconds ?? 0;
  return samples.filter((s) => s.atSeconds > (end * 2) / 3);
}

/** RSS slope of the tree over the last third of the run, MB (2^20 bytes) per 10 minutes. */
export function rssSlopeMbPer10Min(samples: readonly SoakSample[]): number {
  const perSecond = slope(lastThird(samples).map((s) => ({ x: s.atSeconds, y: s.rssBytes / 2 ** 20 })));
  return perSecond * 600;
}

/** Median of the finite values; NaN when there are none. */
export function median(values: readonly number[]): number {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const mid = v.length >> 1;
  return v.length % 2 === 1 ? (v[mid] as number) : ((v[mid - 1] as number) + (v[mid] as number)) / 2;
}

export interface LagPhases {
  /** Length of each compared phase actually used, seconds. */
  readonly phaseSeconds: number;
  /** Median over the phase's 10 s windows of the window's lag p99, ms (robust to one noisy window). */
  readonly firstMs: number;
  readonly lastMs: number;
}

/**
 * Lag p99 of the first and last `phaseSeconds` (at most a third of the run each, so they never
 * overlap) of one series.
 */
export function lagPhases(
  samples: readonly SoakSample[],
  series: (s: SoakSample) => number,
  phaseSeconds: number,
): LagPhases {
  const end = samples.at(-1)?.atSeconds ?? 0;
  const phase = Math.min(phaseSeconds, end / 3);
  return {
    phaseSeconds: phase,
    firstMs: median(samples.filter((s) => s.atSeconds <= phase).map(series)),
    lastMs: median(samples.filter((s) => s.atSeconds > end - phase).map(series)),
  };
}

/** Whether the last phase's lag stays within the bound set by the first's. */
export function lagHeld(p: LagPhases, bounds: FlatBounds): boolean {
  if (!Number.isFinite(p.firstMs) || !Number.isFinite(p.lastMs)) return false;
  return p.lastMs <= Math.max(p.firstMs * bounds.lagRiseFactor, p.firstMs + bounds.lagRiseAllowanceMs);
}

export interface SoakVerdict {
  readonly flat: boolean;
  readonly rssSlopeMbPer10Min: number;
  readonly rssFlat: boolean;
  readonly workerLag: LagPhases;
  readonly primaryLag: LagPhases;
  readonly lagFlat: boolean;
  /** Why it is not flat (empty when flat). */
  readonly reasons: readonly string[];
}

/**
 * "flat": the RSS slope over the last third is at most `rssSlopeMbPer10Min` (a shrinking tree is
 * flat) and neither the workers' nor the primary's lag p99 rose past the bound. Too few samples
 * (fewer than three in the last third) is never flat: nothing was shown.
 */
export function soakVerdict(samples: readonly SoakSample[], bounds: FlatBounds = FLAT_BOUNDS): SoakVerdict {
  const reasons: string[] = [];
  const tail = lastThird(samples);
  const rssSlope = rssSlopeMbPer10Min(samples);
  const rssFlat = tail.length >= 3 && Number.isFinite(rssSlope) && rssSlope <= bounds.rssSlopeMbPer10Min;
  if (tail.length < 3) reasons.push(`only ${tail.length} sample(s) in the last third`);
  else if (!rssFlat)
    reasons.push(
      `RSS grew ${rssSlope.toFixed(1)} MB per 10 min over the last third (bound ${bounds.rssSlopeMbPer10Min})`,
    );
  const workerLag = lagPhases(samples, (s) => s.workerLagP99Ms, bounds.lagPhaseSeconds);
  const primaryLag = lagPhases(samples, (s) => s.primaryLagP99Ms, bounds.lagPhaseSeconds);
  const lagFlat = lagHeld(workerLag, bounds) && lagHeld(primaryLag, bounds);
  for (const [name, p] of [
    ["workers'", workerLag],
    ["primary's", primaryLag],
  ] as const)
    if (!lagHeld(p, bounds))
      reasons.push(
        `${name} event-loop lag p99 went from ${p.firstMs.toFixed(1)} to ${p.lastMs.toFixed(1)} ms`,
      );
  return {
    flat: rssFlat && lagFlat,
    rssSlopeMbPer10Min: rssSlope,
    rssFlat,
    workerLag,
    primaryLag,
    lagFlat,
    reasons,
  };
}
