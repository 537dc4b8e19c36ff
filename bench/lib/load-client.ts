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
import type { FromLoadClient, LoadItem, LoadJob, LoadResult, ToLoadClient } from "./load-protocol.js";
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

  const startMs = performance.now();
  stopNow = () => {
    stopped = true;
    stopAt = Math.min(stopAt, performance.now());
  };
  const measureTimer = setTimeout(() => {
    if (stopped) return;
    measuring = true;
    measureStart = performance.now();
    cpuStart = process.cpuUsage();
    gc.reset(measureStart);
    stopAt = measureStart + job.durationMs;
    send({ type: "measuring" });
  }, job.warmupMs);

  const lane = async (index: number): Promise<void> => {
    const channel = reused[index % Math.max(1, reused.length)];
    while (!stopped && performance.now() < stopAt && requests < job.maxRequests) {
      const item =
        job.items.length > 0 ? (job.items[next++ % job.items.length] as LoadItem) : { csr: "", token: "" };
      const caller = channel ?? newCaller(job);
      const counted = measuring;
      const t0 = performance.now();
      try {
        await caller.call(item, job.deadlineMs);
        if (counted) latencies.push(performance.now() - t0);
      } catch (err) {
        if (counted) {
          errors++;
          const e = err as ServiceError & { code?: number | string };
          const code = String(e.code ?? "unknown");
          errorsByCode[code] = (errorsByCode[code] ?? 0) + 1;
          if (errorSamples.length < 5) errorSamples.push(`${code}: ${e.details ?? e.message}`);
        }
      } finally {
        if (!channel) caller.close();
      }
      if (counted) requests++;
    }
  };
  // Before the warm-up ends `stopAt` is infinite; the lanes run until the window closes.
  await Promise.all(Array.from({ length: lanes }, (_, i) => lane(i)));
  clearTimeout(measureTimer);
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
