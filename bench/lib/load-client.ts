/**
 * The load generator, run as its own process (`fork` with tsx) so that its
 * CPU is accounted apart from the benchmark and the server. It drives grpc-js
 * channels the way Istio agents do, counts and times requests in a window
 * after a warm-up, and sends the raw latencies back.
 */
import {
  type Client,
  credentials,
  Metadata,
  makeGenericClientConstructor,
  type ServiceError,
} from "@grpc/grpc-js";
import { IstioCaClient } from "../../src/csr-service/client.js";
import { EMPTY_SERVICE } from "./echo-service.js";
import { GcPauseWatch, NO_GC_PAUSES } from "./gc-pauses.js";
import type {
  FromLoadClient,
  IntervalReport,
  LoadItem,
  LoadJob,
  LoadResult,
  ToLoadClient,
} from "./load-protocol.js";
import { SampleBuffer } from "./stats.js";

interface Caller {
  call(item: LoadItem, deadlineMs: number): Promise<void>;
  close(): void;
}

const EmptyClient = makeGenericClientConstructor(EMPTY_SERVICE, "Empty");

/** One channel per caller: a local subchannel pool, so channels never share a connection. */
const CHANNEL_OPTIONS = { "grpc.use_local_subchannel_pool": 1 };

function newCaller(job: LoadJob): Caller {
  const { target } = job;
  if (job.call === "create-certificate") {
    const client = new IstioCaClient(
      { address: target.address, rootsPem: target.rootsPem, serverName: target.serverName },
      CHANNEL_OPTIONS,
    );
    return {
      call: async (item, deadlineMs) => {
        const chain = await client.createCertificate({ csr: item.csr, token: item.token, deadlineMs });
        // leaf + root at least; anything else is a wrong answer, counted as an error.
        if (chain.length < 2 || !chain[0]?.startsWith("-----BEGIN CERTIFICATE-----")) {
          throw Object.assign(new Error(`bad chain of ${chain.length} elements`), { code: "BAD_CHAIN" });
        }
      },
      close: () => client.close(),
    };
  }
  const client: Client = new EmptyClient(
    target.address,
    credentials.createSsl(Buffer.from(target.rootsPem)),
    {
      "grpc.ssl_target_name_override": target.serverName,
      "grpc.default_authority": target.serverName,
      ...CHANNEL_OPTIONS,
    },
  );
  const empty = (client as unknown as Record<string, (...a: unknown[]) => void>).Empty as (
    m: Buffer,
    md: Metadata,
    o: { deadline: number },
    cb: (err: ServiceError | null) => void,
  ) => void;
  return {
    call: (_item, deadlineMs) =>
      new Promise<void>((resolve, reject) =>
        empty.call(client, Buffer.alloc(0), new Metadata(), { deadline: Date.now() + deadlineMs }, (err) =>
          err ? reject(err) : resolve(),
        ),
      ),
    close: () => client.close(),
  };
}

/** Set by a `stop` message: no new request starts after it. */
let stopped = false;
let stopNow: () => void = () => {
  stopped = true;
};

async function run(job: LoadJob, send: (m: FromLoadClient) => void): Promise<LoadResult> {
  const lanes = job.channels * job.inFlightPerChannel;
  const reused =
    job.connection === "reused" ? Array.from({ length: job.channels }, () => newCaller(job)) : [];
  const latencies = new SampleBuffer();
  const errorsByCode: Record<string, number> = {};
  const errorSamples: string[] = [];
  let requests = 0;
  let errors = 0;
  let next = 0;
  let measuring = false;
  let stopAt = Number.POSITIVE_INFINITY;
  let cpuStart = process.cpuUsage();
  let measureStart = 0;
  const gc = new GcPauseWatch();
  const interval = new IntervalCounter();

  const startMs = performance.now();
  stopNow = () => {
    stopped = true;
    stopAt = Math.min(stopAt, performance.now());
  };
  let intervalTimer: NodeJS.Timeout | undefined;
  const measureTimer = setTimeout(() => {
    if (stopped) return;
    measuring = true;
    measureStart = performance.now();
    cpuStart = process.cpuUsage();
    gc.reset(measureStart);
    stopAt = measureStart + job.durationMs;
    interval.reset(measureStart);
    if (job.intervalMs)
      intervalTimer = setInterval(() => send({ type: "interval", report: interval.take() }), job.intervalMs);
    send({ type: "measuring" });
  }, job.warmupMs);

  const nextItem = (): LoadItem =>
    job.items.length > 0 ? (job.items[next++ % job.items.length] as LoadItem) : { csr: "", token: "" };
  /** One request, timed from `dueAt` (open loop) or from its sending (closed loop). */
  const one = async (channel: Caller | undefined, dueAt?: number): Promise<void> => {
    const item = nextItem();
    const caller = channel ?? newCaller(job);
    const counted = measuring;
    const t0 = dueAt ?? performance.now();
    try {
      await caller.call(item, job.deadlineMs);
      if (counted) {
        const ms = performance.now() - t0;
        latencies.push(ms);
        interval.ok(ms);
      }
    } catch (err) {
      if (counted) {
        errors++;
        const e = err as ServiceError & { code?: number | string };
        const code = String(e.code ?? "unknown");
        errorsByCode[code] = (errorsByCode[code] ?? 0) + 1;
        interval.error(code);
        if (errorSamples.length < 5) errorSamples.push(`${code}: ${e.details ?? e.message}`);
      }
    } finally {
      if (!channel) caller.close();
    }
    if (counted) requests++;
  };

  if (job.ratePerSecond !== undefined)
    await openLoop(job, reused, one, () => stopped || performance.now() >= stopAt, interval);
  else {
    const lane = async (index: number): Promise<void> => {
      const channel = reused[index % Math.max(1, reused.length)];
      while (!stopped && performance.now() < stopAt && requests < job.maxRequests) await one(channel);
    };
    // Before the warm-up ends `stopAt` is infinite; the lanes run until the window closes.
    await Promise.all(Array.from({ length: lanes }, (_, i) => lane(i)));
  }
  clearTimeout(measureTimer);
  if (intervalTimer) {
    clearInterval(intervalTimer);
    send({ type: "interval", report: interval.take() });
  }
  const elapsedMs = measuring ? performance.now() - measureStart : performance.now() - startMs;
  const cpu = process.cpuUsage(cpuStart);
  const gcPauses = gc.stop();
  for (const c of reused) c.close();
  return {
    requests,
    errors,
    errorsByCode,
    errorSamples,
    elapsedMs,
    latenciesMs: latencies.values(),
    cpuMs: (cpu.user + cpu.system) / 1000,
    gc: measuring ? gcPauses : NO_GC_PAUSES,
  };
}

/** How often the open loop checks what is due; requests due between two ticks keep their own due time. */
const OPEN_LOOP_TICK_MS = 1;

/**
 * Starts requests at `job.ratePerSecond` (the i-th is due at start + i / rate) round-robin over the
 * channels, until `done()`, then waits for the answers. Beyond `maxInFlight` unanswered requests a
 * due request is skipped and counted rather than queued in the load generator.
 */
async function openLoop(
  job: LoadJob,
  channels: readonly Caller[],
  one: (channel: Caller | undefined, dueAt: number) => Promise<void>,
  done: () => boolean,
  interval: IntervalCounter,
): Promise<void> {
  const rate = job.ratePerSecond as number;
  const maxInFlight = job.maxInFlight ?? Number.POSITIVE_INFINITY;
  const inFlight = new Set<Promise<void>>();
  const start = performance.now();
  let started = 0;
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      if (done()) {
        clearInterval(tick);
        resolve();
        return;
      }
      const due = Math.floor(((performance.now() - start) * rate) / 1000);
      for (; started < due; started++) {
        if (inFlight.size >= maxInFlight) {
          interval.skip();
          continue;
        }
        const p = one(channels[started % Math.max(1, channels.length)], start + (started * 1000) / rate);
        inFlight.add(p);
        void p.finally(() => inFlight.delete(p));
      }
    }, OPEN_LOOP_TICK_MS);
  });
  await Promise.all(inFlight);
}

/** Counts of the current interval, handed over and restarted by {@link IntervalCounter.take}. */
class IntervalCounter {
  #seq = 0;
  #since = 0;
  #requests = 0;
  #skipped = 0;
  #errors: Record<string, number> = {};
  #latencies = new SampleBuffer();

  /** Starts the first interval at `now`, dropping what the warm-up counted. */
  reset(now: number): void {
    this.take();
    this.#seq = 0;
    this.#since = now;
  }
  ok(ms: number): void {
    this.#requests++;
    this.#latencies.push(ms);
  }
  error(code: string): void {
    this.#requests++;
    this.#errors[code] = (this.#errors[code] ?? 0) + 1;
  }
  skip(): void {
    this.#skipped++;
  }
  take(): IntervalReport {
    const now = performance.now();
    const report: IntervalReport = {
      seq: this.#seq++,
      elapsedMs: now - this.#since,
      requests: this.#requests,
      errorsByCode: this.#errors,
      latenciesMs: this.#latencies.values(),
      skipped: this.#skipped,
    };
    this.#since = now;
    this.#requests = 0;
    this.#skipped = 0;
    this.#errors = {};
    this.#latencies = new SampleBuffer();
    return report;
  }
}

const send = (m: FromLoadClient) => process.send?.(m);
process.on("message", (m: ToLoadClient) => {
  if (m.type === "stop") stopNow();
  if (m.type !== "run") return;
  // Disconnect only once the last message is written: a large result (every latency) takes a while.
  const sendLast = (last: FromLoadClient) =>
    process.send?.(last, undefined, {}, () => process.disconnect?.());
  run(m.job, send).then(
    (result) => sendLast({ type: "result", result }),
    (err: unknown) => sendLast({ type: "failed", message: (err as Error).stack ?? String(err) }),
  );
});
process.on("disconnect", () => process.exit(0));
send({ type: "ready" });
