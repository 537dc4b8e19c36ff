/**
 * Runs a load job in `clients` load-generator processes against a server
 * process tree, and accounts for where the CPU went in the measured window:
 * the server tree, the load processes, and everything else on the machine.
 */
import { fork } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { addGcPauses, type GcPauses, NO_GC_PAUSES } from "./gc-pauses.js";
import type {
  FromLoadClient,
  IntervalReport,
  LoadItem,
  LoadJob,
  LoadResult,
  LoadTarget,
  ToLoadClient,
} from "./load-protocol.js";
import { machineCpuMs } from "./machine.js";
import type { BenchOptions } from "./options.js";
import { cpuDelta, processTree, RssSampler, treeCpuMs } from "./proc.js";
import { type LatencySummary, summarize } from "./stats.js";

const CLIENT = path.join(path.dirname(fileURLToPath(import.meta.url)), "load-client.ts");

export interface LoadOutcome {
  readonly requests: number;
  readonly errors: number;
  readonly errorsByCode: Record<string, number>;
  readonly errorSamples: readonly string[];
  /** Counted requests per second of the measured window (all load processes together). */
  readonly requestsPerSecond: number;
  readonly latency: LatencySummary;
  readonly windowMs: number;
  /** CPU ms in the window: server process tree, load processes, rest of the machine. */
  readonly cpu: {
    readonly serverMs: number;
    readonly clientMs: number;
    readonly otherMs: number;
    readonly machineMs: number;
  };
  /** The load processes' own GC pauses in the window, summed. */
  readonly clientGc: GcPauses;
  /** Peak of the sampled summed VmRSS of the server tree, and the sum of its VmHWMs, bytes. */
  readonly rss: {
    readonly peak: number;
    readonly sumHwm: number;
    readonly processes: number;
    readonly perProcess: readonly { readonly name: string; readonly peakRss: number }[];
  };
}

export interface RunLoadOptions {
  /** Root pid of the server under test (the primary; its workers are found under it). */
  readonly serverPid: number;
  /** Load-generator processes; the job's channels are split between them. */
  readonly clients: number;
  /** Ends the measured window early (e.g. when the event measured under load is over). */
  readonly signal?: AbortSignal;
  /** Called once when the measured window opens (after the warm-up). */
  readonly onMeasuring?: () => void;
  /**
   * With `job.intervalMs`: each interval's figures, all load processes together (called once every
   * process has reported that interval), in order.
   */
  readonly onInterval?: (report: IntervalReport) => void;
}

/**
 * The steady reused-connection job of the latency cases: `concurrency` requests in flight over
 * `channels` long-lived connections, the run's warm-up, then a window of `durationSeconds`.
 */
export function reusedLoadJob(
  options: BenchOptions,
  target: LoadTarget,
  call: LoadJob["call"],
  items: readonly LoadItem[],
  durationSeconds: number = options.durationSeconds,
): LoadJob {
  return {
    target,
    call,
    items,
    connection: "reused",
    channels: options.channels,
    inFlightPerChannel: options.concurrency / options.channels,
    warmupMs: options.warmupSeconds * 1000,
    durationMs: durationSeconds * 1000,
    maxRequests: Number.MAX_SAFE_INTEGER,
    deadlineMs: 10_000,
  };
}

export async function runLoad(job: LoadJob, options: RunLoadOptions): Promise<LoadOutcome> {
  const clients = Math.max(1, Math.min(options.clients, job.channels));
  const rss = new RssSampler(options.serverPid);
  let serverBefore: Map<number, number> | undefined;
  let machineBefore: { busy: number; total: number } | undefined;
  const jobs = Array.from({ length: clients }, (_, i) => ({
    ...job,
    channels: Math.floor(job.channels / clients) + (i < job.channels % clients ? 1 : 0),
    maxRequests: Math.ceil(job.maxRequests / clients),
    ...(job.ratePerSecond === undefined ? {} : { ratePerSecond: job.ratePerSecond / clients }),
    ...(job.maxInFlight === undefined ? {} : { maxInFlight: Math.ceil(job.maxInFlight / clients) }),
  }));
  const intervals = new IntervalMerger(clients, options.onInterval);
  let results: LoadResult[];
  let memory: ReturnType<RssSampler["stop"]>;
  try {
    results = await Promise.all(
      jobs.map((j) =>
        runClient(j, options.signal, intervals.add, () => {
          // The first client to start measuring opens the server's CPU window.
          if (serverBefore === undefined) {
            serverBefore = treeCpuMs(processTree(options.serverPid));
            machineBefore = machineCpuMs();
            options.onMeasuring?.();
          }
        }),
      ),
    );
  } finally {
    memory = rss.stop();
  }
  const serverAfter = treeCpuMs(processTree(options.serverPid));
  const machineAfter = machineCpuMs();
  const serverMs = serverBefore ? cpuDelta(serverBefore, serverAfter) : 0;
  const clientMs = results.reduce((s, r) => s + r.cpuMs, 0);
  const machineMs = machineBefore ? machineAfter.busy - machineBefore.busy : 0;
  const windowMs = Math.max(...results.map((r) => r.elapsedMs));
  const all = new Float64Array(results.reduce((n, r) => n + r.latenciesMs.length, 0));
  let offset = 0;
  for (const r of results) {
    all.set(r.latenciesMs, offset);
    offset += r.latenciesMs.length;
  }
  const errorsByCode: Record<string, number> = {};
  for (const r of results)
    for (const [k, v] of Object.entries(r.errorsByCode)) errorsByCode[k] = (errorsByCode[k] ?? 0) + v;
  return {
    requests: results.reduce((s, r) => s + r.requests, 0),
    errors: results.reduce((s, r) => s + r.errors, 0),
    errorsByCode,
    errorSamples: results.flatMap((r) => r.errorSamples).slice(0, 5),
    requestsPerSecond: results.reduce(
      (s, r) => s + (r.elapsedMs > 0 ? (r.requests * 1000) / r.elapsedMs : 0),
      0,
    ),
    latency: summarize(all),
    windowMs,
    cpu: { serverMs, clientMs, otherMs: Math.max(0, machineMs - serverMs - clientMs), machineMs },
    clientGc: results.map((r) => r.gc).reduce(addGcPauses, NO_GC_PAUSES),
    rss: {
      peak: memory.peakRss,
      sumHwm: memory.sumHwm,
      processes: memory.processes,
      perProcess: memory.perProcess,
    },
  };
}

function runClient(
  job: LoadJob,
  signal: AbortSignal | undefined,
  onInterval: (report: IntervalReport) => void,
  onMeasuring: () => void,
): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = fork(CLIENT, [], {
      execArgv: ["--import", "tsx"],
      serialization: "advanced",
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    const stop = () => {
      if (child.connected) child.send({ type: "stop" } satisfies ToLoadClient);
    };
    signal?.addEventListener("abort", stop, { once: true });
    let settled = false;
    const settle = (err: Error | undefined, result?: LoadResult) => {
      if (settled) return;
      settled = true;
      if (err) {
        child.kill("SIGKILL");
        reject(err);
      } else resolve(result as LoadResult);
    };
    // A hard stop: warm-up + window + two deadlines; the loop is bounded, this guards a hang.
    const guard = setTimeout(
      () => settle(new Error("load client did not finish in time")),
      job.warmupMs + job.durationMs + 2 * job.deadlineMs + 30_000,
    );
    child.on("message", (m: FromLoadClient) => {
      if (m.type === "ready") child.send({ type: "run", job } satisfies ToLoadClient);
      else if (m.type === "measuring") onMeasuring();
      else if (m.type === "interval") onInterval(m.report);
      else if (m.type === "result") settle(undefined, m.result);
      else if (m.type === "failed") settle(new Error(`load client failed: ${m.message}`));
    });
    // "close", not "exit": the result may still be in the IPC pipe when the process has exited.
    child.once("close", (code) => {
      clearTimeout(guard);
      signal?.removeEventListener("abort", stop);
      settle(new Error(`load client exited with ${code} before reporting`));
    });
  });
}

/** Sums the load processes' reports of each interval and passes each interval on once all are in. */
class IntervalMerger {
  readonly #pending = new Map<number, IntervalReport[]>();

  constructor(
    private readonly clients: number,
    private readonly onInterval: ((report: IntervalReport) => void) | undefined,
  ) {}

  readonly add = (report: IntervalReport): void => {
    if (!this.onInterval) return;
    const got = [...(this.#pending.get(report.seq) ?? []), report];
    if (got.length < this.clients) {
      this.#pending.set(report.seq, got);
      return;
    }
    this.#pending.delete(report.seq);
    const errorsByCode: Record<string, number> = {};
    for (const r of got)
      for (const [k, v] of Object.entries(r.errorsByCode)) errorsByCode[k] = (errorsByCode[k] ?? 0) + v;
    const latenciesMs = new Float64Array(got.reduce((n, r) => n + r.latenciesMs.length, 0));
    let offset = 0;
    for (const r of got) {
      latenciesMs.set(r.latenciesMs, offset);
      offset += r.latenciesMs.length;
    }
    this.onInterval({
      seq: report.seq,
      elapsedMs: Math.max(...got.map((r) => r.elapsedMs)),
      requests: got.reduce((n, r) => n + r.requests, 0),
      errorsByCode,
      latenciesMs,
      skipped: got.reduce((n, r) => n + r.skipped, 0),
    });
  };
}
