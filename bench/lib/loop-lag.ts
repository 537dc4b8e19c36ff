/**
 * meshsign's event-loop lag from its /metrics text. prom-client's default
 * metrics keep a `monitorEventLoopDelay` histogram per process and reset it
 * at every scrape, so each reading covers the time since the previous one.
 * The primary's /metrics carries the workers' gauges aggregated (p99
 * averaged over the workers, max the largest) and, with workers, its own
 * under the `meshsign_primary_` prefix; with `--workers 1` the unprefixed
 * figures are the primary's and there is no prefixed set.
 */

export interface LoopLag {
  /** ms; NaN when the text has no such gauge. */
  readonly p99Ms: number;
  readonly maxMs: number;
}

export interface LoopLagReading {
  /** The serving processes: the workers aggregated, or the primary itself with `--workers 1`. */
  readonly workers: LoopLag;
  /** The primary (engine, store, admin API, metrics aggregation); equal to `workers` with `--workers 1`. */
  readonly primary: LoopLag;
}

export function parseLoopLag(metricsText: string): LoopLagReading {
  const gauge = (name: string): number => {
    const line = metricsText.split("\n").find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
    const value = line === undefined ? Number.NaN : Number(line.slice(line.lastIndexOf(" ") + 1));
    return Number.isFinite(value) ? value * 1000 : Number.NaN;
  };
  const read = (prefix: string): LoopLag => ({
    p99Ms: gauge(`${prefix}nodejs_eventloop_lag_p99_seconds`),
    maxMs: gauge(`${prefix}nodejs_eventloop_lag_max_seconds`),
  });
  const workers = read("");
  const primary = read("meshsign_primary_");
  return { workers, primary: Number.isNaN(primary.p99Ms) ? workers : primary };
}
