/**
 * Overload soak: does meshsign stay flat under a long steady load? First a
 * short closed-loop saturation run measures capacity (RSA-2048 CSRs, the
 * create-certificate case's channels, tokens and in-flight count); then an
 * open-loop load starts requests at `--soak-load` x that rate, whatever the
 * answers, for `--duration` (default 30 minutes). Every 10 s it records the
 * rate achieved, latency (from each request's scheduled start), errors by
 * status, each meshsign process's RSS and the event-loop lag of the workers
 * and of the primary (prom-client's histograms, reset at each scrape, so each
 * reading is its 10 s window). The verdict is soak-verdict.ts's "flat".
 * Not in the default run: it takes as long as it is told to.
 */
import { status as GrpcStatus } from "@grpc/grpc-js";
import * as f from "../lib/format.js";
import { type LoadOutcome, reusedLoadJob, runLoad } from "../lib/load.js";
import type { IntervalReport, LoadJob } from "../lib/load-protocol.js";
import { errorNote, rssBreakdown } from "../lib/load-rows.js";
import { type LoopLagReading, parseLoopLag } from "../lib/loop-lag.js";
import { processTree, statusBytes } from "../lib/proc.js";
import { checkOneIssuance } from "../lib/sanity.js";
import { FLAT_BOUNDS, type SoakSample, soakVerdict } from "../lib/soak-verdict.js";
import { percentile } from "../lib/stats.js";
import { buildWorkload } from "../lib/workload.js";
import type { BenchCase, BenchContext, CaseReport } from "./types.js";

/** Measured seconds of the closed-loop capacity run (after the usual warm-up). */
const CAPACITY_SECONDS = 15;
const SAMPLE_MS = 10_000;
/** Unanswered requests beyond which the open loop skips (and counts) due requests. */
const MAX_IN_FLIGHT = 2048;
/** At most this many rows in the time-series table; samples are grouped to fit. */
const MAX_ROWS = 30;
const RESOURCE_EXHAUSTED = String(GrpcStatus.RESOURCE_EXHAUSTED);
/**
 * Identities of the soak's CSR pool (one key each), at least: a mesh busy enough to renew thousands
 * of certificates a minute has many service accounts, and meshsign's per-identity rate limit
 * (certificates per second per identity and worker) must not be what the soak measures.
 */
const SOAK_MIN_IDENTITIES = 512;

/** One 10 s sample with everything the table shows. */
interface Sample extends SoakSample {
  readonly interval: IntervalReport;
  /** VmRSS by process: the primary first, then the other processes of the tree (workers). */
  readonly primaryRssBytes: number;
  readonly otherRssBytes: readonly number[];
  readonly lag: LoopLagReading;
}

export const soakCase: BenchCase = {
  name: "soak",
  summary:
    "overload soak: open-loop CreateCertificate at a fraction of capacity, RSS and event-loop lag over time",
  inDefaultRun: false,
  run: async (ctx: BenchContext): Promise<CaseReport> => {
    const { options } = ctx;
    const server = await ctx.meshsign();
    const items = await buildWorkload({
      tokens: server.tokens,
      keyType: "rsa-2048",
      identities: Math.max(options.identities, SOAK_MIN_IDENTITIES),
      keysPerIdentity: 1,
      // The tokens must outlive the run: capacity run, soak, and a margin.
      tokenTtlSeconds: Math.max(3600, options.soakSeconds + 900),
    });
    await checkOneIssuance(server.target, items[0] as (typeof items)[number]);

    ctx.log(`soak: measuring capacity, closed loop, ${options.concurrency} in flight, ${CAPACITY_SECONDS} s`);
    const job = (seconds: number) =>
      reusedLoadJob(options, server.target, "create-certificate", items, seconds);
    const capacity = await runLoad(job(CAPACITY_SECONDS), {
      serverPid: server.pid,
      clients: options.clients,
    });
    // Capacity is what was issued: refusals (RESOURCE_EXHAUSTED) and failures are answered fast and
    // would inflate it.
    const issuedPerSecond =
      capacity.requestsPerSecond * (1 - capacity.errors / Math.max(1, capacity.requests));
    const rate = issuedPerSecond * options.soakLoad;
    ctx.log(
      `soak: capacity ${f.int(issuedPerSecond)} certificates/s (${capacity.errors} errors of ${capacity.requests}); open loop at ${f.int(rate)} req/s for ${options.soakSeconds} s`,
    );

    const pending: Promise<Sample>[] = [];
    const soakJob: LoadJob = {
      ...job(options.soakSeconds),
      ratePerSecond: rate,
      maxInFlight: MAX_IN_FLIGHT,
      intervalMs: SAMPLE_MS,
    };
    let elapsedSeconds = 0;
    const outcome = await runLoad(soakJob, {
      serverPid: server.pid,
      clients: options.clients,
      // The first scrape opens the lag windows (prom-client resets its histograms at each one).
      onMeasuring: () => void readLag(server.metricsPort).catch(() => undefined),
      onInterval: (interval) => {
        elapsedSeconds += interval.elapsedMs / 1000;
        const at = elapsedSeconds;
        // A short tail interval (the run's end) says little about rate or lag: dropped.
        if (interval.elapsedMs < SAMPLE_MS / 2) return;
        const sample = takeSample(server.pid, server.metricsPort, at, interval);
        pending.push(sample);
        void sample.then((s) =>
          ctx.log(
            `soak ${f.int(s.atSeconds)} s: ${f.int((s.interval.requests * 1000) / s.interval.elapsedMs)} req/s, ` +
              `RSS ${f.mb(s.rssBytes)}, lag p99 workers ${f.ms(s.workerLagP99Ms)} / primary ${f.ms(s.primaryLagP99Ms)} ms, ` +
              `errors ${errorCount(s.interval.errorsByCode)}`,
          ),
        );
      },
    });
    const samples = await Promise.all(pending);
    const verdict = soakVerdict(samples);
    return report(ctx, {
      capacity,
      issuedPerSecond,
      identities: items.length,
      rate,
      outcome,
      samples,
      verdict,
    });
  },
};

async function readLag(metricsPort: number): Promise<LoopLagReading> {
  const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
  if (!res.ok) throw new Error(`/metrics answered ${res.status}`);
  return parseLoopLag(await res.text());
}

async function takeSample(
  pid: number,
  metricsPort: number,
  atSeconds: number,
  interval: IntervalReport,
): Promise<Sample> {
  const pids = processTree(pid);
  const rss = pids.map((p) => statusBytes(p, "VmRSS"));
  const lag = await readLag(metricsPort).catch(() => ({
    workers: { p99Ms: Number.NaN, maxMs: Number.NaN },
    primary: { p99Ms: Number.NaN, maxMs: Number.NaN },
  }));
  return {
    atSeconds,
    rssBytes: rss.reduce((a, b) => a + b, 0),
    primaryRssBytes: rss[0] ?? 0,
    otherRssBytes: rss.slice(1),
    workerLagP99Ms: lag.workers.p99Ms,
    primaryLagP99Ms: lag.primary.p99Ms,
    lag,
    interval,
  };
}

const errorCount = (byCode: Record<string, number>): number =>
  Object.values(byCode).reduce((a, b) => a + b, 0);
const codeName = (code: string): string => GrpcStatus[Number(code)] ?? code;

function report(
  ctx: BenchContext,
  r: {
    capacity: LoadOutcome;
    issuedPerSecond: number;
    identities: number;
    rate: number;
    outcome: LoadOutcome;
    samples: readonly Sample[];
    verdict: ReturnType<typeof soakVerdict>;
  },
): CaseReport {
  const { options } = ctx;
  const { samples, verdict, outcome } = r;
  const refused = outcome.errorsByCode[RESOURCE_EXHAUSTED] ?? 0;
  const otherErrors = outcome.errors - refused;
  const skipped = samples.reduce((n, s) => n + s.interval.skipped, 0);
  const first = samples[0];
  const last = samples.at(-1);
  const group = Math.max(1, Math.ceil(samples.length / MAX_ROWS));
  const rows: string[][] = [];
  for (let i = 0; i < samples.length; i += group) rows.push(row(samples.slice(i, i + group)));
  const bounds = FLAT_BOUNDS;
  const phase = verdict.workerLag.phaseSeconds;
  return {
    title: `Soak: CreateCertificate open loop at ${Math.round(options.soakLoad * 100)}% of capacity (${f.int(r.rate)} req/s) for ${formatSeconds(options.soakSeconds)}: ${verdict.flat ? "flat" : "NOT flat"}`,
    table: {
      header: [
        "at",
        "req/s",
        "p50 ms",
        "p99 ms",
        "errors (RESOURCE_EXHAUSTED)",
        "RSS tree",
        "RSS primary / others",
        "loop lag p99 workers / primary ms",
        "loop lag max workers / primary ms",
      ],
      rows,
    },
    targets: [
      {
        name: "soak: RSS growth over the last third",
        target: `<= ${bounds.rssSlopeMbPer10Min} MB / 10 min`,
        measured: `${verdict.rssSlopeMbPer10Min.toFixed(1)} MB / 10 min`,
        pass: verdict.rssFlat,
      },
      {
        name: `soak: event-loop lag p99, last vs first ${formatSeconds(phase)}`,
        target: `<= x${bounds.lagRiseFactor} or +${bounds.lagRiseAllowanceMs} ms`,
        measured: `workers ${f.ms(verdict.workerLag.firstMs)} -> ${f.ms(verdict.workerLag.lastMs)} ms, primary ${f.ms(verdict.primaryLag.firstMs)} -> ${f.ms(verdict.primaryLag.lastMs)} ms`,
        pass: verdict.lagFlat,
      },
      {
        name: "soak: errors other than RESOURCE_EXHAUSTED",
        target: "0",
        measured: String(otherErrors),
        pass: otherErrors === 0,
      },
    ],
    notes: [
      `Capacity first: closed loop, RSA-2048 CSRs of ${f.int(r.identities)} identities (one key and token each), ${options.channels} channels x ${options.concurrency / options.channels} in flight, ${options.warmupSeconds} s warm-up + ${CAPACITY_SECONDS} s: ` +
        `${f.int(r.issuedPerSecond)} certificates/s, p99 ${f.ms(r.capacity.latency.p99Ms)} ms, ${r.capacity.errors} errors${
          r.capacity.errors > 0
            ? ` (${Object.entries(r.capacity.errorsByCode)
                .map(([k, v]) => `${codeName(k)} ${v}`)
                .join(", ")}; not counted in the capacity)`
            : ""
        }. ` +
        `Then an open loop over the same ${options.channels} connections starts requests at ${Math.round(options.soakLoad * 100)}% of it (${f.int(r.rate)} req/s) whatever the answers; ` +
        "latency is timed from each request's scheduled start, so time a request waited because the server fell behind is counted. " +
        `Each row covers ${formatSeconds((group * SAMPLE_MS) / 1000)} (rate, latency and errors over it; RSS at its end; lag the worst 10 s window in it).`,
      `Whole soak: ${f.int(outcome.requests)} requests at ${f.int(outcome.requestsPerSecond)} req/s, p50 ${f.ms(outcome.latency.p50Ms)} / p99 ${f.ms(outcome.latency.p99Ms)} / max ${f.ms(outcome.latency.maxMs)} ms; ` +
        `errors ${outcome.errors} (RESOURCE_EXHAUSTED, admission control refusing: ${refused}; other: ${otherErrors}); ` +
        `${skipped} scheduled requests skipped because ${MAX_IN_FLIGHT} were unanswered.`,
      `RSS of the tree (primary + workers): start ${first ? f.mb(first.rssBytes) : "n/a"}, end ${last ? f.mb(last.rssBytes) : "n/a"}, ` +
        `peak ${f.mb(outcome.rss.peak)} (sampled every 100 ms; by process: ${rssBreakdown(outcome.rss)}); ` +
        `slope over the last third ${verdict.rssSlopeMbPer10Min.toFixed(1)} MB per 10 min. ` +
        `Event-loop lag p99 (median of the 10 s windows' p99; workers averaged over them), first vs last ${formatSeconds(phase)}: ` +
        `workers ${f.ms(verdict.workerLag.firstMs)} -> ${f.ms(verdict.workerLag.lastMs)} ms, primary ${f.ms(verdict.primaryLag.firstMs)} -> ${f.ms(verdict.primaryLag.lastMs)} ms ` +
        "(Node's monitorEventLoopDelay at its 10 ms resolution: an idle loop reads ~10 ms).",
      `Verdict: **${verdict.flat ? "flat" : "NOT flat"}**. Flat means: RSS grew at most ${bounds.rssSlopeMbPer10Min} MB per 10 minutes over the last third (least-squares slope of the 10 s samples; shrinking is flat), ` +
        `and neither the workers' nor the primary's lag p99 over the last ${formatSeconds(phase)} exceeds ${bounds.lagRiseFactor}x the first's or the first's + ${bounds.lagRiseAllowanceMs} ms, whichever is larger` +
        (verdict.reasons.length > 0 ? `. Not flat because: ${verdict.reasons.join("; ")}.` : "."),
      ...errorNote(outcome, "soak"),
    ],
    data: {
      capacityCertificatesPerSecond: r.issuedPerSecond,
      capacityErrorsByCode: r.capacity.errorsByCode,
      rate: r.rate,
      verdict,
      samples: samples.map((s) => ({
        atSeconds: s.atSeconds,
        requests: s.interval.requests,
        elapsedMs: s.interval.elapsedMs,
        errorsByCode: s.interval.errorsByCode,
        skipped: s.interval.skipped,
        rssBytes: s.rssBytes,
        primaryRssBytes: s.primaryRssBytes,
        otherRssBytes: s.otherRssBytes,
        lag: s.lag,
      })),
    },
  };
}

function row(group: readonly Sample[]): string[] {
  const end = group.at(-1) as Sample;
  const requests = group.reduce((n, s) => n + s.interval.requests, 0);
  const ms = group.reduce((n, s) => n + s.interval.elapsedMs, 0);
  const latencies = new Float64Array(group.reduce((n, s) => n + s.interval.latenciesMs.length, 0));
  let offset = 0;
  for (const s of group) {
    latencies.set(s.interval.latenciesMs, offset);
    offset += s.interval.latenciesMs.length;
  }
  latencies.sort();
  const errors: Record<string, number> = {};
  for (const s of group)
    for (const [k, v] of Object.entries(s.interval.errorsByCode)) errors[k] = (errors[k] ?? 0) + v;
  const total = errorCount(errors);
  const worst = (pick: (s: Sample) => number) => f.ms(Math.max(...group.map(pick)));
  return [
    formatSeconds(Math.round(end.atSeconds)),
    f.int((requests * 1000) / ms),
    f.ms(percentile(latencies, 50)),
    f.ms(percentile(latencies, 99)),
    total === 0
      ? "0"
      : `${total} (${errors[RESOURCE_EXHAUSTED] ?? 0})${
          Object.keys(errors).some((k) => k !== RESOURCE_EXHAUSTED)
            ? `: ${Object.entries(errors)
                .map(([k, v]) => `${codeName(k)} ${v}`)
                .join(", ")}`
            : ""
        }`,
    f.mb(end.rssBytes),
    `${f.mb(end.primaryRssBytes)} / ${end.otherRssBytes.map((b) => Math.round(b / 2 ** 20)).join(" + ")} MB`,
    `${worst((s) => s.lag.workers.p99Ms)} / ${worst((s) => s.lag.primary.p99Ms)}`,
    `${worst((s) => s.lag.workers.maxMs)} / ${worst((s) => s.lag.primary.maxMs)}`,
  ];
}

/** "45 s", "3 min", "2 min 30 s". */
function formatSeconds(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  return s % 60 === 0 ? `${s / 60} min` : `${Math.floor(s / 60)} min ${s % 60} s`;
}
