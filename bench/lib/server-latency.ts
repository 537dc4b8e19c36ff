/**
 * The server's own view of a load window: meshsign's
 * `meshsign_csr_request_duration_seconds` histogram (handler entry to answer,
 * summed over the workers by the primary's /metrics), read before and after
 * the window. Set beside the client's latency it says where a request's time
 * went: in the handler, or queued before it (sockets, HTTP/2, an event loop
 * busy with other requests, a process waiting for a core).
 */
import { type GcPauses, gcPausesBetween, parseGcTotals } from "./gc-pauses.js";

const METRIC = "meshsign_csr_request_duration_seconds_bucket";

/** Cumulative counts by upper bound (seconds; +Inf last). */
export type Buckets = ReadonlyMap<number, number>;

/** One reading of meshsign's /metrics: the handler histogram of issued requests and the GC pauses so far. */
export interface ServerReading {
  readonly buckets: Buckets;
  readonly gc: GcPauses;
}

export async function readServer(metricsPort: number): Promise<ServerReading> {
  const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
  if (!res.ok) throw new Error(`/metrics answered ${res.status}`);
  const text = await res.text();
  return { buckets: parseBuckets(text, "issued"), gc: parseGcTotals(text) };
}

/** What meshsign did between two readings. */
export interface ServerWindow {
  readonly handler: HandlerLatency;
  readonly gc: GcPauses;
}

export function serverWindow(before: ServerReading, after: ServerReading): ServerWindow {
  return { handler: handlerLatency(before.buckets, after.buckets), gc: gcPausesBetween(before.gc, after.gc) };
}

export function parseBuckets(text: string, outcome: string): Buckets {
  const out = new Map<number, number>();
  for (const line of text.split("\n")) {
    if (!line.startsWith(METRIC) || !line.includes(`outcome="${outcome}"`)) continue;
    const le = /le="([^"]+)"/.exec(line)?.[1];
    const value = Number(line.slice(line.lastIndexOf(" ") + 1));
    if (le === undefined || !Number.isFinite(value)) continue;
    const bound = le === "+Inf" ? Number.POSITIVE_INFINITY : Number(le);
    out.set(bound, (out.get(bound) ?? 0) + value);
  }
  return new Map([...out].sort((a, b) => a[0] - b[0]));
}

export interface HandlerLatency {
  readonly count: number;
  /** Quantiles in ms, linearly interpolated inside a bucket (an upper bound when past the last finite one). */
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Share of requests the handler answered within 1 ms and 5 ms. */
  readonly within1Ms: number;
  readonly within5Ms: number;
}

export function handlerLatency(before: Buckets, after: Buckets): HandlerLatency {
  const bounds = [...after.keys()];
  const cumulative = bounds.map((b) => (after.get(b) ?? 0) - (before.get(b) ?? 0));
  const count = cumulative.at(-1) ?? 0;
  const quantile = (q: number): number => {
    const rank = q * count;
    for (let i = 0; i < bounds.length; i++) {
      if ((cumulative[i] as number) < rank) continue;
      const hi = bounds[i] as number;
      const lo = i === 0 ? 0 : (bounds[i - 1] as number);
      if (!Number.isFinite(hi)) return lo * 1000;
      const below = i === 0 ? 0 : (cumulative[i - 1] as number);
      const inBucket = (cumulative[i] as number) - below;
      return (lo + (inBucket > 0 ? ((rank - below) / inBucket) * (hi - lo) : 0)) * 1000;
    }
    return Number.NaN;
  };
  const within = (s: number) => (count > 0 ? (cumulative[bounds.indexOf(s)] ?? 0) / count : Number.NaN);
  return { count, p50Ms: quantile(0.5), p99Ms: quantile(0.99), within1Ms: within(0.001), within5Ms: within(0.005) };
}
