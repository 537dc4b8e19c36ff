/**
 * What a benchmark case is. `bench/run.ts` runs the selected cases in order
 * with one shared {@link BenchContext} and renders their {@link CaseReport}s
 * to the terminal and to docs/benchmarks.md.
 */

import type { MeshsignProcess } from "../lib/meshsign.js";
import type { BenchOptions } from "../lib/options.js";

export interface BenchContext {
  readonly options: BenchOptions;
  /** This checkout (bench/ and src/). */
  readonly repoRoot: string;
  /** Where the meshsign under test is run from (`--server-root`, default {@link repoRoot}). */
  readonly serverRoot: string;
  /**
   * The `meshsign serve` under test (`--workers options.workers`, ECDSA P-256 CA, JWKS auth of the
   * RS256 tokens its `tokens` signer mints, dev issuer off), started on first use and shared by the
   * cases; run.ts stops it at the end.
   */
  meshsign(): Promise<MeshsignProcess>;
  /** A progress line on stderr. */
  log(line: string): void;
}

/** One target of issue 2, judged on a measured figure. */
export interface TargetCheck {
  readonly name: string;
  readonly target: string;
  readonly measured: string;
  readonly pass: boolean;
}

export interface CaseReport {
  readonly title: string;
  /** Markdown paragraphs printed after the table. */
  readonly notes: readonly string[];
  readonly table: { readonly header: readonly string[]; readonly rows: readonly (readonly string[])[] };
  readonly targets: readonly TargetCheck[];
  /** The raw figures, for `--json`. */
  readonly data: unknown;
  /**
   * The generated block of docs/benchmarks.md the report goes to: the main one (default), or the
   * peer comparison's own, so a run of either keeps the other's latest figures.
   */
  readonly docSection?: DocSection;
}

export type DocSection = "main" | "peer";

export interface BenchCase {
  /** `--case` name. */
  readonly name: string;
  readonly summary: string;
  /** Whether `--case all` (the default) runs it. */
  readonly inDefaultRun: boolean;
  /** Where its report goes in docs/benchmarks.md (default `main`); see {@link CaseReport.docSection}. */
  readonly docSection?: DocSection;
  run(ctx: BenchContext): Promise<CaseReport>;
}
