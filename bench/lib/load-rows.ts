/** The columns every load case reports, from a {@link LoadOutcome}. */
import * as f from "./format.js";
import type { LoadOutcome } from "./load.js";

export const LOAD_HEADER = [
  "workload",
  "req/s",
  "p50 ms",
  "p99 ms",
  "max ms",
  "errors",
  "server CPU/req",
  "load-gen CPU/req",
  "CPU split server/load-gen/other",
  "peak RSS (server tree)",
] as const;

export function loadRow(label: string, o: LoadOutcome): string[] {
  const per = (cpuMs: number) => (o.requests > 0 ? f.us((cpuMs * 1000) / o.requests) : "n/a");
  return [
    label,
    f.int(o.requestsPerSecond),
    f.ms(o.latency.p50Ms),
    f.ms(o.latency.p99Ms),
    f.ms(o.latency.maxMs),
    `${o.errors} / ${f.int(o.requests)}`,
    per(o.cpu.serverMs),
    per(o.cpu.clientMs),
    `${f.pct(o.cpu.serverMs, o.cpu.machineMs)} / ${f.pct(o.cpu.clientMs, o.cpu.machineMs)} / ${f.pct(o.cpu.otherMs, o.cpu.machineMs)}`,
    `${f.mb(o.rss.peak)} (${o.rss.processes} proc)`,
  ];
}

/** Requests/s the server tree could serve if it had every core to itself, from its CPU per request. */
export function serverOnlyCeiling(o: LoadOutcome, cores: number): number {
  return o.cpu.serverMs > 0 ? (cores * 1000 * o.requests) / o.cpu.serverMs : Number.NaN;
}

export function errorNote(o: LoadOutcome, label: string): string[] {
  if (o.errors === 0) return [];
  const codes = Object.entries(o.errorsByCode)
    .map(([k, v]) => `${k}: ${v}`)
    .join(", ");
  return [
    `**${label}: ${o.errors} errors** (${codes}); first: ${o.errorSamples.map((s) => `\`${s}\``).join("; ")}`,
  ];
}

/** "root 150 MB, node child 140 MB, node child 138 MB, esbuild 20 MB". */
export function rssBreakdown(rss: Pick<LoadOutcome["rss"], "perProcess">): string {
  return rss.perProcess.map((p) => `${p.name} ${f.mb(p.peakRss)}`).join(", ");
}
