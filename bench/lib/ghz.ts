/**
 * ghz (github.com/bojand/ghz, built by bench/peer/setup.sh) as the load generator of the peer
 * comparison: a closed loop of `concurrency` CreateCertificate calls over `connections` reused TLS
 * connections, a warm-up run, then a measured run, while the server tree's CPU (from /proc over the
 * measured run) and its peak RSS (sampled every 100 ms from the warm-up on) are recorded.
 */
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { LoadItem, LoadTarget } from "./load-protocol.js";
import { machineCpuMs } from "./machine.js";
import { cpuDelta, cpuMs, processTree, RssSampler, treeCpuMs } from "./proc.js";

export const CREATE_CERTIFICATE = "istio.v1.auth.IstioCertificateService/CreateCertificate";

export interface GhzWorkload {
  /** JSON array of requests; ghz sends element `n % length` as request n. */
  readonly dataFile: string;
  /** The request metadata (the bearer token), JSON; for the ghz command. */
  readonly metadataFile?: string;
  /**
   * JSON array of bearer tokens, one per request, for bench/peer/ghz/tokens (`ghz-tokens`): request
   * n sends token n and element n of the data file, and the run ends when the tokens are used up.
   */
  readonly tokensFile?: string;
  readonly protoFile: string;
  readonly importPath: string;
}

/**
 * Writes ghz's request files. ghz's metadata is one object for every request (no per-request
 * array), so all items must carry the same token: the caller builds them for one identity.
 */
export function writeGhzWorkload(dir: string, items: readonly LoadItem[], protoRoot: string): GhzWorkload {
  const tokens = new Set(items.map((i) => i.token));
  if (tokens.size !== 1)
    throw new Error(`ghz sends one metadata object: items need one token, got ${tokens.size}`);
  const dataFile = path.join(dir, "ghz-data.json");
  const metadataFile = path.join(dir, "ghz-metadata.json");
  writeFileSync(dataFile, JSON.stringify(items.map((i) => ({ csr: i.csr, validityDuration: 86400 }))));
  writeFileSync(metadataFile, JSON.stringify({ authorization: `Bearer ${items[0]?.token}` }), {
    mode: 0o600,
  });
  return {
    dataFile,
    metadataFile,
    protoFile: path.join(protoRoot, "istio/v1/auth/ca.proto"),
    importPath: protoRoot,
  };
}

/**
 * Writes the request files of `ghz-tokens`: request n sends item n's CSR with item n's token, each
 * token once (a run is as long as the items).
 */
export function writeGhzTokensWorkload(dir: string, items: readonly LoadItem[], protoRoot: string): GhzWorkload {
  const dataFile = path.join(dir, "ghz-data.json");
  const tokensFile = path.join(dir, "ghz-tokens.json");
  writeFileSync(dataFile, JSON.stringify(items.map((i) => ({ csr: i.csr, validityDuration: 86400 }))));
  writeFileSync(tokensFile, JSON.stringify(items.map((i) => i.token)), { mode: 0o600 });
  return {
    dataFile,
    tokensFile,
    protoFile: path.join(protoRoot, "istio/v1/auth/ca.proto"),
    importPath: protoRoot,
  };
}

export interface GhzRun {
  readonly requests: number;
  readonly errors: number;
  readonly errorsByStatus: Record<string, number>;
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly windowMs: number;
}

export interface GhzMeasurement extends GhzRun {
  /** Server process tree CPU over the measured run, ms, and per request, us. */
  readonly serverCpuMs: number;
  readonly serverCpuPerRequestUs: number;
  /** ghz's own CPU over the measured run (sampled every 100 ms), ms, and per request, us. */
  readonly ghzCpuMs: number;
  readonly ghzCpuPerRequestUs: number;
  /** Busy CPU of the whole machine over the measured run, ms. */
  readonly machineBusyMs: number;
  /** Peak of the server tree's summed VmRSS from the warm-up on, bytes, and how many processes it had. */
  readonly peakRss: number;
  readonly processes: number;
}

export interface GhzOptions {
  readonly binary: string;
  readonly target: LoadTarget;
  readonly rootCertFile: string;
  readonly workload: GhzWorkload;
  readonly concurrency: number;
  readonly connections: number;
  /** A command ghz runs under, e.g. `["taskset", "-c", "1"]`. */
  readonly launcher?: readonly string[];
  /** Where ghz writes its JSON report. */
  readonly reportFile: string;
}

/**
 * One ghz run of `seconds` (with a tokens file: one request per token, however long that takes),
 * its figures from ghz's JSON report. `onPid` gets ghz's pid once spawned.
 */
export async function runGhz(
  options: GhzOptions,
  seconds: number,
  onPid?: (pid: number) => void,
): Promise<GhzRun> {
  const { workload } = options;
  const args = [
    "--proto",
    workload.protoFile,
    "--import-paths",
    workload.importPath,
    "--call",
    CREATE_CERTIFICATE,
    "--cacert",
    options.rootCertFile,
    "--cname",
    options.target.serverName,
    "--concurrency",
    String(options.concurrency),
    "--connections",
    String(options.connections),
    "--timeout",
    "20s",
    "--data-file",
    workload.dataFile,
    ...(workload.tokensFile !== undefined
      ? ["--tokens-file", workload.tokensFile]
      : [
          "--duration",
          `${seconds}s`,
          "--duration-stop",
          "ignore",
          "--metadata-file",
          workload.metadataFile ?? "",
          "--format",
          "json",
        ]),
    "--output",
    options.reportFile,
    options.target.address,
  ];
  const [command, ...prefix] = [...(options.launcher ?? []), options.binary];
  const child = spawn(command as string, [...prefix, ...args], { stdio: ["ignore", "ignore", "pipe"] });
  if (child.pid !== undefined) onPid?.(child.pid);
  let stderr = "";
  child.stderr?.on("data", (b: Buffer) => {
    stderr = (stderr + b.toString()).slice(-4096);
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (c) => resolve(c));
  });
  if (code !== 0) throw new Error(`ghz exited with ${code}: ${stderr.trim()}`);
  const report = JSON.parse(readFileSync(options.reportFile, "utf8")) as {
    count: number;
    total: number;
    rps: number;
    statusCodeDistribution?: Record<string, number>;
    latencyDistribution?: { percentage: number; latency: number }[] | null;
  };
  const byStatus = report.statusCodeDistribution ?? {};
  const errorsByStatus = Object.fromEntries(Object.entries(byStatus).filter(([k]) => k !== "OK"));
  const latency = (p: number) =>
    (report.latencyDistribution ?? []).find((d) => d.percentage === p)?.latency ?? Number.NaN;
  return {
    requests: report.count,
    errors: Object.values(errorsByStatus).reduce((a, b) => a + b, 0),
    errorsByStatus,
    requestsPerSecond: report.rps,
    p50Ms: latency(50) / 1e6,
    p99Ms: latency(99) / 1e6,
    windowMs: report.total / 1e6,
  };
}

/** A warm-up run of `warmupSeconds`, then a measured run of `seconds`, against the server tree under `serverPid`. */
export async function measureWithGhz(
  options: GhzOptions,
  serverPid: number,
  warmupSeconds: number,
  seconds: number,
): Promise<GhzMeasurement> {
  const rss = new RssSampler(serverPid);
  let memory: ReturnType<RssSampler["stop"]>;
  let run: GhzRun;
  let serverBefore: Map<number, number>;
  let machineBefore: { busy: number };
  let ghzCpu = 0;
  let sampler: NodeJS.Timeout | undefined;
  try {
    if (warmupSeconds > 0) await runGhz(options, warmupSeconds);
    serverBefore = treeCpuMs(processTree(serverPid));
    machineBefore = machineCpuMs();
    run = await runGhz(options, seconds, (pid) => {
      sampler = setInterval(() => {
        const c = cpuMs(pid);
        if (c > ghzCpu) ghzCpu = c;
      }, 100);
    });
  } finally {
    if (sampler) clearInterval(sampler);
    memory = rss.stop();
  }
  const serverCpuMs = cpuDelta(serverBefore, treeCpuMs(processTree(serverPid)));
  const machineBusyMs = machineCpuMs().busy - machineBefore.busy;
  const ok = Math.max(1, run.requests - run.errors);
  return {
    ...run,
    serverCpuMs,
    serverCpuPerRequestUs: (serverCpuMs * 1000) / ok,
    ghzCpuMs: ghzCpu,
    ghzCpuPerRequestUs: (ghzCpu * 1000) / ok,
    machineBusyMs,
    peakRss: memory.peakRss,
    processes: memory.processes,
  };
}
