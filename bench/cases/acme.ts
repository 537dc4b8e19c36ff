/**
 * ACME issuance end to end against Pebble (`PEBBLE_VA_NOSLEEP=1`):
 * `meshsign serve --manifests` with an ACME ClusterIssuer and N Certificates.
 *
 * - `acme`: HTTP-01 answered by meshsign's own solver listener on Pebble's
 *   httpPort; pebble-challtestsrv answers A 127.0.0.1 for every name. N is
 *   `MESHSIGN_BENCH_ACME_CERTIFICATES` (default 200). Next to meshsign, in
 *   turns (meshsign, bare, bare, meshsign), each with a fresh Pebble on the
 *   same port, runs a bare ACME client (bench/peer/acme-client: Go,
 *   golang.org/x/crypto/acme, the same account key type, names and leaf keys,
 *   nothing persisted), built by bench/peer/setup.sh. The target: the engine
 *   is not the bottleneck, i.e. meshsign's time to all Ready at most
 *   {@link MAX_WALL_OVER_BARE_CLIENT} times the bare client's in the same
 *   round. meshsign's CPU per certificate is reported as ratios to Pebble's
 *   and to the bare client's, not targeted: a client signs every request
 *   with the account key, which the CA only verifies.
 * - `acme-dns01`: wildcard Certificates, DNS-01 through the RFC 2136 solver
 *   into a knotd that is also Pebble's DNS server. meshsign's only
 *   propagation-check resolver is a proxy in front of knotd that lags behind
 *   it (bench/lib/dns-lag-proxy.ts), as a real provider's propagation does, so
 *   every Challenge waits; the target is that the waits overlap (no Challenge
 *   waits on another's). N is `MESHSIGN_BENCH_ACME_DNS01_CERTIFICATES`
 *   (default 100), the lag `MESHSIGN_BENCH_ACME_DNS01_PROPAGATION_DELAY`
 *   seconds (default 5; 0 asks knotd directly and judges nothing).
 *
 * For meshsign it measures the wall time from its start-up banner to every
 * Certificate Ready, the peak Orders and Challenges in flight (read from its
 * store), the CPU meshsign and the servers it talks to spent (from /proc), and
 * meshsign's peak RSS. Runs test/acme/setup.sh first (Pebble; seconds when
 * cached), and test/dns/setup.sh (knotd) for `acme-dns01`.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { CERTIFICATES, CHALLENGES, type Challenge, ORDERS, type Order } from "../../src/api/types.js";
import type { Certificate } from "../../src/engine/lib/api.js";
import { openEmbeddedStore } from "../../src/store/embedded/index.js";
import { type Pebble, startPebble } from "../../test/acme/harness.js";
import { pebbleDeadlock } from "../../test/acme/pebble-deadlock.js";
import { freePort } from "../../test/lib/ports.js";
import { type Knot, startKnot } from "../../test/dns/harness/knot.js";
import { type DnsLagProxy, peakOverlap, startDnsLagProxy } from "../lib/dns-lag-proxy.js";
import * as f from "../lib/format.js";
import { buildGoTools, goToolPath } from "../lib/go-tool.js";
import { type MeshsignProcess, startMeshsign } from "../lib/meshsign.js";
import { cpuMs, RssSampler } from "../lib/proc.js";
import type { BenchCase, BenchContext, CaseReport, TargetCheck } from "./types.js";

const NAMESPACE = "bench-acme";
/** How long every Certificate may take to be Ready before the case gives up (a loaded machine is slow). */
const READY_TIMEOUT_MS = 30 * 60_000;
/** How often the poll looks for the Certificates' Secret files: fine enough not to bias a run of a few seconds. */
const SECRET_POLL_MS = 50;
/** Pending Certificates at or below which every Secret file is looked for at each tick (above: once a second). */
const FINE_POLL_BELOW = 16;
/** How often meshsign's metrics are scraped for the Orders and Challenges in flight. */
const SAMPLE_POLL_MS = 1000;
/**
 * How long a run may go without a Certificate issued before Pebble is asked for its goroutines:
 * far beyond any wait of a working run (meshsign gives a CA request 90 s, Pebble asks for 1 s
 * between polls, a DNS-01 propagation wait is about 10 s).
 */
const STALL_MS = 60_000;

/** Pebble stopped answering on a lock-order deadlock of its own (pebble-deadlock.ts): the turn says nothing about the client. */
class PebbleDeadlocked extends Error {}

/**
 * Why a turn against `pebble` failed or stalled: when Pebble's goroutines show its own deadlock, a
 * PebbleDeadlocked naming it (Pebble is ended to get them). The dump is kept in a file in the
 * temporary folder, named in the error.
 */
async function pebbleDeadlockOf(pebble: Pebble): Promise<PebbleDeadlocked | undefined> {
  const dump = await pebble.quitWithGoroutineDump();
  const dumpFile = path.join(tmpdir(), `meshsign-bench-pebble-goroutines-${Date.now()}.txt`);
  writeFileSync(dumpFile, dump);
  const why = pebbleDeadlock(dump);
  return why === undefined ? undefined : new PebbleDeadlocked(`${why} (goroutines in ${dumpFile})`);
}
const FINAL_STATES = new Set(["valid", "invalid", "errored", "expired"]);

function certificateCount(envVar: string, fallback: number): number {
  const raw = process.env[envVar];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 100_000)
    throw new Error(`${envVar} must be an integer from 1 to 100000, got ${raw}`);
  return n;
}

function issuer(pebble: Pebble, solver: string): string {
  return `apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: { name: pebble }
spec:
  acme:
    server: ${pebble.directoryUrl}
    email: ops@example.com
    caBundle: ${Buffer.from(pebble.tlsCaPem).toString("base64")}
    privateKeySecretRef: { name: pebble-account }
    solvers:
${solver}`;
}

/** The Secret of Certificate i, whose files the poll looks for. */
const secretName = (i: number) => `c-${i}-tls`;

function certificate(i: number, dnsName: string): string {
  return `apiVersion: cert-manager.io/v1
kind: Certificate
metadata: { name: c-${i}, namespace: ${NAMESPACE} }
spec:
  secretName: ${secretName(i)}
  dnsNames: ["${dnsName}"]
  privateKey: { algorithm: ECDSA, size: 256 }
  issuerRef: { name: pebble, kind: ClusterIssuer }`;
}

interface Progress {
  ready: number;
  ordersInFlight: number;
  challengesInFlight: number;
  orders: number;
  challenges: number;
}

/** Orders and Challenges by state from meshsign's `meshsign_acme_*` gauges (a scrape: cheap on both sides). */
async function inFlight(metricsPort: number): Promise<Omit<Progress, "ready">> {
  const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
  const counts = { orders: 0, ordersInFlight: 0, challenges: 0, challengesInFlight: 0 };
  for (const line of (await res.text()).split("\n")) {
    const m = /^meshsign_acme_(orders|challenges)\{state="([^"]*)"\} (\d+)/.exec(line);
    if (m === null) continue;
    const n = Number(m[3]);
    const kind = m[1] === "orders" ? "orders" : "challenges";
    counts[kind] += n;
    if (!FINAL_STATES.has(m[2] ?? "")) counts[`${kind}InFlight`] += n;
  }
  return counts;
}

/** One read of meshsign's store (another process owns it; opened read-only). */
async function progress(dataDir: string): Promise<Progress> {
  const store = await openEmbeddedStore({ dataDir, readOnly: true });
  try {
    const [certs, orders, challenges] = await Promise.all([
      store.list<Certificate>(CERTIFICATES, { namespace: NAMESPACE }),
      store.list<Order>(ORDERS, { namespace: NAMESPACE }),
      store.list<Challenge>(CHALLENGES, { namespace: NAMESPACE }),
    ]);
    return {
      ready: certs.filter((c) => c.status?.conditions?.some((x) => x.type === "Ready" && x.status === "True"))
        .length,
      ordersInFlight: orders.filter((o) => !FINAL_STATES.has(o.status?.state ?? "")).length,
      challengesInFlight: challenges.filter((c) => !FINAL_STATES.has(c.status?.state ?? "")).length,
      orders: orders.length,
      challenges: challenges.length,
    };
  } finally {
    await store.close();
  }
}

/** What one variant starts next to meshsign. */
interface Setup {
  /** The CA of the run, asked for its goroutines when nothing is issued for STALL_MS. */
  readonly pebble: Pebble;
  readonly manifests: string;
  readonly serveArgs: readonly string[];
  /** The servers meshsign talks to, whose CPU is measured over the window. */
  readonly peers: readonly { readonly label: string; readonly pid: number }[];
  /** Extra columns and notes once every Certificate is Ready. */
  finish(wallSeconds: number): {
    header: string[];
    row: string[];
    notes: string[];
    data: unknown;
    targets?: TargetCheck[];
  };
  stop(): Promise<void>;
}

interface Variant {
  readonly name: string;
  readonly summary: string;
  readonly envVar: string;
  readonly defaultCount: number;
  title(count: number): string;
  setup(ctx: BenchContext, count: number): Promise<Setup>;
}

/** What one run of meshsign measured, from its banner to its last Certificate Ready. */
interface MeshsignRun {
  readonly count: number;
  readonly wallSeconds: number;
  readonly peakOrders: number;
  readonly peakChallenges: number;
  readonly orders: number;
  readonly challenges: number;
  readonly meshsignCpuMs: number;
  /** meshsign's CPU before its banner (module loading, CA, listeners), left out of {@link meshsignCpuMs}. */
  readonly startupCpuMs: number;
  /** The CPU of the servers meshsign talks to ({@link Setup.peers}), over the whole run. */
  readonly peers: readonly { readonly label: string; readonly cpuMs: number }[];
  readonly memory: ReturnType<RssSampler["stop"]>;
  /** meshsign's ACME requests by "METHOD path" (undefined when its metrics could not be read). */
  readonly requests: ReadonlyMap<string, number> | undefined;
  /** Scrapes of the poll and the benchmark process's CPU over the run (it shares the cores). */
  readonly poll: { readonly samples: number; readonly benchCpuMs: number };
  readonly extra: ReturnType<Setup["finish"]>;
}

/**
 * Starts meshsign with `setup`'s manifests and flags, waits until every Certificate is Ready, and
 * stops it (`setup` is the caller's to stop).
 */
async function runMeshsign(
  ctx: BenchContext,
  name: string,
  count: number,
  setup: Setup,
): Promise<MeshsignRun> {
  const dir = mkdtempSync(path.join(tmpdir(), `meshsign-bench-${name}-`));
  let server: MeshsignProcess | undefined;
  try {
    writeFileSync(path.join(dir, "acme.yaml"), setup.manifests);
    const peersBefore = setup.peers.map((p) => cpuMs(p.pid));
    ctx.log(`${name}: starting meshsign serve --workers 1 --manifests with ${count} Certificates`);
    server = await startMeshsign({
      repoRoot: ctx.serverRoot,
      workers: 1,
      ...(ctx.options.serverLog ? { logFile: path.resolve(ctx.options.serverLog) } : {}),
      extraArgs: ["--manifests", dir, "--serving-certificate-dns-names", "localhost", ...setup.serveArgs],
      nodeArgs: [
        ...ctx.options.serverNodeArgs,
        ...(ctx.options.profileDir
          ? ["--cpu-prof", "--cpu-prof-dir", path.resolve(ctx.options.profileDir)]
          : []),
      ],
    });
    // From the banner on: meshsign has loaded its manifests and works on them.
    const t0 = server.banner.atMs;
    const startupCpu = server.banner.cpuMs;
    const benchCpuBefore = process.cpuUsage();
    const rss = new RssSampler(server.pid);
    let peakOrders = 0;
    let peakChallenges = 0;
    let samples = 0;
    let last: Progress = { ready: 0, ordersInFlight: 0, challengesInFlight: 0, orders: 0, challenges: 0 };
    const dataDir = server.dataDir;
    const metricsPort = server.metricsPort;
    const sample = async () => {
      last = { ...last, ...(await inFlight(metricsPort).catch(() => last)) };
      samples++;
      peakOrders = Math.max(peakOrders, last.ordersInFlight);
      peakChallenges = Math.max(peakChallenges, last.challengesInFlight);
    };
    // Reading meshsign's store costs the benchmark ~80 ms of CPU or more on the cores meshsign runs
    // on, so the fine poll looks for each Certificate's Secret file instead (meshsign writes it,
    // then at once the status that marks the Certificate Ready), the Orders and Challenges in
    // flight come from meshsign's gauges once a second, and the store is read only at the end, to
    // confirm every Certificate is Ready.
    const pending = new Set(Array.from({ length: count }, (_, i) => i));
    const tlsCrt = (i: number) => path.join(dataDir, "secrets", NAMESPACE, secretName(i), "tls.crt");
    let sampling: Promise<void> | undefined;
    let lastSampled = Number.NEGATIVE_INFINITY;
    let lastLogged = 0;
    let lastScan = Number.NEGATIVE_INFINITY;
    const deadline = Date.now() + READY_TIMEOUT_MS;
    let issued = 0;
    let issuedAt = Date.now();
    for (;;) {
      const now = performance.now();
      // Every file each tick only near the end, which is all the tick's resolution is for: a
      // stat per pending Certificate every 50 ms cost the benchmark ~1 s of CPU in a run.
      if (pending.size <= FINE_POLL_BELOW || now - lastScan >= SAMPLE_POLL_MS) {
        lastScan = now;
        for (const i of pending) if (existsSync(tlsCrt(i))) pending.delete(i);
      }
      if (pending.size === 0) break;
      if (count - pending.size > issued) {
        issued = count - pending.size;
        issuedAt = Date.now();
      } else if (Date.now() - issuedAt > STALL_MS) {
        const stall = `${issued} of ${count} Certificates issued, none for ${STALL_MS / 1000} s`;
        const deadlock = await pebbleDeadlockOf(setup.pebble);
        if (deadlock !== undefined) {
          deadlock.message = `${stall}: ${deadlock.message}`;
          throw deadlock;
        }
        throw new Error(`${stall}, and Pebble's goroutines show no deadlock of its own`);
      }
      if (sampling === undefined && now - lastSampled >= SAMPLE_POLL_MS) {
        lastSampled = now;
        sampling = sample().finally(() => {
          sampling = undefined;
        });
      }
      if (Date.now() > deadline)
        throw new Error(
          `${count - pending.size} of ${count} Certificates issued after ${READY_TIMEOUT_MS / 60_000} min`,
        );
      if (Date.now() - lastLogged > 10_000) {
        lastLogged = Date.now();
        ctx.log(
          `${name}: ${count - pending.size}/${count} issued, ${last.ordersInFlight} orders and ${last.challengesInFlight} challenges in flight`,
        );
      }
      await new Promise((r) => setTimeout(r, Math.max(0, now + SECRET_POLL_MS - performance.now())));
    }
    let readyAt = performance.now();
    await sampling;
    const readStore = async () => {
      last = await progress(dataDir).catch(() => last);
    };
    await readStore();
    while (last.ready < count) {
      // Not all marked Ready yet (or the read failed): the end is the read that finds them all.
      if (Date.now() > deadline)
        throw new Error(
          `${last.ready} of ${count} Certificates Ready after ${READY_TIMEOUT_MS / 60_000} min`,
        );
      await new Promise((r) => setTimeout(r, SECRET_POLL_MS));
      await readStore();
      readyAt = performance.now();
    }
    const wallSeconds = (readyAt - t0) / 1000;
    const meshsignCpu = cpuMs(server.pid) - startupCpu;
    const peerCpu = setup.peers.map((p, i) => cpuMs(p.pid) - (peersBefore[i] ?? 0));
    const benchCpu = process.cpuUsage(benchCpuBefore);
    const memory = rss.stop();
    const extra = setup.finish(wallSeconds);
    ctx.log(`${name}: ${count} Ready in ${wallSeconds.toFixed(2)} s, ${last.orders} orders`);
    const requests = await acmeRequests(server.metricsPort).catch(() => undefined);
    if (requests !== undefined) {
      const all = [...requests.values()].reduce((a, b) => a + b, 0);
      const each = [...requests]
        .sort((a, b) => b[1] - a[1])
        .map(([k, n]) => `${k} ${(n / count).toFixed(2)}`);
      ctx.log(`${name}: ACME requests per certificate ${(all / count).toFixed(2)}: ${each.join(", ")}`);
    }
    return {
      count,
      wallSeconds,
      peakOrders,
      peakChallenges,
      orders: last.orders,
      challenges: last.challenges,
      meshsignCpuMs: meshsignCpu,
      startupCpuMs: startupCpu,
      peers: setup.peers.map((p, i) => ({ label: p.label, cpuMs: peerCpu[i] ?? 0 })),
      memory,
      requests,
      poll: { samples, benchCpuMs: (benchCpu.user + benchCpu.system) / 1000 },
      extra,
    };
  } finally {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const perCert = (ms: number, count: number) => `${f.ms(ms / count)} ms`;

/** One meshsign run as its own report (the DNS-01 variant). */
async function runAcme(ctx: BenchContext, v: Variant): Promise<CaseReport> {
  const count = certificateCount(v.envVar, v.defaultCount);
  let setup: Setup | undefined;
  try {
    setup = await v.setup(ctx, count);
    const run = await runMeshsign(ctx, v.name, count, setup);
    const total = run.meshsignCpuMs + run.peers.reduce((a, p) => a + p.cpuMs, 0);
    return {
      title: v.title(count),
      table: {
        header: [
          "Certificates",
          "all Ready",
          "certs/s",
          "peak orders in flight",
          "peak challenges in flight",
          "meshsign CPU/cert",
          ...run.peers.map((p) => `${p.label} CPU/cert`),
          "meshsign CPU share",
          "meshsign peak RSS",
          ...run.extra.header,
        ],
        rows: [
          [
            String(count),
            `${run.wallSeconds.toFixed(1)} s`,
            (count / run.wallSeconds).toFixed(1),
            String(run.peakOrders),
            String(run.peakChallenges),
            perCert(run.meshsignCpuMs, count),
            ...run.peers.map((p) => perCert(p.cpuMs, count)),
            f.pct(run.meshsignCpuMs, total),
            f.mb(run.memory.peakRss),
            ...run.extra.row,
          ],
        ],
      },
      targets: run.extra.targets ?? [],
      notes: [
        `meshsign serve --workers 1 --manifests holding one ACME ClusterIssuer and ${count} Certificates (one DNS name each, ECDSA P-256 keys), started with the ACME side already up; ${ALL_READY_NOTE} ` +
          PEBBLE_NOTE,
        `CPU is utime + stime from /proc: the ACME side's over the whole run, meshsign's from its banner to the last Ready (its start-up before the banner, ${f.ms(run.startupCpuMs)} ms, left out); the share is meshsign's of all the processes measured. Orders and Challenges in flight are those not yet in a final state; ${run.orders} Orders were made in all.`,
        ...run.extra.notes,
      ],
      data: meshsignData(run),
    };
  } finally {
    await setup?.stop();
  }
}

const ALL_READY_NOTE = `"All Ready" is from meshsign's start-up banner (its manifests loaded) to the last Certificate's Secret files, looked for every ${SECRET_POLL_MS} ms once at most ${FINE_POLL_BELOW} are missing, every second before (meshsign writes them, then at once the status that marks the Certificate Ready; a read of its store then confirms all are Ready). Orders and Challenges in flight are meshsign's meshsign_acme_orders and meshsign_acme_challenges gauges, scraped once a second.`;

const PEBBLE_NOTE =
  "Pebble runs with PEBBLE_VA_NOSLEEP=1, fresh authorizations for every order (PEBBLE_AUTHZREUSE=0), Retry-After 1 s and its default 5% bad-nonce rejection.";

function meshsignData(run: MeshsignRun) {
  return {
    count: run.count,
    wallSeconds: run.wallSeconds,
    peakOrders: run.peakOrders,
    peakChallenges: run.peakChallenges,
    orders: run.orders,
    challenges: run.challenges,
    meshsignCpuMs: run.meshsignCpuMs,
    meshsignStartupCpuMs: run.startupCpuMs,
    peers: run.peers,
    memory: run.memory,
    requests: run.requests === undefined ? undefined : Object.fromEntries(run.requests),
    poll: run.poll,
    extra: run.extra.data,
  };
}

/** What the bare ACME client (bench/peer/acme-client) prints as it exits. */
interface BareClientResult {
  readonly count: number;
  readonly issued: number;
  readonly errors: number;
  readonly wallMs: number;
  /** utime + stime (getrusage), the whole process. */
  readonly cpuMs: number;
  readonly maxRssBytes: number;
  /** ACME requests by HTTP method (POST = signed with the account key). */
  readonly requests: Readonly<Record<string, number>>;
  readonly firstError?: string;
}

/**
 * Runs the bare ACME client against `pebble` with its HTTP-01 listener on `solverPort`: from
 * spawning it to its exit, with Pebble's and pebble-challtestsrv's CPU over the same window.
 */
async function runBareClient(
  ctx: BenchContext,
  binary: string,
  pebble: Pebble,
  solverPort: number,
  count: number,
): Promise<{ wallSeconds: number; result: BareClientResult; peers: { label: string; cpuMs: number }[] }> {
  const dir = mkdtempSync(path.join(tmpdir(), "meshsign-bench-acme-client-"));
  try {
    const caFile = path.join(dir, "pebble-tls-ca.pem");
    writeFileSync(caFile, pebble.tlsCaPem);
    const peerPids = [
      { label: "Pebble", pid: pebble.pids.pebble },
      { label: "challtestsrv", pid: pebble.pids.challtestsrv },
    ];
    const before = peerPids.map((p) => cpuMs(p.pid));
    ctx.log(`acme: starting the bare ACME client (x/crypto/acme) for ${count} certificates`);
    const t0 = performance.now();
    const child = spawn(
      binary,
      [
        "-directory",
        pebble.directoryUrl,
        "-ca-file",
        caFile,
        "-http01-address",
        `127.0.0.1:${solverPort}`,
        "-count",
        String(count),
        "-name-format",
        CERTIFICATE_NAME_FORMAT,
        "-timeout",
        `${READY_TIMEOUT_MS / 1000}s`,
      ],
      // Its output is read as it comes: a full pipe would stall it.
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => {
      stdout += b.toString();
    });
    child.stderr.on("data", (b: Buffer) => {
      stderr = (stderr + b.toString()).slice(-4096);
    });
    let exitedAt = 0;
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once("error", reject);
      child.once("exit", () => {
        exitedAt = performance.now();
      });
      child.once("close", (c) => resolve(c));
    });
    const wallSeconds = (exitedAt - t0) / 1000;
    const peers = peerPids.map((p, i) => ({ label: p.label, cpuMs: cpuMs(p.pid) - (before[i] ?? 0) }));
    let result: BareClientResult | undefined;
    try {
      result = JSON.parse(stdout.trim().split("\n").at(-1) ?? "") as BareClientResult;
    } catch {
      // no result line: the exit code and stderr say why
    }
    if (code !== 0 || result === undefined || result.issued !== count)
      throw new Error(
        `the bare ACME client failed (exit ${code}): ${result?.firstError ?? ""}${result ? ` (${result.errors} errors)` : ""}\n${stderr}`,
      );
    ctx.log(`acme: bare client: ${count} certificates in ${wallSeconds.toFixed(2)} s`);
    return { wallSeconds, result, peers };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The DNS name of Certificate i of the HTTP-01 case (Go fmt syntax for the bare client). */
const CERTIFICATE_NAME_FORMAT = "c-%d.bench.example.com";
const certificateName = (i: number) => CERTIFICATE_NAME_FORMAT.replace("%d", String(i));

/** The HTTP-01 case's target: meshsign's time to all Ready at most this many times the bare client's. */
const MAX_WALL_OVER_BARE_CLIENT = 1.25;
/** Who runs in each turn: two rounds, alternating which goes first, so drift on the host hits both. */
const TURNS = [
  { round: 1, client: "meshsign" },
  { round: 1, client: "bare" },
  { round: 2, client: "bare" },
  { round: 2, client: "meshsign" },
] as const;

/** One turn of the HTTP-01 case. */
interface Turn {
  readonly round: number;
  readonly client: "meshsign" | "bare";
  readonly wallSeconds: number;
  readonly clientCpuMs: number;
  readonly pebbleCpuMs: number;
  readonly challtestsrvCpuMs: number;
  readonly clientPeakRss: number;
  readonly meshsign?: MeshsignRun;
  readonly bare?: BareClientResult;
}

/** The HTTP-01 solver's part of meshsign's setup against one Pebble. */
function http01Setup(pebble: Pebble, solverPort: number, count: number): Setup {
  const certs = Array.from({ length: count }, (_, i) => certificate(i, certificateName(i)));
  return {
    pebble,
    manifests: `${[
      // The names resolve to 127.0.0.1 only in Pebble's DNS: no self-check, accept at once.
      issuer(pebble, "      - waitInsteadOfSelfCheck: 0s\n        http01: { ingress: {} }"),
      ...certs,
    ].join("\n---\n")}\n`,
    serveArgs: ["--acme-http01-solver-address", `127.0.0.1:${solverPort}`],
    peers: [
      { label: "Pebble", pid: pebble.pids.pebble },
      { label: "challtestsrv", pid: pebble.pids.challtestsrv },
    ],
    finish: () => ({ header: [], row: [], notes: [], data: {} }),
    // runHttp01 stops Pebble: a fresh one for every turn, the bare client's too.
    stop: async () => {},
  };
}

/**
 * The HTTP-01 case: meshsign and the bare ACME client in turns (meshsign, bare, bare, meshsign),
 * each against a fresh Pebble on the same HTTP-01 port, and meshsign's time to all Ready judged
 * against the bare client's of the same round.
 */
async function runHttp01(ctx: BenchContext): Promise<CaseReport> {
  const count = certificateCount(http01.envVar, http01.defaultCount);
  buildGoTools(path.join(ctx.repoRoot, "test/acme/setup.sh"), []);
  buildGoTools(path.join(ctx.repoRoot, "bench/peer/setup.sh"), ["acme-client"]);
  const bareClient = goToolPath("acme-client");
  const solverPort = await freePort();
  const turns: Turn[] = [];
  const retries: string[] = [];
  for (const { round, client } of TURNS) {
    for (let attempt = 1; ; attempt++) {
      ctx.log(`acme: round ${round}, ${client === "bare" ? "bare client" : "meshsign"}: a fresh Pebble`);
      const pebble = await startPebble({ httpPort: solverPort });
      try {
        if (client === "meshsign") {
          const run = await runMeshsign(ctx, "acme", count, http01Setup(pebble, solverPort, count));
          const peer = (label: string) => run.peers.find((p) => p.label === label)?.cpuMs ?? Number.NaN;
          turns.push({
            round,
            client,
            wallSeconds: run.wallSeconds,
            clientCpuMs: run.meshsignCpuMs,
            pebbleCpuMs: peer("Pebble"),
            challtestsrvCpuMs: peer("challtestsrv"),
            clientPeakRss: run.memory.peakRss,
            meshsign: run,
          });
        } else {
          const r = await runBareClient(ctx, bareClient, pebble, solverPort, count);
          const peer = (label: string) => r.peers.find((p) => p.label === label)?.cpuMs ?? Number.NaN;
          turns.push({
            round,
            client,
            wallSeconds: r.wallSeconds,
            clientCpuMs: r.result.cpuMs,
            pebbleCpuMs: peer("Pebble"),
            challtestsrvCpuMs: peer("challtestsrv"),
            clientPeakRss: r.result.maxRssBytes,
            bare: r.result,
          });
        }
        break;
      } catch (err) {
        // Pebble deadlocks on its own locks now and then under this load (pebble-deadlock.ts):
        // it then answers nothing, meshsign's watch sees no Certificate issued for STALL_MS and
        // the bare client's requests time out. Such a turn says nothing about the client, so it
        // runs once more against a fresh Pebble, and the report says so. A bare-client turn that
        // failed otherwise runs once more too (x/crypto/acme's own failures are not what is
        // measured); a meshsign turn that failed otherwise fails the case.
        const deadlock =
          err instanceof PebbleDeadlocked
            ? err
            : client === "bare"
              ? await pebbleDeadlockOf(pebble)
              : undefined;
        if (attempt > 1 || (client === "meshsign" && deadlock === undefined)) throw deadlock ?? err;
        const why = (deadlock ?? (err as Error)).message.split("\n")[0] ?? "";
        const who = client === "bare" ? "the bare client's" : "meshsign's";
        ctx.log(`acme: round ${round}, ${who} turn failed, running it again: ${why}`);
        retries.push(`round ${round}, ${who} turn: ${why}`);
      } finally {
        await pebble.stop();
      }
    }
  }
  const report = http01Report(count, turns);
  if (retries.length === 0) return report;
  return { ...report, notes: [...report.notes, `Turns run again after they failed: ${retries.join("; ")}.`] };
}

function http01Report(count: number, turns: readonly Turn[]): CaseReport {
  const ratio = (a: number, b: number) => `${(a / Math.max(b, 1e-9)).toFixed(2)}x`;
  const rounds = [...new Set(turns.map((t) => t.round))];
  const pair = (round: number) => ({
    m: turns.find((t) => t.round === round && t.client === "meshsign"),
    b: turns.find((t) => t.round === round && t.client === "bare"),
  });
  const targets: TargetCheck[] = rounds.flatMap((round) => {
    const { m, b } = pair(round);
    if (m === undefined || b === undefined) return [];
    return [
      {
        name: `acme round ${round}: the engine is not the bottleneck (meshsign's time to all Ready over the bare ACME client's)`,
        target: `<= ${MAX_WALL_OVER_BARE_CLIENT.toFixed(2)}x`,
        measured: `${ratio(m.wallSeconds, b.wallSeconds)} (${m.wallSeconds.toFixed(2)} s vs ${b.wallSeconds.toFixed(2)} s)`,
        pass: m.wallSeconds <= MAX_WALL_OVER_BARE_CLIENT * b.wallSeconds,
      },
    ];
  });
  // Reported, not targeted: a client signs every request with the account key, the CA only checks it.
  const cpuShares = rounds.flatMap((round) => {
    const { m, b } = pair(round);
    if (m === undefined || b === undefined) return [];
    const total = m.clientCpuMs + m.pebbleCpuMs + m.challtestsrvCpuMs;
    return [
      `round ${round}: ${perCert(m.clientCpuMs, count)}, ${ratio(m.clientCpuMs, m.pebbleCpuMs)} Pebble's in the same run (meshsign's share of meshsign, Pebble and pebble-challtestsrv: ${f.pct(m.clientCpuMs, total)}) and ${ratio(m.clientCpuMs, b.clientCpuMs)} the bare client's (${perCert(b.clientCpuMs, count)}, itself ${ratio(b.clientCpuMs, b.pebbleCpuMs)} Pebble's)`,
    ];
  });
  /** ACME requests per certificate, all and (in parentheses) the signed ones. */
  const requests = (t: Turn) => {
    const byKey: [string, number][] = t.meshsign?.requests
      ? [...t.meshsign.requests]
      : Object.entries(t.bare?.requests ?? {});
    if (byKey.length === 0) return "-";
    const all = byKey.reduce((a, [, n]) => a + n, 0);
    const signed = byKey.filter(([k]) => k.startsWith("POST")).reduce((a, [, n]) => a + n, 0);
    return `${(all / count).toFixed(2)} (${(signed / count).toFixed(2)})`;
  };
  return {
    title: `${count} certificates through ACME (Pebble, HTTP-01): meshsign next to a bare ACME client (x/crypto/acme), in turns`,
    table: {
      header: [
        "round",
        "client",
        "all Ready",
        "certs/s",
        "client CPU/cert",
        "Pebble CPU/cert",
        "challtestsrv CPU/cert",
        "client CPU / Pebble's",
        "client peak RSS",
        "peak orders in flight",
        "peak challenges in flight",
        "ACME requests/cert (signed)",
      ],
      rows: turns.map((t) => [
        String(t.round),
        t.client === "meshsign" ? "meshsign" : "bare client",
        `${t.wallSeconds.toFixed(2)} s`,
        (count / t.wallSeconds).toFixed(1),
        perCert(t.clientCpuMs, count),
        perCert(t.pebbleCpuMs, count),
        perCert(t.challtestsrvCpuMs, count),
        ratio(t.clientCpuMs, t.pebbleCpuMs),
        f.mb(t.clientPeakRss),
        t.meshsign ? String(t.meshsign.peakOrders) : "-",
        t.meshsign ? String(t.meshsign.peakChallenges) : "-",
        requests(t),
      ]),
    },
    targets,
    notes: [
      `Each turn has a fresh Pebble and pebble-challtestsrv (nothing carries over) and the same HTTP-01 port; the turns go meshsign, bare client, bare client, meshsign, so drift on the host falls on both. ${PEBBLE_NOTE} pebble-challtestsrv answers A 127.0.0.1 for every name (Pebble's DNS).`,
      `meshsign: serve --workers 1 --manifests holding one ACME ClusterIssuer (RSA-2048 account key, generated) and ${count} Certificates (one DNS name each, ECDSA P-256 keys), HTTP-01 on its solver listener (waitInsteadOfSelfCheck: 0s, since the names resolve nowhere else); ${ALL_READY_NOTE} Its CPU is utime + stime from /proc over the same window (start-up before the banner left out); Orders and Challenges in flight are those not yet in a final state; ACME requests are its certmanager_http_acme_client_request_count. While meshsign ran, the benchmark process itself spent ${turns
        .flatMap((t) => (t.meshsign ? [`${f.int(t.meshsign.poll.benchCpuMs)} ms`] : []))
        .join(
          " and ",
        )} of CPU on the same cores (the Secret-file poll, the scrapes and the final store read).`,
      `Bare client: bench/peer/acme-client (Go, golang.org/x/crypto/acme, the library cert-manager's ACME client is forked from): one account with an RSA-2048 key, then all ${count} certificates at once, each new order, authorization, HTTP-01 served by itself on the same port, accept, WaitOrder (Retry-After honoured), finalize with a CSR, chain; nothing persisted. "All Ready" is from spawning it to its exit (its key generation and registration included); its CPU and peak RSS are its own getrusage at exit (the kernel's utime + stime and peak RSS). Pebble's and pebble-challtestsrv's CPU (from /proc) is over each client's whole run.`,
      `The target: meshsign's time to all Ready at most ${MAX_WALL_OVER_BARE_CLIENT}x the bare client's in the same round: the engine around the ACME exchanges (store, scheduling, Secrets) must not be what sets the pace. meshsign's CPU per certificate is reported, not targeted: ${cpuShares.join("; ")}.`,
    ],
    data: {
      count,
      turns: turns.map((t) => ({
        round: t.round,
        client: t.client,
        wallSeconds: t.wallSeconds,
        clientCpuMs: t.clientCpuMs,
        pebbleCpuMs: t.pebbleCpuMs,
        challtestsrvCpuMs: t.challtestsrvCpuMs,
        clientPeakRss: t.clientPeakRss,
        ...(t.meshsign ? { meshsign: meshsignData(t.meshsign) } : {}),
        ...(t.bare ? { bare: t.bare } : {}),
      })),
    },
  };
}

const http01 = {
  name: "acme",
  summary: "Certificates issued through ACME against Pebble, HTTP-01: meshsign next to a bare ACME client",
  envVar: "MESHSIGN_BENCH_ACME_CERTIFICATES",
  defaultCount: 200,
} as const;

/** Sum of the UPDATE messages knotd says it processed (`DDNS, processing N updates`). */
function knotUpdates(log: string): number {
  let n = 0;
  for (const m of log.matchAll(/DDNS, processing (\d+) update/g)) n += Number(m[1]);
  return n;
}

const dns01: Variant = {
  name: "acme-dns01",
  summary:
    "Wildcard Certificates through an ACME ClusterIssuer against Pebble, DNS-01 by RFC 2136 into knotd",
  envVar: "MESHSIGN_BENCH_ACME_DNS01_CERTIFICATES",
  defaultCount: 100,
  title: (count) =>
    `${count} wildcard Certificates through an ACME ClusterIssuer (Pebble, DNS-01 by RFC 2136 into knotd)`,
  setup: async (ctx, count) => {
    buildGoTools(path.join(ctx.repoRoot, "test/acme/setup.sh"), []);
    buildGoTools(path.join(ctx.repoRoot, "test/dns/setup.sh"), []);
    ctx.log("acme-dns01: starting knotd, Pebble and pebble-challtestsrv");
    let knot: Knot | undefined;
    let pebble: Pebble | undefined;
    try {
      knot = await startKnot();
      pebble = await startPebble({ httpPort: await freePort(), dnsServer: knot.nameserver });
    } catch (err) {
      await pebble?.stop();
      await knot?.stop();
      throw err;
    }
    const [k, p] = [knot, pebble];
    const delaySeconds = propagationDelaySeconds();
    let lag: DnsLagProxy | undefined;
    if (delaySeconds > 0) {
      lag = await startDnsLagProxy({ upstream: k.nameserver, delayMs: delaySeconds * 1000 });
      ctx.log(`acme-dns01: the propagation check asks ${lag.nameserver}, ${delaySeconds} s behind knotd`);
    }
    const key = k.key("HMACSHA256");
    const updatesBefore = knotUpdates(k.log());
    const certs = Array.from({ length: count }, (_, i) => certificate(i, `*.w-${i}.example.test`));
    return {
      pebble: p,
      manifests: `${[
        `apiVersion: v1\nkind: Secret\nmetadata: { name: knot-tsig, namespace: meshsign-system }\ndata: { secret: ${Buffer.from(key.secret).toString("base64")} }`,
        issuer(
          p,
          [
            "      - dns01:",
            "          rfc2136:",
            `            nameserver: "${k.nameserver}"`,
            `            tsigKeyName: "${key.name}"`,
            `            tsigAlgorithm: ${key.algorithm}`,
            "            tsigSecretSecretRef: { name: knot-tsig, key: secret }",
          ].join("\n"),
        ),
        ...certs,
      ].join("\n---\n")}\n`,
      // knotd is authoritative for example.test; the propagation check asks only it (through the lag).
      serveArgs: [
        "--dns01-recursive-nameservers",
        lag?.nameserver ?? k.nameserver,
        "--dns01-recursive-nameservers-only",
      ],
      peers: [
        { label: "Pebble", pid: p.pids.pebble },
        { label: "knotd", pid: k.pid },
      ],
      finish: (wallSeconds) => {
        const updates = knotUpdates(k.log()) - updatesBefore;
        const waiting = lag === undefined ? undefined : propagationWaits(lag, count, delaySeconds);
        return {
          header: ["DNS updates", "updates/s", ...(waiting?.header ?? [])],
          row: [String(updates), (updates / wallSeconds).toFixed(1), ...(waiting?.row ?? [])],
          ...(waiting !== undefined ? { targets: [waiting.target] } : {}),
          notes: [
            ...(waiting?.notes ?? []),
            `Each Certificate is one wildcard name (\`*.w-<i>.example.test\`), so one DNS-01 Challenge; the RFC 2136 solver (TSIG HMAC-SHA256) writes its TXT record into knotd (Knot DNS, the Debian package), which is Pebble's DNS server and the only resolver of meshsign's propagation check (--dns01-recursive-nameservers-only). DNS updates are the UPDATE messages knotd logged as processed over the window (presents and clean-ups); updates/s is over the whole wall time.`,
          ],
          data: { updates, propagation: waiting?.data },
        };
      },
      stop: async () => {
        await lag?.stop();
        await p.stop();
        await k.stop();
      },
    };
  },
};

/** meshsign's default --max-concurrent-challenges: the Challenges that can wait at once. */
const MAX_CONCURRENT_CHALLENGES = 60;

function propagationDelaySeconds(): number {
  const raw = process.env.MESHSIGN_BENCH_ACME_DNS01_PROPAGATION_DELAY;
  if (raw === undefined || raw === "") return 5;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0 || n > 600)
    throw new Error(`MESHSIGN_BENCH_ACME_DNS01_PROPAGATION_DELAY must be 0-600 seconds, got ${raw}`);
  return n;
}

/**
 * Each record's propagation wait, as the lagging resolver saw it: from the first check that found
 * it at knotd (just after it was presented) to the first that got it through (the check passes and
 * the Challenge is accepted). If Challenges waited on one another the waits would follow each other
 * and their span would be N waits; they overlap when many wait at once and the span is about one
 * wait per batch of --max-concurrent-challenges.
 */
function propagationWaits(lag: DnsLagProxy, count: number, delaySeconds: number) {
  const done = lag.waits.filter((w) => w.passedMs !== undefined);
  const intervals = done.map((w) => ({ start: w.seenMs, end: w.passedMs as number }));
  const waitsS = intervals.map((w) => (w.end - w.start) / 1000).sort((a, b) => a - b);
  const median = waitsS[Math.floor(waitsS.length / 2)] ?? Number.NaN;
  const longest = waitsS.at(-1) ?? Number.NaN;
  const spanS =
    intervals.length === 0
      ? Number.NaN
      : (Math.max(...intervals.map((w) => w.end)) - Math.min(...intervals.map((w) => w.start))) / 1000;
  const peak = peakOverlap(intervals);
  const batches = Math.ceil(count / MAX_CONCURRENT_CHALLENGES);
  // Waves of --max-concurrent-challenges, +2 for the spread of presenting and of finishing a wave.
  const allowedWaits = batches + 2;
  const wantAtOnce = Math.ceil(Math.min(count, MAX_CONCURRENT_CHALLENGES) / 2);
  const target: TargetCheck = {
    name: "no Challenge waits on another's propagation wait",
    target: `>= ${wantAtOnce} waiting at once, all ${count} within ${allowedWaits} waits (one after another: 1 and ${count})`,
    measured: `${peak} at once; ${done.length} waits of ${median.toFixed(1)} s (median) within ${spanS.toFixed(1)} s = ${(spanS / median).toFixed(1)} waits`,
    pass: done.length >= count && peak >= wantAtOnce && spanS <= allowedWaits * median,
  };
  return {
    header: ["propagation wait (median / longest)", "waiting at once (peak)", "all waits' span"],
    row: [`${median.toFixed(1)} / ${longest.toFixed(1)} s`, String(peak), `${spanS.toFixed(1)} s`],
    target,
    notes: [
      `The propagation check asks a resolver that lags ${delaySeconds} s behind knotd (bench/lib/dns-lag-proxy.ts: a TXT answer for an \`_acme-challenge\` name is sent without its values until they have been at knotd that long), so every Challenge waits; a Challenge rechecks 10 s after a failed check. A wait runs from the first check that found the record at knotd to the first that got it through (then the Challenge is accepted); ${lag.heldBack} answers were held back. Waiting on one another, the ${count} waits would span ${count} waits; meshsign runs up to ${MAX_CONCURRENT_CHALLENGES} Challenges at once (--max-concurrent-challenges), so the target is at least half of those waiting together and all waits within one wait per ${MAX_CONCURRENT_CHALLENGES} Challenges, +2 for the spread of presenting and finishing.`,
    ],
    data: {
      delaySeconds,
      waitsSeconds: waitsS,
      spanSeconds: spanS,
      peakWaiting: peak,
      heldBack: lag.heldBack,
    },
  };
}

export const acmeCase: BenchCase = {
  name: http01.name,
  summary: http01.summary,
  inDefaultRun: false,
  run: runHttp01,
};

export const acmeDns01Case: BenchCase = {
  name: dns01.name,
  summary: dns01.summary,
  inDefaultRun: false,
  run: (ctx) => runAcme(ctx, dns01),
};

/** meshsign's ACME requests so far by "METHOD path" (its cert-manager request counter). */
async function acmeRequests(metricsPort: number): Promise<Map<string, number>> {
  const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
  const counts = new Map<string, number>();
  for (const line of (await res.text()).split("\n")) {
    const m = /^certmanager_http_acme_client_request_count\{(.*)\} (\d+)/.exec(line);
    if (m === null) continue;
    const labels = Object.fromEntries(
      [...(m[1] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]),
    );
    const key = `${labels.method} ${labels.path}`;
    counts.set(key, (counts.get(key) ?? 0) + Number(m[2]));
  }
  return counts;
}
