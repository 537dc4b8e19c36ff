/**
 * CreateCertificate where every request opens a new TLS connection, as a
 * starting pod's agent does: new grpc-js channel (TCP, TLS 1.3 handshake
 * against the ECDSA serving certificate, HTTP/2 preface), one call, close.
 * RSA-2048 CSRs, Istio's default key type.
 */
import * as f from "../lib/format.js";
import { runLoad } from "../lib/load.js";
import { errorNote, LOAD_HEADER, loadRow } from "../lib/load-rows.js";
import { buildWorkload } from "../lib/workload.js";
import type { BenchCase, BenchContext, CaseReport } from "./types.js";

/** The measured window never runs longer than this, whatever --cold-requests says. */
const MAX_WINDOW_MS = 30_000;

export const coldConnectionCase: BenchCase = {
  name: "cold-connection",
  summary: "CreateCertificate, a new TLS connection per request",
  inDefaultRun: true,
  run: async (ctx: BenchContext): Promise<CaseReport> => {
    const { options } = ctx;
    const server = await ctx.meshsign();
    const target = server.target;
    const items = await buildWorkload({
      tokens: server.tokens,
      keyType: "rsa-2048",
      identities: options.identities,
      keysPerIdentity: 1,
    });
    ctx.log(
      `cold-connection: ${options.coldRequests} requests, ${options.coldConcurrency} at once, each on a new connection`,
    );
    const outcome = await runLoad(
      {
        target,
        call: "create-certificate",
        items,
        connection: "cold",
        channels: options.coldConcurrency,
        inFlightPerChannel: 1,
        warmupMs: Math.min(options.warmupSeconds, 2) * 1000,
        durationMs: MAX_WINDOW_MS,
        maxRequests: options.coldRequests,
        deadlineMs: 10_000,
      },
      { serverPid: server.pid, clients: options.clients },
    );
    ctx.log(
      `cold-connection: ${f.int(outcome.requestsPerSecond)} req/s, p99 ${f.ms(outcome.latency.p99Ms)} ms, ${outcome.errors} errors`,
    );
    return {
      title: `CreateCertificate, a new TLS connection per request (${options.coldConcurrency} at once)`,
      table: { header: LOAD_HEADER, rows: [loadRow("rsa-2048 CSRs, cold", outcome)] },
      targets: [
        {
          name: "errors (cold connections)",
          target: "0",
          measured: String(outcome.errors),
          pass: outcome.errors === 0,
        },
      ],
      notes: [
        `${f.int(outcome.requests)} counted requests (window capped at ${MAX_WINDOW_MS / 1000} s) after a short warm-up; ` +
          "latency includes TCP connect, the TLS handshake and the HTTP/2 preface, and both sides' CPU includes the handshake.",
        ...errorNote(outcome, "cold"),
      ],
      data: outcome,
    };
  },
};
