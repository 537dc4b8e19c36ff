/**
 * The PKI micro-measure of bench/pki.ts (parseCsr, authorizeCsr, SVID leaf
 * signing, against @peculiar/x509 and bare node:crypto), run as a child
 * process and reported in the same document, so the ASN.1 side of the
 * CreateCertificate cost sits next to the load figures.
 */
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import * as f from "../lib/format.js";
import type { BenchCase, BenchContext, CaseReport } from "./types.js";

const LINE = /^(.+?)\s+(\d+) ops\/s\s+([\d.]+) us\/op$/;

export const pkiMicroCase: BenchCase = {
  name: "pki",
  summary: "bench/pki.ts: CSR parse/authorize and leaf signing, meshsign vs @peculiar/x509",
  inDefaultRun: true,
  run: async (ctx: BenchContext): Promise<CaseReport> => {
    ctx.log("pki: running bench/pki.ts");
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ["--import", "tsx", path.join(ctx.repoRoot, "bench/pki.ts")],
      {
        cwd: ctx.repoRoot,
        timeout: 120_000,
        maxBuffer: 1 << 20,
      },
    );
    const rows = stdout
      .split("\n")
      .map((l) => l.trim().match(LINE))
      .filter((m): m is RegExpMatchArray => m !== null)
      .map((m) => [m[1] as string, f.int(Number(m[2])), f.us(Number(m[3]))]);
    if (rows.length === 0) throw new Error(`bench/pki.ts printed no measurements:\n${stdout.slice(0, 500)}`);
    return {
      title: "PKI hot path, one thread (bench/pki.ts)",
      table: { header: ["operation", "ops/s (wall)", "per op"], rows },
      targets: [],
      notes: [
        "Single-threaded wall-clock figures from `node --import tsx bench/pki.ts`, run in this benchmark as a child process while nothing else of the benchmark runs.",
      ],
      data: { rows },
    };
  },
};
