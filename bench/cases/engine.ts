/**
 * Issue 3's engine case: `meshsign serve --manifests DIR` with N Certificates
 * (default 10,000) from a CA ClusterIssuer on the embedded store. Measures
 * the time until every Secret is published and every Certificate Ready, the
 * steady-state RSS of the server tree, and the CreateCertificate p99 before
 * and while a renewal wave of all N (admin RenewCertificate) runs.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { get } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { AdminClient } from "../lib/admin-client.js";
import { certificateName, ENGINE_NAMESPACE, writeEngineManifests } from "../lib/engine-manifests.js";
import * as f from "../lib/format.js";
import { type LoadOutcome, runLoad } from "../lib/load.js";
import type { LoadJob } from "../lib/load-protocol.js";
import { errorNote, LOAD_HEADER, loadRow, rssBreakdown } from "../lib/load-rows.js";
import { startMeshsign } from "../lib/meshsign.js";
import { RssSampler } from "../lib/proc.js";
import { buildWorkload } from "../lib/workload.js";
import type { BenchCase, BenchContext, CaseReport } from "./types.js";

/** Issue 3, "Benchmark": on a 2-core machine. */
export const ENGINE_TARGETS = { allReadySeconds: 60, steadyRssBytes: 400 * 2 ** 20 } as const;
/** Bounds of the two waits, so the case always ends. */
const ISSUE_TIMEOUT_MS = 240_000;
const WAVE_TIMEOUT_MS = 240_000;
const STEADY_SAMPLE_MS = 10_000;
/**
 * Idle time after the last Certificate is Ready before the steady-state window opens. The
 * issuance's tail (status writes, the last full GCs) and V8's memory reducer, which returns the
 * committed heap once allocation has stopped, take ~10-25 s on a 2-core machine, longer on a slower
 * one; a minute leaves them done on both. The RSS of this minute is reported too.
 */
const STEADY_SETTLE_MS = 60_000;
const RENEW_CONCURRENCY = 16;

export const engineCase: BenchCase = {
  name: "engine",
  summary: "Certificate engine: N Certificates Ready, steady RSS, CSR p99 during a renewal wave",
  inDefaultRun: false,
  run: async (ctx: BenchContext): Promise<CaseReport> => {
    const { options } = ctx;
    const n = options.engineCertificates;
    const work = mkdtempSync(path.join(tmpdir(), "meshsign-bench-engine-"));
    const manifests = path.join(work, "manifests");
    writeEngineManifests(manifests, n);
    ctx.log(`engine: ${n} Certificates in ${manifests}; starting meshsign serve --manifests`);
    const t0 = performance.now();
    const server = await startMeshsign({
      repoRoot: ctx.serverRoot,
      workers: options.workers,
      // The CreateCertificate load's few identities each ask many times a second, which no workload does:
      // the case measures issuance beside the engine, not the per-identity limit (as every other case).
      extraArgs: ["--manifests", manifests, "--identity-rate-limit", "0"],
      nodeArgs: [...options.serverNodeArgs, ...(options.profileDir ? ["--cpu-prof", "--cpu-prof-dir", path.resolve(options.profileDir)] : [])],
      // The serving certificate may be queued behind the manifests' Certificates.
      startTimeoutMs: ISSUE_TIMEOUT_MS,
      ...(options.serverLog ? { logFile: path.resolve(options.serverLog) } : {}),
    });
    const startedMs = performance.now() - t0;
    const secretsDir = path.join(server.dataDir, "secrets", ENGINE_NAMESPACE);
    const admin = new AdminClient(
      server.adminAddress,
      server.rootsPem,
      readFileSync(path.join(server.dataDir, "admin-token"), "utf8").trim(),
    );
    try {
      // 1. Issuance: every Secret published.
      const issueRss = new RssSampler(server.pid, 500);
      const issued = await waitFor(
        () => countSecrets(secretsDir, 0),
        n,
        ISSUE_TIMEOUT_MS,
        (c) => ctx.log(`engine: ${c}/${n} Secrets published`),
      );
      const publishedMs = performance.now() - t0;
      // Ready follows the Secret; the metrics say when the last condition was written.
      let ready = await readyCount(server.metricsPort);
      while (ready < issued && performance.now() - t0 < ISSUE_TIMEOUT_MS) {
        await new Promise((r) => setTimeout(r, 1000));
        ready = await readyCount(server.metricsPort);
      }
      const issueMs = performance.now() - t0;
      const issueMemory = issueRss.stop();
      ctx.log(
        `engine: ${issued}/${n} Secrets after ${(publishedMs / 1000).toFixed(1)} s; ${ready} Certificates Ready=True after ${(issueMs / 1000).toFixed(1)} s`,
      );

      // 2. Steady state: nothing to do but wait. The first seconds after the last Ready are still the
      // issuance's tail (V8 shrinks the heap after its last full GCs), so the window opens later.
      const settle = new RssSampler(server.pid, 250);
      await new Promise((r) => setTimeout(r, STEADY_SETTLE_MS));
      const settleMemory = settle.stop();
      const steady = new RssSampler(server.pid, 250);
      await new Promise((r) => setTimeout(r, STEADY_SAMPLE_MS));
      const steadyMemory = steady.stop();

      // 3. CreateCertificate alone, then during a renewal wave of every Certificate.
      const target = server.target;
      const items = await buildWorkload({
        tokens: server.tokens,
        keyType: "rsa-2048",
        identities: options.identities,
        keysPerIdentity: 1,
      });
      const job = (durationMs: number): LoadJob => ({
        target,
        call: "create-certificate",
        items,
        connection: "reused",
        channels: options.channels,
        inFlightPerChannel: 1,
        warmupMs: 1000,
        durationMs,
        maxRequests: Number.MAX_SAFE_INTEGER,
        deadlineMs: 10_000,
      });
      ctx.log(`engine: CreateCertificate baseline, ${options.channels} in flight`);
      const baseline = await runLoad(job(5000), { serverPid: server.pid, clients: options.clients });

      ctx.log(`engine: renewal wave of ${issued} Certificates under CreateCertificate load`);
      const waveStart = Date.now();
      const stop = new AbortController();
      const load = runLoad(job(WAVE_TIMEOUT_MS), {
        serverPid: server.pid,
        clients: options.clients,
        signal: stop.signal,
      });
      // Let the load's warm-up pass, so the window covers the wave.
      await new Promise((r) => setTimeout(r, 1200));
      const waveT0 = performance.now();
      const renewErrors = await renewAll(admin, issued);
      const submittedMs = performance.now() - waveT0;
      const renewed = await waitFor(
        () => countSecrets(secretsDir, waveStart),
        issued,
        WAVE_TIMEOUT_MS - submittedMs,
        (c) => ctx.log(`engine: ${c}/${issued} renewed`),
      );
      const waveMs = performance.now() - waveT0;
      stop.abort();
      const during: LoadOutcome = await load;
      ctx.log(
        `engine: wave of ${renewed} in ${(waveMs / 1000).toFixed(1)} s; CreateCertificate p99 ${f.ms(baseline.latency.p99Ms)} ms before, ${f.ms(during.latency.p99Ms)} ms during`,
      );

      const allReadyS = ready >= n ? issueMs / 1000 : Number.POSITIVE_INFINITY;
      const steadyRss = steadyMemory.peakRss;
      return {
        title: `Certificate engine: ${f.int(n)} Certificates from a CA ClusterIssuer on the embedded store`,
        table: {
          header: ["measure", "value"],
          rows: [
            [
              "process start to banner and /readyz 200 (readiness includes the engine)",
              `${(startedMs / 1000).toFixed(1)} s`,
            ],
            [
              "Secrets published (from process start)",
              `${f.int(issued)} / ${f.int(n)} in ${(publishedMs / 1000).toFixed(1)} s (${f.int((issued * 1000) / Math.max(1, publishedMs))} per s)`,
            ],
            [
              "Certificates Ready=True (from process start, metrics polled every 1 s)",
              `${f.int(ready)} / ${f.int(n)} in ${(issueMs / 1000).toFixed(1)} s`,
            ],
            ["peak RSS during issuance", `${f.mb(issueMemory.peakRss)} (${issueMemory.processes} proc)`],
            [
              `peak RSS in the ${STEADY_SETTLE_MS / 1000} s after all were Ready (the issuance's tail, until V8 returns the heap)`,
              `${f.mb(settleMemory.peakRss)}; ${rssBreakdown(settleMemory)}`,
            ],
            [
              `steady-state RSS (peak over ${STEADY_SAMPLE_MS / 1000} s idle, from ${STEADY_SETTLE_MS / 1000} s after all were Ready)`,
              `${f.mb(steadyRss)}; ${rssBreakdown(steadyMemory)}`,
            ],
            [
              "renewal wave",
              `${f.int(renewed)} / ${f.int(issued)} renewed in ${(waveMs / 1000).toFixed(1)} s (requests submitted in ${(submittedMs / 1000).toFixed(1)} s, ${renewErrors} refused)`,
            ],
          ],
        },
        targets: [
          {
            name: `all ${f.int(n)} Certificates Ready`,
            target: `< ${ENGINE_TARGETS.allReadySeconds} s`,
            measured: Number.isFinite(allReadyS)
              ? `${allReadyS.toFixed(1)} s`
              : `${ready} of ${n} in ${ISSUE_TIMEOUT_MS / 1000} s`,
            pass: allReadyS < ENGINE_TARGETS.allReadySeconds,
          },
          {
            name: "steady-state RSS with the engine",
            target: `< ${f.mb(ENGINE_TARGETS.steadyRssBytes)}`,
            measured: f.mb(steadyRss),
            pass: steadyRss < ENGINE_TARGETS.steadyRssBytes,
          },
          {
            name: "renewal wave absorbed",
            target: `${f.int(issued)} renewed`,
            measured: f.int(renewed),
            pass: renewed >= issued && renewErrors === 0,
          },
          {
            name: "CreateCertificate errors during the wave",
            target: "0",
            measured: String(during.errors),
            pass: during.errors === 0,
          },
        ],
        notes: [
          `Leaf Certificates: ECDSA P-256 keys generated by the engine (RSA key generation alone would take minutes for ${f.int(n)}), one DNS and one URI SAN, ` +
            "issued by a CA ClusterIssuer whose root is itself a Certificate from a SelfSigned ClusterIssuer. Progress is read from the Secret files under " +
            "<data-dir>/secrets; Ready is confirmed from certmanager_certificate_ready_status once all are published.",
          `CreateCertificate (RSA-2048 CSRs, ${options.channels} channels x 1 in flight) before and during the renewal wave (every Certificate renewed through the admin API's RenewCertificate, ${RENEW_CONCURRENCY} calls at once):`,
          renderLoadTable(baseline, during),
          ...errorNote(during, "during the wave"),
        ],
        data: {
          n,
          startedMs,
          issued,
          publishedMs,
          issueMs,
          ready,
          issueMemory,
          settleMemory,
          steadyMemory,
          renewed,
          waveMs,
          submittedMs,
          renewErrors,
          baseline,
          during,
        },
      };
    } finally {
      admin.close();
      await server.stop();
      rmSync(work, { recursive: true, force: true });
    }
  },
};

function renderLoadTable(baseline: LoadOutcome, during: LoadOutcome): string {
  const rows = [
    loadRow("CreateCertificate alone", baseline),
    loadRow("CreateCertificate during the wave", during),
  ];
  return [
    `| ${LOAD_HEADER.join(" | ")} |`,
    `|${LOAD_HEADER.map(() => " --- ").join("|")}|`,
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");
}

/** Secret directories with a tls.crt written at or after `sinceMs`. */
function countSecrets(dir: string, sinceMs: number): number {
  if (!existsSync(dir)) return 0;
  let count = 0;
  for (const name of readdirSync(dir)) {
    try {
      if (statSync(path.join(dir, name, "tls.crt")).mtimeMs >= sinceMs) count++;
    } catch {
      // not written yet
    }
  }
  return count;
}

async function waitFor(
  count: () => number,
  want: number,
  timeoutMs: number,
  progress: (c: number) => void,
): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  let last = -1;
  let lastLog = 0;
  for (;;) {
    const c = count();
    if (c >= want || performance.now() > deadline) return c;
    if (c !== last && performance.now() - lastLog > 10_000) {
      progress(c);
      lastLog = performance.now();
    }
    last = c;
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function renewAll(admin: AdminClient, n: number): Promise<number> {
  let next = 0;
  let errors = 0;
  const lane = async () => {
    while (next < n) {
      const i = next++;
      try {
        await admin.call("RenewCertificate", {
          certificate: { namespace: ENGINE_NAMESPACE, name: certificateName(i) },
        });
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: RENEW_CONCURRENCY }, lane));
  return errors;
}

/** Certificates in the bench namespace whose Ready condition is True, from one /metrics scrape. */
function readyCount(port: number): Promise<number> {
  return new Promise((resolve) => {
    get({ host: "127.0.0.1", port, path: "/metrics", timeout: 60_000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        body += c;
      });
      res.on("end", () => {
        let n = 0;
        for (const line of body.split("\n")) {
          if (
            line.startsWith("certmanager_certificate_ready_status{") &&
            line.includes(`namespace="${ENGINE_NAMESPACE}"`) &&
            line.includes('condition="True"') &&
            line.endsWith(" 1")
          )
            n++;
        }
        resolve(n);
      });
    }).on("error", () => resolve(-1));
  });
}
