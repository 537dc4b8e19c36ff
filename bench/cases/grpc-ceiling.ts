/**
 * Ceiling 1: an empty grpc-js unary call over TLS, same shape as meshsign
 * serve (cluster workers sharing the port, ECDSA P-256 certificate), same
 * channels and in-flight count as the CreateCertificate case. What is left
 * between this and CreateCertificate is meshsign's own work.
 */
import { spawn } from "node:child_process";
import path from "node:path";
import {
  encodePem,
  generateKeySync,
  privateKeyToPem,
  publicKeySpki,
  selfSignedSigner,
  signCertificate,
} from "../../src/pki/index.js";
import * as f from "../lib/format.js";
import { runLoad } from "../lib/load.js";
import { errorNote, LOAD_HEADER, loadRow, serverOnlyCeiling } from "../lib/load-rows.js";
import type { BenchCase, BenchContext, CaseReport } from "./types.js";

export const grpcCeilingCase: BenchCase = {
  name: "grpc-ceiling",
  summary: "empty grpc-js unary call over TLS (ceiling)",
  inDefaultRun: true,
  run: async (ctx: BenchContext): Promise<CaseReport> => {
    const { options } = ctx;
    const { certPem, keyPem } = echoCertificate();
    const script = path.join(ctx.repoRoot, "bench/lib/echo-server.ts");
    const child = spawn(process.execPath, ["--import", "tsx", script], {
      cwd: ctx.repoRoot,
      env: {
        ...process.env,
        ECHO_WORKERS: String(options.workers),
        ECHO_CERT_PEM: certPem,
        ECHO_KEY_PEM: keyPem,
      },
      stdio: ["ignore", "pipe", "inherit"],
    });
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    try {
      const port = await new Promise<number>((resolve, reject) => {
        let out = "";
        const timer = setTimeout(() => reject(new Error("echo server did not start in 30 s")), 30_000);
        child.stdout?.on("data", (b: Buffer) => {
          out += b.toString();
          const m = out.match(/listening (\d+)/);
          if (m) {
            clearTimeout(timer);
            resolve(Number(m[1]));
          }
        });
        child.once("exit", (code) => reject(new Error(`echo server exited with ${code}`)));
      });
      ctx.log(`grpc-ceiling: echo server with ${options.workers} worker(s) on 127.0.0.1:${port}`);
      const outcome = await runLoad(
        {
          target: { address: `127.0.0.1:${port}`, rootsPem: certPem, serverName: "localhost" },
          call: "empty",
          items: [],
          connection: "reused",
          channels: options.channels,
          inFlightPerChannel: options.concurrency / options.channels,
          warmupMs: options.warmupSeconds * 1000,
          durationMs: Math.min(options.durationSeconds, 10) * 1000,
          maxRequests: Number.MAX_SAFE_INTEGER,
          deadlineMs: 10_000,
        },
        { serverPid: child.pid as number, clients: options.clients },
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
      child.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  },
};

/** A throw-away ECDSA P-256 certificate for localhost / 127.0.0.1, its own trust anchor. */
function echoCertificate(): { certPem: string; keyPem: string } {
  const key = generateKeySync({ type: "ec", curve: "P-256" });
  const now = Date.now();
  const template = {
    publicKeySpki: publicKeySpki(key),
    subject: [[{ type: "2.5.4.3", value: "meshsign bench echo" }]],
    dnsNames: ["localhost"],
    ipAddresses: ["127.0.0.1"],
    isCA: true,
    keyUsage: ["digitalSignature", "keyCertSign"] as const,
    extKeyUsage: ["serverAuth"] as const,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 3_600_000),
  };
  const der = signCertificate(template, selfSignedSigner(template, key));
  return { certPem: encodePem("CERTIFICATE", der), keyPem: privateKeyToPem(key) };
}
