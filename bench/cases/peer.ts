/**
 * meshsign next to Istio's own CA (istiod's CreateCertificate server and CA, built from Istio's Go
 * modules by bench/peer/setup.sh), measured back to back in one run with the same load generator
 * (ghz), the same RS256 service-account token verified against the same JWKS, and the same
 * RSA-2048 CSRs: 64 calls in flight over 8 reused TLS connections, a warm-up, then the measured
 * window; every pair twice in alternating order; with the server pinned to core 0 and ghz to
 * core 1 (`taskset`), then with both sharing the cores; then a cold-connection variant (a new TLS
 * connection per request, grpc-js's client, as ghz always reuses its connections). Each server is
 * started fresh for each measurement in its default configuration. The targets are ratios to
 * Istio's CA in the same run.
 */

import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import path from "node:path";
import { ClusterTokenSigner } from "../lib/cluster-tokens.js";
import * as f from "../lib/format.js";
import { type GhzMeasurement, measureWithGhz, writeGhzWorkload } from "../lib/ghz.js";
import { buildGoTools, goToolPath } from "../lib/go-tool.js";
import { startIstioCa } from "../lib/istio-ca.js";
import { serveJwks } from "../lib/jwks-server.js";
import { type LoadOutcome, runLoad } from "../lib/load.js";
import type { LoadTarget } from "../lib/load-protocol.js";
import { startMeshsign } from "../lib/meshsign.js";
import { buildWorkload } from "../lib/workload.js";
import type { BenchCase, BenchContext, CaseReport, TargetCheck } from "./types.js";

type ServerName = "meshsign" | "istio";

interface RunningServer {
  readonly pid: number;
  readonly target: LoadTarget;
  readonly rootCertFile: string;
  stop(): Promise<unknown>;
}

interface CpuSetup {
  readonly name: "pinned" | "shared";
  readonly label: string;
  readonly server: readonly string[];
  readonly ghz: readonly string[];
}

const SETUPS: readonly CpuSetup[] = [
  {
    name: "pinned",
    label: "server pinned to core 0, ghz to core 1",
    server: ["taskset", "-c", "0"],
    ghz: ["taskset", "-c", "1"],
  },
  { name: "shared", label: "server and ghz sharing both cores", server: [], ghz: [] },
];

/** The targets, as ratios meshsign / Istio's CA. */
const TARGETS = {
  pinnedRps: 1.4,
  sharedRps: 1.3,
  rss: 2,
  cpuPerRequest: 0.65,
  coldRps: 1,
} as const;

const ROUNDS = 2;
/** Generous: a start on a core shared with other work can take a minute. */
const START_TIMEOUT_MS = 180_000;

interface Measured {
  readonly setup: CpuSetup["name"];
  readonly round: number;
  readonly server: ServerName;
  readonly m: GhzMeasurement;
}

interface ColdMeasured {
  readonly round: number;
  readonly server: ServerName;
  readonly o: LoadOutcome;
}

export const peerCase: BenchCase = {
  name: "peer",
  summary: "meshsign next to Istio's own CA (ghz load)",
  inDefaultRun: false,
  docSection: "peer",
  run: async (ctx: BenchContext): Promise<CaseReport> => {
    const { options } = ctx;
    if (availableParallelism() < 2)
      throw new Error("the peer case pins server and ghz to two cores; this machine has one");
    ctx.log("peer: building (or finding cached) Istio's CA and ghz: bash bench/peer/setup.sh");
    buildGoTools(path.join(ctx.repoRoot, "bench/peer/setup.sh"), ["istio-ca", "ghz"]);
    const istioBinary = goToolPath("istio-ca");
    const ghzBinary = goToolPath("ghz");
    const seconds = options.peerSeconds;
    const warmup = options.peerWarmupSeconds;

    const base = mkdtempSync(path.join(tmpdir(), "meshsign-peer-"));
    const tokens = await ClusterTokenSigner.create(path.join(base, "sa"));
    const jwks = await serveJwks(tokens.jwksFile);
    try {
      // One identity, 64 RSA-2048 keys: ghz sends one metadata object (one token) with every request.
      const items = await buildWorkload({
        tokens,
        keyType: "rsa-2048",
        identities: 1,
        keysPerIdentity: options.concurrency,
        tokenTtlSeconds: 4 * 3600,
      });
      const workload = writeGhzWorkload(base, items, path.join(ctx.repoRoot, "proto"));

      const start = async (server: ServerName, launcher: readonly string[]): Promise<RunningServer> => {
        if (server === "istio") {
          const p = await startIstioCa({
            binary: istioBinary,
            jwksUri: jwks.url,
            issuer: tokens.issuer,
            launcher,
          });
          return p;
        }
        const p = await startMeshsign({
          repoRoot: ctx.serverRoot,
          workers: options.workersGiven,
          tokens,
          launcher,
          nodeArgs: [
            ...options.serverNodeArgs,
            ...(options.profileDir ? ["--cpu-prof", "--cpu-prof-dir", path.resolve(options.profileDir)] : []),
          ],
          // 64 calls of one identity; the per-identity limit (10/s by default) would refuse them.
          extraArgs: ["--identity-rate-limit", "0"],
          startTimeoutMs: START_TIMEOUT_MS,
          ...(options.serverLog ? { logFile: path.resolve(options.serverLog) } : {}),
        });
        return { ...p, rootCertFile: path.join(p.dataDir, "root-cert.pem") };
      };

      const measured: Measured[] = [];
      for (const setup of SETUPS.filter((s) => options.peerParts.includes(s.name))) {
        for (let round = 0; round < ROUNDS; round++) {
          const order: ServerName[] = round % 2 === 0 ? ["meshsign", "istio"] : ["istio", "meshsign"];
          for (const server of order) {
            const s = await start(server, setup.server);
            try {
              const m = await measureWithGhz(
                {
                  binary: ghzBinary,
                  target: s.target,
                  rootCertFile: s.rootCertFile,
                  workload,
                  concurrency: options.concurrency,
                  connections: options.channels,
                  launcher: setup.ghz,
                  reportFile: path.join(base, "ghz-report.json"),
                },
                s.pid,
                warmup,
                seconds,
              );
              measured.push({ setup: setup.name, round, server, m });
              ctx.log(
                `peer ${setup.name} round ${round + 1} ${server}: ${f.int(m.requestsPerSecond)} req/s, p99 ${f.ms(m.p99Ms)} ms, ` +
                  `${f.mb(m.peakRss)} (${m.processes} proc), server ${f.us(m.serverCpuPerRequestUs)}/req, ${m.errors} errors`,
              );
            } finally {
              await s.stop();
            }
          }
        }
      }

      const cold: ColdMeasured[] = [];
      const coldItems = options.peerParts.includes("cold")
        ? await buildWorkload({
            tokens,
            keyType: "rsa-2048",
            identities: options.identities,
            keysPerIdentity: 1,
            tokenTtlSeconds: 4 * 3600,
          })
        : [];
      for (let round = 0; round < (options.peerParts.includes("cold") ? ROUNDS : 0); round++) {
        const order: ServerName[] = round % 2 === 0 ? ["meshsign", "istio"] : ["istio", "meshsign"];
        for (const server of order) {
          const s = await start(server, []);
          try {
            const o = await runLoad(
              {
                target: s.target,
                call: "create-certificate",
                items: coldItems,
                connection: "cold",
                channels: options.coldConcurrency,
                inFlightPerChannel: 1,
                warmupMs: 2000,
                durationMs: 30_000,
                maxRequests: options.coldRequests,
                deadlineMs: 10_000,
              },
              { serverPid: s.pid, clients: options.clients },
            );
            cold.push({ round, server, o });
            ctx.log(
              `peer cold round ${round + 1} ${server}: ${f.int(o.requestsPerSecond)} req/s, ${o.errors} errors`,
            );
          } finally {
            await s.stop();
          }
        }
      }
      return report(
        options.workersGiven,
        measured,
        cold,
        options.concurrency,
        options.channels,
        warmup,
        seconds,
        jwks.fetches(),
      );
    } finally {
      await jwks.close();
      rmSync(base, { recursive: true, force: true });
    }
  },
};

function report(
  workersGiven: number | undefined,
  measured: readonly Measured[],
  cold: readonly ColdMeasured[],
  concurrency: number,
  connections: number,
  warmup: number,
  seconds: number,
  jwksFetches: number,
): CaseReport {
  const workersNote =
    workersGiven === undefined
      ? "with no `--workers` (its default for the cores it may use),"
      : `with \`--workers ${workersGiven}\` (not its default),`;
  const rows: string[][] = measured.map(({ setup, round, server, m }) => [
    setup,
    String(round + 1),
    server === "istio" ? "Istio's CA" : "meshsign",
    f.int(m.requestsPerSecond),
    f.ms(m.p50Ms),
    f.ms(m.p99Ms),
    `${m.errors} / ${f.int(m.requests)}`,
    f.us(m.serverCpuPerRequestUs),
    f.us(m.ghzCpuPerRequestUs),
    `${f.mb(m.peakRss)} (${m.processes} proc)`,
  ]);
  for (const { round, server, o } of cold)
    rows.push([
      "shared, cold",
      String(round + 1),
      server === "istio" ? "Istio's CA" : "meshsign",
      f.int(o.requestsPerSecond),
      f.ms(o.latency.p50Ms),
      f.ms(o.latency.p99Ms),
      `${o.errors} / ${f.int(o.requests)}`,
      o.requests > 0 ? f.us((o.cpu.serverMs * 1000) / o.requests) : "n/a",
      o.requests > 0 ? f.us((o.cpu.clientMs * 1000) / o.requests) : "n/a",
      `${f.mb(o.rss.peak)} (${o.rss.processes} proc)`,
    ]);

  // Ratios per round (same round = back to back), reported as the range over rounds.
  const ratios = (setup: CpuSetup["name"], pick: (m: GhzMeasurement) => number): number[] => {
    const out: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const a = measured.find((x) => x.setup === setup && x.round === round && x.server === "meshsign");
      const b = measured.find((x) => x.setup === setup && x.round === round && x.server === "istio");
      if (a && b) out.push(pick(a.m) / pick(b.m));
    }
    return out;
  };
  const coldRatios: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const a = cold.find((x) => x.round === round && x.server === "meshsign");
    const b = cold.find((x) => x.round === round && x.server === "istio");
    if (a && b) coldRatios.push(a.o.requestsPerSecond / b.o.requestsPerSecond);
  }
  const range = (r: readonly number[]) =>
    r.length === 0
      ? "n/a"
      : r.length === 1
        ? r[0]?.toFixed(2)
        : `${Math.min(...r).toFixed(2)}-${Math.max(...r).toFixed(2)}`;
  const errors = measured.reduce((n, x) => n + x.m.errors, 0) + cold.reduce((n, x) => n + x.o.errors, 0);
  // A target passes when every round meets it (the worse round decides). A part left out with
  // --peer-parts measured nothing, so its targets are left out of the verdict, not printed as MISS.
  const atLeast = (name: string, r: number[], want: number): TargetCheck | undefined =>
    r.length === 0
      ? undefined
      : { name, target: `>= ${want}x Istio's CA`, measured: `${range(r)}x`, pass: Math.min(...r) >= want };
  const atMost = (name: string, r: number[], want: number): TargetCheck | undefined =>
    r.length === 0
      ? undefined
      : {
          name,
          target: want === 1 ? "<= Istio's CA" : `<= ${want}x Istio's CA`,
          measured: `${range(r)}x`,
          pass: Math.max(...r) <= want,
        };
  const targets = [
    atLeast(
      "peer: req/s, server pinned to one core",
      ratios("pinned", (m) => m.requestsPerSecond),
      TARGETS.pinnedRps,
    ),
    atLeast(
      "peer: req/s, two cores shared with ghz",
      ratios("shared", (m) => m.requestsPerSecond),
      TARGETS.sharedRps,
    ),
    atMost(
      "peer: p99, server pinned",
      ratios("pinned", (m) => m.p99Ms),
      1,
    ),
    atMost(
      "peer: p99, cores shared",
      ratios("shared", (m) => m.p99Ms),
      1,
    ),
    atMost(
      "peer: peak RSS, default configuration (cores shared)",
      ratios("shared", (m) => m.peakRss),
      TARGETS.rss,
    ),
    atMost(
      "peer: server CPU per request (cores shared)",
      ratios("shared", (m) => m.serverCpuPerRequestUs),
      TARGETS.cpuPerRequest,
    ),
    atLeast("peer: req/s, a new TLS connection per request", coldRatios, TARGETS.coldRps),
    { name: "peer: errors", target: "0", measured: String(errors), pass: errors === 0 },
  ].filter((t): t is TargetCheck => t !== undefined);
  return {
    title: "meshsign next to Istio's own CA (ghz, same run)",
    table: {
      header: [
        "CPU set-up",
        "round",
        "server",
        "req/s",
        "p50 ms",
        "p99 ms",
        "errors",
        "server CPU/req",
        "load-gen CPU/req",
        "peak RSS (server tree)",
      ],
      rows,
    },
    targets,
    notes: [
      `ghz ${concurrency} calls in flight over ${connections} TLS connections, ${warmup} s warm-up then ${seconds} s measured, ` +
        "RSA-2048 CSRs (64 keys of one identity), one RS256 service-account token verified against the same JWKS by both servers " +
        `(meshsign reads the file, Istio's JWT authenticator fetched it over HTTP ${jwksFetches} time(s) in all). ` +
        `Each server started fresh for each row in its default configuration: meshsign \`serve\` ${workersNote} ` +
        "Istio's CA as istiod runs it " +
        "(Go, GOMAXPROCS = usable cores). Rounds alternate which server goes first.",
      "Server CPU per request is the server process tree's utime + stime from /proc over the measured run; load-gen CPU " +
        "per request is ghz's (sampled every 100 ms, so slightly low); peak RSS is the summed VmRSS of the server tree " +
        "sampled every 100 ms from the warm-up on.",
      cold.length === 0
        ? "No cold rows: --peer-parts left them out."
        : `Cold rows: grpc-js's client (ghz has no per-request connection mode), ${coldRequestsNote(cold)} on the shared cores, ` +
          "every request on a new TCP + TLS connection; CPU figures include both sides' handshakes.",
      `Ratios (meshsign / Istio's CA, per round): req/s pinned ${range(ratios("pinned", (m) => m.requestsPerSecond))}, ` +
        `shared ${range(ratios("shared", (m) => m.requestsPerSecond))}; p99 pinned ${range(ratios("pinned", (m) => m.p99Ms))}, ` +
        `shared ${range(ratios("shared", (m) => m.p99Ms))}; peak RSS pinned ${range(ratios("pinned", (m) => m.peakRss))}, ` +
        `shared ${range(ratios("shared", (m) => m.peakRss))}; server CPU/req pinned ` +
        `${range(ratios("pinned", (m) => m.serverCpuPerRequestUs))}, shared ${range(ratios("shared", (m) => m.serverCpuPerRequestUs))}; ` +
        `cold req/s ${range(coldRatios)}.`,
    ],
    data: {
      measured,
      cold: cold.map(({ round, server, o }) => ({ round, server, ...o, latenciesMs: undefined })),
    },
  };
}

function coldRequestsNote(cold: readonly ColdMeasured[]): string {
  return `~${f.int(cold[0]?.o.requests ?? 0)} requests per row`;
}
