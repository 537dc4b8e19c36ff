/**
 * CreateCertificate in Kubernetes mode under the peer case's ghz load: the test kube-apiserver +
 * etcd of test/kube/harness.ts, meshsign `serve --mode kubernetes` against it as its own
 * ServiceAccount under manifests/ RBAC, authenticating callers with TokenReview, and real
 * projected tokens from TokenRequest (audience istio-ca, bound to a Pod object). Three rows in one
 * run, on the two shared cores, all under ghz's load:
 *
 * - standalone: meshsign verifying RS256 tokens against a JWKS file, ghz, one token (the figure
 *   the Kubernetes rows are judged against);
 * - Kubernetes, one token per identity: ghz, the same token on every call (ghz sends one metadata
 *   object), so meshsign's TokenReview cache answers all but the first;
 * - Kubernetes, a fresh token per request: `ghz-tokens` (bench/peer/ghz/tokens: ghz's own runner
 *   library, the same load, with request n carrying token n; the ghz command sends one metadata
 *   object with every call) sends each of N freshly minted tokens once, so every call costs a
 *   TokenReview. The two Kubernetes rows differ by the reviews alone.
 *
 * Reports meshsign's CPU per request, the API server's and etcd's (from /proc over the measured
 * window) and the API server's requests per certificate (the delta of `apiserver_request_total`).
 */

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { NAMESPACES } from "../../src/api/types.js";
import { KubeStore } from "../../src/store/kube/index.js";
import { type KubeApiServer, kubeconfig, startKubeApiServer } from "../../test/kube/harness.js";
import { installCrds } from "../../test/kube/lib/crds.js";
import { applyObjects, renderManifests } from "../../test/kube/lib/manifests.js";
import * as f from "../lib/format.js";
import {
  type GhzMeasurement,
  measureWithGhz,
  runGhz,
  writeGhzTokensWorkload,
  writeGhzWorkload,
} from "../lib/ghz.js";
import { buildGoTools, goToolPath } from "../lib/go-tool.js";
import { controlPlanePids, type RequestCounts, requestCounts } from "../lib/kube-apiserver-stats.js";
import { KubeTokenMinter } from "../lib/kube-tokens.js";
import type { LoadItem } from "../lib/load-protocol.js";
import { type MeshsignProcess, startMeshsign } from "../lib/meshsign.js";
import { cpuMs } from "../lib/proc.js";
import { buildWorkload } from "../lib/workload.js";
import type { BenchCase, BenchContext, CaseReport, TargetCheck } from "./types.js";

/** The target: Kubernetes mode's CPU per request over standalone's, tokens repeating. */
const TARGET_CPU_RATIO = 1.5;
const NAMESPACE = "bench";
/** Identities of the fresh-token variant; each token is minted for one of them in turn. */
const FRESH_IDENTITIES = 8;
/** Tokens minted for the fresh-token variant: its window ends when they are used up (~5-10 s here). */
const FRESH_TOKENS = 5000;
/** Generous: a start on a core shared with other work can take a minute. */
const START_TIMEOUT_MS = 180_000;

/** What the control plane spent over a measured window. */
interface ControlPlaneCost {
  readonly apiserverCpuMs: number;
  readonly etcdCpuMs: number;
  readonly requests: number;
  readonly tokenReviews: number;
}

interface Row {
  readonly label: string;
  /** `ghz`, or `ghz-tokens` (ghz's runner with one token per request). */
  readonly loadGenerator: "ghz" | "ghz-tokens";
  readonly requests: number;
  readonly errors: number;
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly meshsignCpuMs: number;
  readonly control?: ControlPlaneCost;
}

/** Snapshots the control plane's CPU and request counters; the returned function gives the deltas. */
async function controlPlaneWindow(api: KubeApiServer): Promise<() => Promise<ControlPlaneCost>> {
  const pids = controlPlanePids();
  const before = {
    apiserver: cpuMs(pids.apiserver),
    etcd: cpuMs(pids.etcd),
    counts: await requestCounts(api),
  };
  return async () => {
    const apiserverCpuMs = cpuMs(pids.apiserver) - before.apiserver;
    const etcdCpuMs = cpuMs(pids.etcd) - before.etcd;
    const after: RequestCounts = await requestCounts(api);
    return {
      apiserverCpuMs,
      etcdCpuMs,
      // Less the closing scrape itself.
      requests: after.all - before.counts.all - 1,
      tokenReviews: after.tokenReviews - before.counts.tokenReviews,
    };
  };
}

function ghzRow(
  label: string,
  m: GhzMeasurement,
  control?: ControlPlaneCost,
  loadGenerator: Row["loadGenerator"] = "ghz",
): Row {
  return {
    label,
    loadGenerator,
    requests: m.requests,
    errors: m.errors,
    requestsPerSecond: m.requestsPerSecond,
    p50Ms: m.p50Ms,
    p99Ms: m.p99Ms,
    meshsignCpuMs: m.serverCpuMs,
    ...(control ? { control } : {}),
  };
}

export const kubeCase: BenchCase = {
  name: "kube",
  summary: "CreateCertificate in Kubernetes mode (TokenReview) next to standalone",
  inDefaultRun: false,
  run: async (ctx: BenchContext): Promise<CaseReport> => {
    const { options } = ctx;
    ctx.log("kube: finding (or building) ghz and the Kubernetes suite's kube-apiserver, etcd and kustomize");
    buildGoTools(path.join(ctx.repoRoot, "bench/peer/setup.sh"), ["ghz", "ghz-tokens"]);
    buildGoTools(path.join(ctx.repoRoot, "test/kube/setup.sh"), ["kube-apiserver", "etcd", "kustomize"]);
    const ghzBinary = goToolPath("ghz");
    const ghzTokensBinary = goToolPath("ghz-tokens");
    const seconds = options.peerSeconds;
    const warmup = options.peerWarmupSeconds;
    const base = mkdtempSync(path.join(tmpdir(), "meshsign-bench-kube-"));
    const protoRoot = path.join(ctx.repoRoot, "proto");
    const ghzOptions = (
      server: MeshsignProcess,
      workloadDir: string,
      items: readonly LoadItem[],
      tokenPerRequest = false,
    ) => {
      mkdirSync(workloadDir, { recursive: true });
      writeFileSync(path.join(workloadDir, "root-cert.pem"), server.rootsPem);
      return {
        binary: tokenPerRequest ? ghzTokensBinary : ghzBinary,
        target: server.target,
        rootCertFile: path.join(workloadDir, "root-cert.pem"),
        workload: tokenPerRequest
          ? writeGhzTokensWorkload(workloadDir, items, protoRoot)
          : writeGhzWorkload(workloadDir, items, protoRoot),
        concurrency: options.concurrency,
        connections: options.channels,
        reportFile: path.join(workloadDir, "ghz-report.json"),
      };
    };
    // --profile DIR: each meshsign under `node --cpu-prof`, standalone's profiles in DIR/standalone and
    // Kubernetes mode's (both of its rows) in DIR/kubernetes.
    const profileArgs = (sub: string): string[] =>
      options.profileDir ? ["--cpu-prof", "--cpu-prof-dir", path.resolve(options.profileDir, sub)] : [];
    const serverFlags = {
      repoRoot: ctx.serverRoot,
      workers: options.workersGiven,
      startTimeoutMs: START_TIMEOUT_MS,
      ...(options.serverLog ? { logFile: path.resolve(options.serverLog) } : {}),
    };
    const rows: Row[] = [];
    let api: KubeApiServer | undefined;
    let admin: KubeStore | undefined;
    let server: MeshsignProcess | undefined;
    try {
      // Standalone first: the same load shape against meshsign verifying the tokens itself.
      ctx.log("kube: standalone meshsign (JWKS), ghz");
      server = await startMeshsign({
        ...serverFlags,
        nodeArgs: [...options.serverNodeArgs, ...profileArgs("standalone")],
        extraArgs: ["--identity-rate-limit", "0"],
      });
      const standaloneItems = await buildWorkload({
        tokens: server.tokens,
        keyType: "rsa-2048",
        identities: 1,
        keysPerIdentity: options.concurrency,
        namespace: NAMESPACE,
      });
      const standalone = await measureWithGhz(
        ghzOptions(server, path.join(base, "standalone"), standaloneItems),
        server.pid,
        warmup,
        seconds,
      );
      rows.push(ghzRow("standalone (JWKS), one token", standalone));
      logRow(ctx, rows.at(-1) as Row);
      await server.stop();
      server = undefined;

      ctx.log("kube: starting kube-apiserver + etcd (test/kube/harness.ts)");
      api = await startKubeApiServer();
      const kc = new KubeConfig();
      kc.loadFromFile(api.kubeconfigPath);
      const core = kc.makeApiClient(CoreV1Api);
      admin = new KubeStore({ kubeConfig: kc, fieldManager: "meshsign-bench" });
      await installCrds(kc);
      // manifests/ give meshsign its namespace, ServiceAccount and RBAC; it runs with that identity.
      await applyObjects(admin, renderManifests("manifests/overlays/istio"));
      for (const name of ["istio-system", NAMESPACE])
        await admin.create(NAMESPACES, { apiVersion: "v1", kind: "Namespace", metadata: { name } });
      const own = await core.createNamespacedServiceAccountToken({
        name: "meshsign",
        namespace: "meshsign-system",
        body: { spec: { audiences: [], expirationSeconds: 7200 } },
      });
      const meshsignKubeconfig = path.join(base, "meshsign.kubeconfig");
      writeFileSync(meshsignKubeconfig, kubeconfig(api.server, api.caPem, own.status?.token ?? ""), {
        mode: 0o600,
      });
      ctx.log("kube: meshsign serve --mode kubernetes (TokenReview)");
      server = await startMeshsign({
        ...serverFlags,
        nodeArgs: [...options.serverNodeArgs, ...profileArgs("kubernetes")],
        authArgs: ["--dev-token-issuer=false", "--token-authenticator", "tokenreview"],
        extraArgs: ["--mode", "kubernetes", "--kubeconfig", meshsignKubeconfig, "--identity-rate-limit", "0"],
        readRoots: async () =>
          (await core.readNamespacedConfigMap({ name: "istio-ca-root-cert", namespace: NAMESPACE })).data?.[
            "root-cert.pem"
          ] ?? "",
      });

      // Variant A: one identity, one token on every call (ghz), 64 RSA-2048 keys.
      const minter = new KubeTokenMinter(core);
      const repeatItems = await buildWorkload({
        tokens: minter,
        keyType: "rsa-2048",
        identities: 1,
        keysPerIdentity: options.concurrency,
        namespace: NAMESPACE,
      });
      const repeatGhz = ghzOptions(server, path.join(base, "repeat"), repeatItems);
      ctx.log(`kube: one token per identity, ghz ${warmup} s warm-up + ${seconds} s`);
      if (warmup > 0) await runGhz(repeatGhz, warmup);
      const repeatWindow = await controlPlaneWindow(api);
      const repeat = await measureWithGhz(repeatGhz, server.pid, 0, seconds);
      rows.push(ghzRow("Kubernetes (TokenReview), one token per identity", repeat, await repeatWindow()));
      logRow(ctx, rows.at(-1) as Row);

      // Variant B: every request a token never seen before, under the same load (ghz's runner);
      // meshsign is warm from variant A, and a warm-up here would spend tokens.
      ctx.log(`kube: minting ${FRESH_TOKENS} tokens through TokenRequest for ${FRESH_IDENTITIES} identities`);
      const freshItems = await freshTokenItems(minter, FRESH_TOKENS);
      ctx.log(`kube: a fresh token per request, ghz-tokens, ${FRESH_TOKENS} requests`);
      const freshGhz = ghzOptions(server, path.join(base, "fresh"), freshItems, true);
      const freshWindow = await controlPlaneWindow(api);
      const fresh = await measureWithGhz(freshGhz, server.pid, 0, seconds);
      rows.push(
        ghzRow("Kubernetes (TokenReview), a fresh token per request", fresh, await freshWindow(), "ghz-tokens"),
      );
      logRow(ctx, rows.at(-1) as Row);
      return report(rows, options.concurrency, options.channels, warmup, seconds);
    } finally {
      await server?.stop();
      await admin?.close();
      await api?.stop();
      rmSync(base, { recursive: true, force: true });
    }
  },
};

/** `count` items, each with its own token; identities take turns, their CSRs are reused. */
async function freshTokenItems(minter: KubeTokenMinter, count: number): Promise<LoadItem[]> {
  // Identity-major: item j names identity load-<j % FRESH_IDENTITIES> (buildWorkload's names).
  const base = await buildWorkload({
    tokens: minter,
    keyType: "rsa-2048",
    identities: FRESH_IDENTITIES,
    keysPerIdentity: 8,
    namespace: NAMESPACE,
  });
  const items: LoadItem[] = new Array(count);
  let next = 0;
  // A few TokenRequests at once, as kubelets of many nodes would ask.
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      for (let i = next++; i < count; i = next++) {
        const j = i % base.length;
        const serviceAccount = `load-${j % FRESH_IDENTITIES}`;
        const token = await minter.mintToken({ namespace: NAMESPACE, serviceAccount });
        items[i] = { csr: (base[j] as LoadItem).csr, token };
      }
    }),
  );
  return items;
}

function perRequestUs(cpuMs: number, row: Row): number {
  return (cpuMs * 1000) / Math.max(1, row.requests - row.errors);
}

function perCertificate(n: number, row: Row): string {
  return (n / Math.max(1, row.requests - row.errors)).toFixed(3);
}

function logRow(ctx: BenchContext, row: Row): void {
  const control = row.control
    ? `, API server ${f.us(perRequestUs(row.control.apiserverCpuMs, row))}/req, ` +
      `${perCertificate(row.control.requests, row)} API requests/cert`
    : "";
  ctx.log(
    `kube ${row.label}: ${f.int(row.requestsPerSecond)} req/s, p99 ${f.ms(row.p99Ms)} ms, ` +
      `meshsign ${f.us(perRequestUs(row.meshsignCpuMs, row))}/req${control}, ${row.errors} errors`,
  );
}

function report(
  rows: readonly Row[],
  concurrency: number,
  connections: number,
  warmup: number,
  seconds: number,
): CaseReport {
  const [standalone, repeat, fresh] = rows as [Row, Row, Row];
  const cpuRatio =
    perRequestUs(repeat.meshsignCpuMs, repeat) / perRequestUs(standalone.meshsignCpuMs, standalone);
  const freshControlUs = fresh.control
    ? perRequestUs(fresh.control.apiserverCpuMs + fresh.control.etcdCpuMs, fresh)
    : Number.NaN;
  const freshMeshsignUs = perRequestUs(fresh.meshsignCpuMs, fresh);
  const reviewUs = freshMeshsignUs - perRequestUs(repeat.meshsignCpuMs, repeat);
  const errors = rows.reduce((n, r) => n + r.errors, 0);
  const targets: TargetCheck[] = [
    {
      name: "kube: meshsign CPU per request, one token per identity, over standalone's",
      target: `<= ${TARGET_CPU_RATIO}x`,
      measured: `${cpuRatio.toFixed(2)}x`,
      pass: cpuRatio <= TARGET_CPU_RATIO,
    },
    {
      name: "kube: a fresh token per request is bounded by TokenReview (API server + etcd CPU/req over meshsign's)",
      target: "> 1x",
      measured: `${(freshControlUs / freshMeshsignUs).toFixed(2)}x`,
      pass: freshControlUs > freshMeshsignUs,
    },
    { name: "kube: errors", target: "0", measured: String(errors), pass: errors === 0 },
  ];
  const dash = "-";
  return {
    title: `CreateCertificate in Kubernetes mode next to standalone (${concurrency} in flight over ${connections} TLS connections)`,
    table: {
      header: [
        "meshsign",
        "load",
        "req/s",
        "p50 ms",
        "p99 ms",
        "errors",
        "meshsign CPU/req",
        "API server CPU/req",
        "etcd CPU/req",
        "API requests/cert",
        "TokenReviews/cert",
      ],
      rows: rows.map((r) => [
        r.label,
        r.loadGenerator,
        f.int(r.requestsPerSecond),
        f.ms(r.p50Ms),
        f.ms(r.p99Ms),
        `${r.errors} / ${f.int(r.requests)}`,
        f.us(perRequestUs(r.meshsignCpuMs, r)),
        r.control ? f.us(perRequestUs(r.control.apiserverCpuMs, r)) : dash,
        r.control ? f.us(perRequestUs(r.control.etcdCpuMs, r)) : dash,
        r.control ? perCertificate(r.control.requests, r) : dash,
        r.control ? perCertificate(r.control.tokenReviews, r) : dash,
      ]),
    },
    targets,
    notes: [
      `RSA-2048 CSRs, ${concurrency} calls in flight over ${connections} reused TLS connections, both cores shared by ` +
        "meshsign (its default configuration), the control plane and the load generator. One-token rows: " +
        `ghz, ${warmup} s warm-up then ${seconds} s measured, one identity with ${concurrency} keys and one token ` +
        "(ghz sends one metadata object with every call). Fresh-token row: ghz-tokens (bench/peer/ghz/tokens, ghz's own " +
        `runner library with request n carrying token n), ${FRESH_TOKENS} tokens minted beforehand through TokenRequest for ` +
        `${FRESH_IDENTITIES} identities, each sent once, no warm-up (meshsign is warm from the row before), ` +
        "the window ends when they are used up.",
      "Kubernetes rows: kube-apiserver and etcd of the Kubernetes test suite (test/kube/setup.sh) on loopback, " +
        "meshsign `serve --mode kubernetes` as its ServiceAccount under manifests/overlays/istio, TokenReview " +
        "authentication with its cache at the defaults (60 s, 10,000 tokens per process), tokens from TokenRequest " +
        "(audience istio-ca, bound to a Pod object). CPU per request from /proc over the measured window; API " +
        "requests per certificate from the delta of the API server's `apiserver_request_total` (all requests " +
        "in the window, meshsign's lease renewals and watches included) over the successful calls.",
      `meshsign CPU per request, Kubernetes mode with one token over standalone: ${cpuRatio.toFixed(2)}x. ` +
        `Fresh tokens: API server + etcd ${f.us(freshControlUs)} per request against meshsign's ${f.us(freshMeshsignUs)}, ` +
        `of which ${f.us(reviewUs)} more than with one token under the same load (what a review costs meshsign).`,
    ],
    data: { rows },
  };
}
