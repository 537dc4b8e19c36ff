/**
 * Ceiling 1: an empty grpc-js unary call over TLS, same shape as meshsign
 * serve (cluster workers sharing the port, ECDSA P-256 certificate), same
 * channels and in-flight count as the CreateCertificate case. What is left
 * between this and CreateCertificate is meshsign's own work.
 */
import { startEchoServer } from "../lib/echo-process.js";
import * as f from "../lib/format.js";
import { reusedLoadJob, runLoad } from "../lib/load.js";
import { errorNote, LOAD_HEADER, loadRow, serverOnlyCeiling } from "../lib/load-rows.js";
import type { BenchCase, BenchContext, CaseReport } from "./types.js";

export const grpcCeilingCase: BenchCase = {
  name: "grpc-ceiling",
  summary: "empty grpc-js unary call over TLS (ceiling)",
  inDefaultRun: true,
  run: async (ctx: BenchContext): Promise<CaseReport> => {
    const { options } = ctx;
    const echo = await startEchoServer({ repoRoot: ctx.repoRoot, workers: options.workers, mode: "empty" });
    const { port } = echo;
    try {
      ctx.log(`grpc-ceiling: echo server with ${options.workers} worker(s) on 127.0.0.1:${port}`);
      const outcome = await runLoad(
        reusedLoadJob(options, echo.target, "empty", [], Math.min(options.durationSeconds, 10)),
        { serverPid: echo.pid, clients: options.clients },
      );
      ctx.log(
        `grpc-ceiling: ${f.int(outcome.requestsPerSecond)} calls/s, p99 ${f.ms(outcome.latency.p99Ms)} ms`,
      );
      return {
        title: `Ceiling: empty grpc-js unary call over TLS (${options.channels} channels x ${options.concurrency / options.channels} in flight)`,
        table: {
          header: LOAD_HEADER,
          rows: [loadRow(`empty call, ${options.workers} server worker(s)`, outcome)],
        },
        targets: [],
        notes: [
          `A grpc-js server with one no-op method and no (de)serialization, ${options.workers > 1 ? `${options.workers} cluster workers sharing the port` : "in one process"}, ` +
            "ECDSA P-256 self-signed certificate; the same load generator, channels and in-flight count as CreateCertificate.",
          `Server CPU per call translated to the server alone on ${options.workers} cores: ${f.int(serverOnlyCeiling(outcome, options.workers))} calls/s.`,
          ...errorNote(outcome, "empty call"),
        ],
        data: outcome,
      };
    } finally {
      await echo.stop();
    }
  },
};
