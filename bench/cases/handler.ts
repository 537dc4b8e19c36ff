/**
 * CreateCertificate's handler alone, in this process: the stack `meshsign
 * serve` builds (JWKS authentication of an RS256 service-account token, the
 * CSR policy with its signature check, the in-process ECDSA P-256 CA) called
 * directly, 64 calls in flight, no TLS, HTTP/2 or protobuf around it. Rounds
 * alternate the two places the token's and the leaf's signatures can run:
 * the calling thread (one CreateCertificate process per core: `--workers N`,
 * and the default above two cores) and libuv's thread pool
 * (`cryptoOnThreadPool`, used when fewer processes than cores serve, as the
 * one-process default on two cores does). CPU per call is this process's utime + stime,
 * every thread included.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { create } from "@bufbuild/protobuf";
import { pino } from "pino";
import { Registry } from "prom-client";
import { createCertificateHandler } from "../../src/csr-service/handler.js";
import { IstioCertificateRequestSchema } from "../../src/gen/istio/v1/auth/ca_pb.js";
import {
  buildCsr,
  type CertificateTemplate,
  encodePem,
  generateKeySync,
  privateKeyToPem,
  publicKeySpki,
  selfSignedSigner,
  signCertificate,
} from "../../src/pki/index.js";
import { loadConfig } from "../../src/server/config.js";
import { buildCsrStack } from "../../src/server/csr-stack.js";
import { ClusterTokenSigner } from "../lib/cluster-tokens.js";
import * as f from "../lib/format.js";
import type { BenchCase, BenchContext, CaseReport } from "./types.js";

const IN_FLIGHT = 64;
const CALLS_PER_ROUND = 8000;
const WARMUP_CALLS = 2000;
const IDENTITY = "spiffe://cluster.local/ns/bench/sa/load-0";

interface Round {
  readonly where: "calling thread" | "thread pool";
  readonly usPerCall: number;
  readonly userUsPerCall: number;
  readonly systemUsPerCall: number;
  readonly callsPerWallSecond: number;
}

export const handlerCase: BenchCase = {
  name: "handler",
  summary:
    "CreateCertificate's handler alone, in-process: CPU per call with the signatures inline and on libuv's pool",
  inDefaultRun: true,
  run: async (ctx: BenchContext): Promise<CaseReport> => {
    ctx.log("handler: building the CreateCertificate stack in this process");
    const dir = mkdtempSync(path.join(tmpdir(), "meshsign-bench-handler-"));
    try {
      const tokens = await ClusterTokenSigner.create(path.join(dir, "sa"));
      const config = loadConfig({
        flags: {
          devTokenIssuer: false,
          jwksFile: tokens.jwksFile,
          tokenIssuer: tokens.issuer,
          dataDir: dir,
          identityRateLimit: 0,
        },
      });
      const caKey = generateKeySync({ type: "ec", curve: "P-256" });
      const rootTemplate: CertificateTemplate = {
        publicKeySpki: publicKeySpki(caKey),
        subject: [[{ type: "2.5.4.3", value: "bench handler root" }]],
        isCA: true,
        keyUsage: ["keyCertSign", "cRLSign"],
        extKeyUsage: [],
        notBefore: new Date(Date.now() - 3600_000),
        notAfter: new Date(Date.now() + 365 * 86400_000),
      };
      const rootPem = encodePem(
        "CERTIFICATE",
        signCertificate(rootTemplate, selfSignedSigner(rootTemplate, caKey)),
      );
      const ca = {
        certificatePem: rootPem,
        privateKeyPem: privateKeyToPem(caKey),
        origin: "bench",
        rootsPem: rootPem,
      };
      const token = await tokens.mintToken({
        namespace: "bench",
        serviceAccount: "load-0",
        ttlSeconds: 3600,
      });
      const csrs = Array.from({ length: IN_FLIGHT }, () =>
        buildCsr(generateKeySync({ type: "rsa", bits: 2048 }), { uris: [IDENTITY] }),
      );
      // The audit line is written as serve writes it, to a sink.
      const log = pino({ level: "info" }, pino.destination({ dest: "/dev/null", sync: false }));
      const handlerFor = async (onPool: boolean) => {
        const stack = await buildCsrStack(config, ca, log, new Registry(), {
          dataDir: dir,
          cryptoOnThreadPool: onPool,
        });
        const deps = stack.deps(() => {});
        return createCertificateHandler({
          ...deps,
          onIssued: (e) => log.info({ identity: e.identity, serial: e.serial }, "issued"),
        });
      };
      const handlers = { inline: await handlerFor(false), pool: await handlerFor(true) };
      const metadata = { get: (k: string) => (k === "authorization" ? [`Bearer ${token}`] : []) };
      const call = (handler: typeof handlers.inline, i: number): Promise<void> =>
        new Promise((resolve, reject) => {
          const request = create(IstioCertificateRequestSchema, {
            csr: csrs[i % csrs.length] as string,
            validityDuration: 3600n,
          });
          const unary = { request, metadata, getPeer: () => "127.0.0.1:1", cancelled: false, on() {} };
          handler(unary as never, (err) =>
            err ? reject(new Error(`call failed: ${JSON.stringify(err)}`)) : resolve(),
          );
        });
      const run = async (handler: typeof handlers.inline, calls: number): Promise<void> => {
        let next = 0;
        const lane = async () => {
          while (next < calls) await call(handler, next++);
        };
        await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
      };
      const rounds: Round[] = [];
      for (const onPool of [false, true, true, false]) {
        const handler = onPool ? handlers.pool : handlers.inline;
        await run(handler, WARMUP_CALLS);
        const cpu0 = process.cpuUsage();
        const t0 = performance.now();
        await run(handler, CALLS_PER_ROUND);
        const wallMs = performance.now() - t0;
        const cpu = process.cpuUsage(cpu0);
        const round: Round = {
          where: onPool ? "thread pool" : "calling thread",
          usPerCall: (cpu.user + cpu.system) / CALLS_PER_ROUND,
          userUsPerCall: cpu.user / CALLS_PER_ROUND,
          systemUsPerCall: cpu.system / CALLS_PER_ROUND,
          callsPerWallSecond: (CALLS_PER_ROUND * 1000) / wallMs,
        };
        rounds.push(round);
        ctx.log(`handler: signatures on the ${round.where}: ${f.us(round.usPerCall)} of CPU per call`);
      }
      const mean = (where: Round["where"]) => {
        const r = rounds.filter((x) => x.where === where);
        return r.reduce((a, x) => a + x.usPerCall, 0) / r.length;
      };
      return {
        title: "CreateCertificate's handler alone, in this process (64 in flight)",
        table: {
          header: ["round", "signatures on", "CPU per call", "user", "system", "calls per wall-second"],
          rows: rounds.map((r, i) => [
            String(i + 1),
            r.where,
            f.us(r.usPerCall),
            f.us(r.userUsPerCall),
            f.us(r.systemUsPerCall),
            f.int(r.callsPerWallSecond),
          ]),
        },
        targets: [],
        notes: [
          `The stack \`meshsign serve\` builds, called directly: JWKS authentication of one RS256 token, the CSR policy ` +
            `(${IN_FLIGHT} RSA-2048 CSRs of one identity, signature checked), the in-process ECDSA P-256 CA, the audit line; ` +
            `${f.int(CALLS_PER_ROUND)} calls per round after ${f.int(WARMUP_CALLS)} of warm-up, rounds alternating. ` +
            "No TLS, HTTP/2 or protobuf: what the server adds is the difference to the CreateCertificate cases.",
          `Mean CPU per call: ${f.us(mean("calling thread"))} with the token's and the leaf's signatures on the calling thread ` +
            `(one CreateCertificate process per core: \`--workers N\`, and the default above two cores), ${f.us(mean("thread pool"))} with both on libuv's thread pool ` +
            "(used when fewer processes than cores serve, as the one-process default on two cores does, so that idle cores take the signatures).",
        ],
        data: { rounds },
      };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
