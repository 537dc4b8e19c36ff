/**
 * Ceiling 3: the least a CreateCertificate server must do on meshsign's
 * stack (bench/lib/floor-handler.ts: the token's RS256 verify, the CSR key's
 * import and signature check, one leaf signature, grpc-js and protobuf-es
 * around them), under the CreateCertificate case's load with RSA-2048 CSRs
 * and with meshsign's worker V8 flags. What it reaches on this machine is
 * what any meshsign could reach here: the gap to CreateCertificate is
 * meshsign's own JavaScript.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { WORKER_V8_FLAGS } from "../../src/server/primary.js";
import { ClusterTokenSigner } from "../lib/cluster-tokens.js";
import { startEchoServer } from "../lib/echo-process.js";
import * as f from "../lib/format.js";
import { reusedLoadJob, runLoad } from "../lib/load.js";
import { errorNote, LOAD_HEADER, loadRow, serverOnlyCeiling } from "../lib/load-rows.js";
import { buildWorkload } from "../lib/workload.js";
import { TARGETS } from "./create-certificate.js";
import type { BenchCase, BenchContext, CaseReport } from "./types.js";

export const createCertificateFloorCase: BenchCase = {
  name: "create-certificate-floor",
  summary: "CreateCertificate's unavoidable work alone (crypto + grpc-js), RSA-2048 CSRs (ceiling)",
  inDefaultRun: true,
  run: async (ctx: BenchContext): Promise<CaseReport> => {
    const { options } = ctx;
    const dataDir = mkdtempSync(path.join(os.tmpdir(), "meshsign-bench-floor-"));
    try {
      const tokens = await ClusterTokenSigner.create(dataDir);
      const items = await buildWorkload({
        tokens,
        keyType: "rsa-2048",
        identities: options.identities,
        keysPerIdentity: options.keysPerIdentity,
      });
      const echo = await startEchoServer({
        repoRoot: ctx.repoRoot,
        workers: options.workers,
        mode: "floor",
        env: { FLOOR_JWKS: tokens.jwksFile },
        nodeArgs: WORKER_V8_FLAGS,
      });
      try {
        ctx.log(
          `create-certificate-floor: ${options.workers} worker(s) on 127.0.0.1:${echo.port}, ${options.channels} channels x ${options.concurrency / options.channels} in flight`,
        );
        const outcome = await runLoad(reusedLoadJob(options, echo.target, "create-certificate", items), {
          serverPid: echo.pid,
          clients: options.clients,
        });
        ctx.log(
          `create-certificate-floor: ${f.int(outcome.requestsPerSecond)} req/s, p99 ${f.ms(outcome.latency.p99Ms)} ms, ${outcome.errors} errors`,
        );
        const reached = outcome.latency.p99Ms < TARGETS.p99Ms;
        return {
          title: `Ceiling: CreateCertificate's unavoidable work alone (${options.channels} channels x ${options.concurrency / options.channels} in flight = ${options.concurrency})`,
          table: {
            header: LOAD_HEADER,
            rows: [loadRow("floor, rsa-2048 CSRs", outcome)],
          },
          targets: [],
          notes: [
            `A grpc-js server shaped like meshsign serve (${options.workers} cluster worker(s), meshsign's worker V8 flags ${WORKER_V8_FLAGS.join(" ")}, ` +
              "protobuf-es request decoding, the same response encoder) whose CreateCertificate does only the cryptography one request needs: " +
              "the token's RS256 signature against the cluster-like JWKS key, the CSR key's import (JWK) and signature check, one ECDSA P-256 signature over an " +
              "SVID leaf's TBSCertificate; it answers a real leaf and root prepared once per CSR. No claim, SAN or extension checks, no DER building, no metrics. " +
              "Same CSRs, tokens, load generator, channels and in-flight count as CreateCertificate.",
            `Server CPU per request translated to the server alone on ${options.workers} cores: ${f.int(serverOnlyCeiling(outcome, options.workers))} req/s.`,
            `The absolute p99 target (< ${TARGETS.p99Ms} ms at ${options.concurrency} in flight) ${reached ? "is" : "is not"} reached by this floor on this machine ` +
              `(p99 ${f.ms(outcome.latency.p99Ms)} ms)${reached ? "" : ", so meshsign, which does this work and more on the same stack, cannot reach it here either"}.`,
            ...errorNote(outcome, "floor"),
          ],
          data: outcome,
        };
      } finally {
        await echo.stop();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  },
};
