/**
 * ACME issuance end to end: `meshsign serve --manifests` with an ACME
 * ClusterIssuer against Pebble (`PEBBLE_VA_NOSLEEP=1`) and N Certificates.
 *
 * - `acme`: HTTP-01 answered by meshsign's own solver listener on Pebble's
 *   httpPort; pebble-challtestsrv answers A 127.0.0.1 for every name. N is
 *   `MESHSIGN_BENCH_ACME_CERTIFICATES` (default 200).
 * - `acme-dns01`: wildcard Certificates, DNS-01 through the RFC 2136 solver
 *   into a knotd that is also Pebble's DNS server. meshsign's only
 *   propagation-check resolver is a proxy in front of knotd that lags behind
 *   it (bench/lib/dns-lag-proxy.ts), as a real provider's propagation does, so
 *   every Challenge waits; the target is that the waits overlap (no Challenge
 *   waits on another's). N is `MESHSIGN_BENCH_ACME_DNS01_CERTIFICATES`
 *   (default 100), the lag `MESHSIGN_BENCH_ACME_DNS01_PROPAGATION_DELAY`
 *   seconds (default 5; 0 asks knotd directly and judges nothing).
 *
 * Measures the wall time from meshsign's start to every Certificate Ready,
 * the peak Orders and Challenges in flight (read from meshsign's store), the
 * CPU meshsign and the servers it talks to spent (from /proc), and meshsign's
 * peak RSS. Runs test/acme/setup.sh first (Pebble; seconds when cached), and
 * test/dns/setup.sh (knotd) for `acme-dns01`.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { CERTIFICATES, CHALLENGES, type Challenge, ORDERS, type Order } from "../../src/api/types.js";
import type { Certificate } from "../../src/engine/lib/api.js";
import { openEmbeddedStore } from "../../src/store/embedded/index.js";
import { type Pebble, startPebble } from "../../test/acme/harness.js";
import { freePort } from "../../test/lib/ports.js";
import { type Knot, startKnot } from "../../test/dns/harness/knot.js";
import { type DnsLagProxy, peakOverlap, startDnsLagProxy } from "../lib/dns-lag-proxy.js";
import * as f from "../lib/format.js";
import { buildGoTools } from "../lib/go-tool.js";
import { type MeshsignProcess, startMeshsign } from "../lib/meshsign.js";
import { cpuMs, RssSampler } from "../lib/proc.js";
import type { BenchCase, BenchContext, CaseReport, TargetCheck } from "./types.js";

const NAMESPACE = "bench-acme";
/** How long every Certificate may take to be Ready before the case gives up (a loaded machine is slow). */
const READY_TIMEOUT_MS = 30 * 60_000;
const POLL_MS = 500;
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

function certificate(i: number, dnsName: string): string {
  return `apiVersion: cert-manager.io/v1
kind: Certificate
metadata: { name: c-${i}, namespace: ${NAMESPACE} }
spec:
  secretName: c-${i}-tls
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

async function runAcme(ctx: BenchContext, v: Variant): Promise<CaseReport> {
  const count = certificateCount(v.envVar, v.defaultCount);
  const dir = mkdtempSync(path.join(tmpdir(), `meshsign-bench-${v.name}-`));
  let setup: Setup | undefined;
  let server: MeshsignProcess | undefined;
  try {
    setup = await v.setup(ctx, count);
    writeFileSync(path.join(dir, "acme.yaml"), setup.manifests);
    const peersBefore = setup.peers.map((p) => cpuMs(p.pid));
    ctx.log(`${v.name}: starting meshsign serve --workers 1 --manifests with ${count} Certificates`);
    const t0 = performance.now();
    server = await startMeshsign({
      repoRoot: ctx.serverRoot,
      workers: 1,
      extraArgs: ["--manifests", dir, "--serving-certificate-dns-names", "localhost", ...setup.serveArgs],
      nodeArgs: ctx.options.profileDir
        ? ["--cpu-prof", "--cpu-prof-dir", path.resolve(ctx.options.profileDir)]
        : [],
    });
    const startupCpu = cpuMs(server.pid);
    const rss = new RssSampler(server.pid);
    let peakOrders = 0;
    let peakChallenges = 0;
    let last: Progress = { ready: 0, ordersInFlight: 0, challengesInFlight: 0, orders: 0, challenges: 0 };
    let lastLogged = 0;
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      last = await progress(server.dataDir).catch(() => last);
      peakOrders = Math.max(peakOrders, last.ordersInFlight);
      peakChallenges = Math.max(peakChallenges, last.challengesInFlight);
      if (last.ready >= count) break;
      if (Date.now() > deadline)
        throw new Error(
          `${last.ready} of ${count} Certificates Ready after ${READY_TIMEOUT_MS / 60_000} min`,
        );
      if (Date.now() - lastLogged > 10_000) {
        lastLogged = Date.now();
        ctx.log(
          `${v.name}: ${last.ready}/${count} Ready, ${last.ordersInFlight} orders and ${last.challengesInFlight} challenges in flight`,
        );
      }
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
    const wallSeconds = (performance.now() - t0) / 1000;
    // Without meshsign's start-up (module loading, CA, listeners) before its banner.
    const meshsignCpu = cpuMs(server.pid) - startupCpu;
    const peerCpu = setup.peers.map((p, i) => cpuMs(p.pid) - (peersBefore[i] ?? 0));
    const mem = rss.stop();
    const total = meshsignCpu + peerCpu.reduce((a, b) => a + b, 0);
    const extra = setup.finish(wallSeconds);
    ctx.log(`${v.name}: ${count} Ready in ${wallSeconds.toFixed(1)} s, ${last.orders} orders`);
    const requests = await acmeRequests(server.metricsPort).catch(() => undefined);
    if (requests !== undefined) {
      const all = [...requests.values()].reduce((a, b) => a + b, 0);
      const each = [...requests].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${(n / count).toFixed(2)}`);
      ctx.log(`${v.name}: ACME requests per certificate ${(all / count).toFixed(2)}: ${each.join(", ")}`);
    }
    const perCert = (ms: number) => `${f.ms(ms / count)} ms`;
    // The engine must never be the bottleneck: meshsign's CPU per certificate at most the CA's.
    const pebble = setup.peers.findIndex((p) => p.label === "Pebble");
    const pebbleCpu = peerCpu[pebble] ?? 0;
    const targets: TargetCheck[] =
      pebble < 0
        ? []
        : [
            {
              name: `${v.name}: meshsign CPU per certificate over Pebble's (meshsign's share ${f.pct(meshsignCpu, total)})`,
              target: "<= 1.00x",
              measured: `${(meshsignCpu / Math.max(pebbleCpu, 1e-9)).toFixed(2)}x (${perCert(meshsignCpu)} vs ${perCert(pebbleCpu)})`,
              pass: meshsignCpu <= pebbleCpu,
            },
          ];
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
          ...setup.peers.map((p) => `${p.label} CPU/cert`),
          "meshsign CPU share",
          "meshsign peak RSS",
          ...extra.header,
        ],
        rows: [
          [
            String(count),
            `${wallSeconds.toFixed(1)} s`,
            (count / wallSeconds).toFixed(1),
            String(peakOrders),
            String(peakChallenges),
            perCert(meshsignCpu),
            ...peerCpu.map(perCert),
            f.pct(meshsignCpu, total),
            f.mb(mem.peakRss),
            ...extra.row,
          ],
        ],
      },
      targets: [...targets, ...(extra.targets ?? [])],
      notes: [
        `meshsign serve --workers 1 --manifests holding one ACME ClusterIssuer and ${count} Certificates (one DNS name each, ECDSA P-256 keys), started with the ACME side already up; "all Ready" is from spawning meshsign to the last Certificate Ready in its store (polled every ${POLL_MS} ms, so it includes meshsign's start-up). ` +
          "Pebble runs with PEBBLE_VA_NOSLEEP=1, fresh authorizations for every order (PEBBLE_AUTHZREUSE=0), Retry-After 1 s and its default 5% bad-nonce rejection.",
        `CPU is utime + stime from /proc: the ACME side's over the whole window, meshsign's from its banner to the last Ready (its start-up before the banner, ${f.ms(startupCpu)} ms, left out); the share is meshsign's of all the processes measured. Orders and Challenges in flight are those not yet in a final state, sampled from the store; ${last.orders} Orders were made in all.`,
        ...extra.notes,
      ],
      data: {
        count,
        wallSeconds,
        peakOrders,
        peakChallenges,
        orders: last.orders,
        challenges: last.challenges,
        meshsignCpuMs: meshsignCpu,
        meshsignStartupCpuMs: startupCpu,
        peers: setup.peers.map((p, i) => ({ label: p.label, cpuMs: peerCpu[i] })),
        memory: mem,
        extra: extra.data,
      },
    };
  } finally {
    await server?.stop();
    await setup?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const http01: Variant = {
  name: "acme",
  summary: "Certificates issued through an ACME ClusterIssuer against Pebble, HTTP-01",
  envVar: "MESHSIGN_BENCH_ACME_CERTIFICATES",
  defaultCount: 200,
  title: (count) =>
    `${count} Certificates through an ACME ClusterIssuer (Pebble, HTTP-01 on meshsign's solver listener)`,
  setup: async (ctx, count) => {
    buildGoTools(path.join(ctx.repoRoot, "test/acme/setup.sh"), []);
    const solverPort = await freePort();
    ctx.log("acme: starting Pebble and pebble-challtestsrv");
    const pebble = await startPebble({ httpPort: solverPort });
    const certs = Array.from({ length: count }, (_, i) => certificate(i, `c-${i}.bench.example.com`));
    return {
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
      finish: () => ({
        header: [],
        row: [],
        notes: [
          "pebble-challtestsrv answers A 127.0.0.1 for every name (Pebble's DNS); the solver has waitInsteadOfSelfCheck: 0s since those names resolve nowhere else.",
        ],
        data: {},
      }),
      stop: () => pebble.stop(),
    };
  },
};

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
  run: (ctx) => runAcme(ctx, http01),
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
    const labels = Object.fromEntries([...(m[1] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    const key = `${labels.method} ${labels.path}`;
    counts.set(key, (counts.get(key) ?? 0) + Number(m[2]));
  }
  return counts;
}
