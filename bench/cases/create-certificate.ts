/**
 * CreateCertificate with connections reused, as a mesh of running sidecars
 * renewing: `channels` grpc-js channels with `concurrency / channels`
 * requests in flight each, RSA-2048 and ECDSA P-256 CSR pools, JWKS auth of
 * cluster-shaped RS256 tokens,
 * against `meshsign serve` with its default ECDSA P-256 CA. Judges issue 2's
 * targets on the RSA-2048 run.
 */
import * as f from "../lib/format.js";
import { type LoadOutcome, reusedLoadJob, runLoad } from "../lib/load.js";
import { errorNote, LOAD_HEADER, loadRow, rssBreakdown, serverOnlyCeiling } from "../lib/load-rows.js";
import { checkOneIssuance } from "../lib/sanity.js";
import { readServer, type ServerReading, type ServerWindow, serverWindow } from "../lib/server-latency.js";
import { buildWorkload, type CsrKeyType } from "../lib/workload.js";
import type { BenchCase, BenchContext, CaseReport, TargetCheck } from "./types.js";

/** Issue 2, "Hot path and benchmark": on a 2-core machine. */
export const TARGETS = { requestsPerSecond: 3000, p99Ms: 25, rssBytes: 300 * 2 ** 20 } as const;

const KEY_TYPES: readonly CsrKeyType[] = ["rsa-2048", "ecdsa-p256"];

export const createCertificateCase: BenchCase = {
  name: "create-certificate",
  summary: "CreateCertificate, reused connections, RSA-2048 and ECDSA P-256 CSRs",
  inDefaultRun: true,
  run: async (ctx: BenchContext): Promise<CaseReport> => {
    const { options } = ctx;
    const server = await ctx.meshsign();
    const target = server.target;
    const outcomes = new Map<CsrKeyType, LoadOutcome>();
    const seen = new Map<CsrKeyType, ServerWindow>();
    for (const keyType of KEY_TYPES) {
      ctx.log(
        `create-certificate ${keyType}: generating ${options.identities * options.keysPerIdentity} keys and CSRs, minting ${options.identities} tokens`,
      );
      const items = await buildWorkload({
        tokens: server.tokens,
        keyType,
        identities: options.identities,
        keysPerIdentity: options.keysPerIdentity,
      });
      await checkOneIssuance(target, items[0] as (typeof items)[number]);
      ctx.log(
        `create-certificate ${keyType}: ${options.channels} channels x ${options.concurrency / options.channels} in flight, ${options.warmupSeconds}s warm-up + ${options.durationSeconds}s`,
      );
      let windowStart: Promise<ServerReading> | undefined;
      const outcome = await runLoad(reusedLoadJob(options, target, "create-certificate", items), {
        serverPid: server.pid,
        clients: options.clients,
        onMeasuring: () => {
          windowStart = readServer(server.metricsPort);
        },
      });
      outcomes.set(keyType, outcome);
      // The window closes a little after the last request is counted; the few calls the load
      // generator still had in flight then are in the server's figures too.
      if (windowStart)
        seen.set(keyType, serverWindow(await windowStart, await readServer(server.metricsPort)));
      ctx.log(
        `create-certificate ${keyType}: ${f.int(outcome.requestsPerSecond)} req/s, p99 ${f.ms(outcome.latency.p99Ms)} ms, ${outcome.errors} errors`,
      );
    }
    const rsa = outcomes.get("rsa-2048") as LoadOutcome;
    const rss = Math.max(...[...outcomes.values()].map((o) => o.rss.peak));
    const targets: TargetCheck[] = [
      {
        name: "throughput (RSA-2048 CSRs, ECDSA CA)",
        target: `>= ${f.int(TARGETS.requestsPerSecond)} req/s`,
        measured: `${f.int(rsa.requestsPerSecond)} req/s`,
        pass: rsa.requestsPerSecond >= TARGETS.requestsPerSecond,
      },
      {
        name: `p99 latency at ${options.concurrency} in flight`,
        target: `< ${TARGETS.p99Ms} ms`,
        measured: `${f.ms(rsa.latency.p99Ms)} ms`,
        pass: rsa.latency.p99Ms < TARGETS.p99Ms,
      },
      {
        name: "peak RSS of the meshsign process tree",
        target: `< ${f.mb(TARGETS.rssBytes)}`,
        measured: f.mb(rss),
        pass: rss < TARGETS.rssBytes,
      },
      {
        name: "errors",
        target: "0",
        measured: String(rsa.errors + (outcomes.get("ecdsa-p256")?.errors ?? 0)),
        pass: [...outcomes.values()].every((o) => o.errors === 0),
      },
    ];
    const cores = ctx.options.workers;
    return {
      title: `CreateCertificate, connections reused (${options.channels} channels x ${options.concurrency / options.channels} in flight = ${options.concurrency})`,
      table: {
        header: LOAD_HEADER,
        rows: KEY_TYPES.map((k) => loadRow(`${k} CSRs`, outcomes.get(k) as LoadOutcome)),
      },
      targets,
      notes: [
        `meshsign serve --workers ${server.workers}, ECDSA P-256 root CA, standalone in earnest: dev token issuer off, JWKS authenticator on a JWKS file ` +
          "trusting an RSA-2048 key that signs RS256 projected service-account tokens as kube-apiserver does (bench/lib/cluster-tokens.ts; " +
          "a dev-issuer ES256 token costs ~45 us more to verify, see the crypto ceiling). " +
          `CSR pools: ${options.identities} identities x ${options.keysPerIdentity} keys, one token per identity, all made before timing. ` +
          `${options.warmupSeconds} s warm-up, then ${options.durationSeconds} s measured; latency is measured by the client, from the call to the answer.`,
        `Server CPU per request translated to the server alone on ${cores} cores: ` +
          KEY_TYPES.map(
            (k) => `${k} ${f.int(serverOnlyCeiling(outcomes.get(k) as LoadOutcome, cores))} req/s`,
          ).join(", ") +
          " (an estimate of what the server could do without the load generator beside it).",
        `Peak RSS by process (root = the primary, node children = cluster workers; an esbuild process, when listed, is tsx's transformer: from a source checkout bin/meshsign.js runs the TypeScript through tsx): ` +
          KEY_TYPES.map((k) => `${k}: ${rssBreakdown((outcomes.get(k) as LoadOutcome).rss)}`).join("; ") +
          ".",
        `Where the time went: meshsign's own handler latency (histogram meshsign_csr_request_duration_seconds, from the handler's start to its answer, over the same window) against the client's: ` +
          KEY_TYPES.map((k) => {
            const h = seen.get(k)?.handler;
            const o = outcomes.get(k) as LoadOutcome;
            return h
              ? `${k}: handler p50 ${f.ms(h.p50Ms)} / p99 ${f.ms(h.p99Ms)} ms (${(h.within1Ms * 100).toFixed(0)}% within 1 ms, ${(h.within5Ms * 100).toFixed(0)}% within 5 ms) vs client p50 ${f.ms(o.latency.p50Ms)} / p99 ${f.ms(o.latency.p99Ms)} ms`
              : `${k}: not read`;
          }).join("; ") +
          ". The difference is time spent before the handler runs or after it answers: in socket buffers, HTTP/2 framing, an event loop busy with other requests, a process waiting for a core.",
        `Stop-the-world GC pauses over the same window (every request in flight in a paused process waits them out): ` +
          KEY_TYPES.map((k) =>
            gcNote(k, outcomes.get(k) as LoadOutcome, seen.get(k), server.workers ?? options.workers),
          ).join("; ") +
          ".",
        ...KEY_TYPES.flatMap((k) => errorNote(outcomes.get(k) as LoadOutcome, k)),
      ],
      data: Object.fromEntries([...outcomes].map(([k, o]) => [k, { ...o, latency: o.latency }])),
    };
  },
};

/** "load generator 1,270 ms (14% of the window; 114 pauses, longest 16.3 ms), meshsign 1,540 ms (8.6% of each of 2 workers' window)". */
function gcNote(keyType: string, o: LoadOutcome, server: ServerWindow | undefined, workers: number): string {
  const share = (ms: number, of: number) => `${((ms / of) * 100).toFixed(1)}%`;
  const client = o.clientGc;
  const loadGen = `load generator ${f.int(client.totalMs)} ms (${share(client.totalMs, o.windowMs)} of the window; ${f.int(client.count)} pauses, longest ${f.ms(client.maxMs)} ms)`;
  if (!server) return `${keyType}: ${loadGen}, meshsign not read`;
  const processes = Math.max(1, workers);
  return `${keyType}: ${loadGen}, meshsign ${f.int(server.gc.totalMs)} ms in ${f.int(server.gc.count)} pauses (${share(server.gc.totalMs, o.windowMs * processes)} of the window of each of its ${processes} serving process(es))`;
}
