/**
 * `npm run bench`: drives `meshsign serve` over TLS with grpc-js load and
 * reports throughput, latency, CPU and memory next to two ceilings measured
 * in the same run, judges issue 2's targets (PASS/MISS, never a failing exit
 * for a miss), and writes the figures to docs/benchmarks.md.
 *
 *   npm run bench -- --help
 *   npm run bench -- --case create-certificate --duration 10
 */
import "reflect-metadata";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type BenchContext, CASES, type CaseReport } from "./cases/index.js";
import { machineInfo } from "./lib/machine.js";
import { type MeshsignProcess, startMeshsign } from "./lib/meshsign.js";
import { parseBenchOptions, USAGE } from "./lib/options.js";
import { buildRelease, type ReleaseBuild } from "./lib/release-build.js";
import { renderMarkdown, renderText, sectionsOf, updateDoc } from "./lib/report.js";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

async function main(): Promise<number> {
  let options: ReturnType<typeof parseBenchOptions>;
  try {
    options = parseBenchOptions(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  // Registry order, whatever the order on the command line.
  const selected = CASES.filter(
    (c) => options.cases.includes(c.name) || (options.cases.includes("all") && c.inDefaultRun),
  );
  const unknown = options.cases.filter((n) => n !== "all" && !CASES.some((c) => c.name === n));
  if (unknown.length > 0) {
    process.stderr.write(
      `unknown case(s): ${unknown.join(", ")}; known: ${CASES.map((c) => c.name).join(", ")}\n`,
    );
    return 2;
  }
  const log = (line: string) =>
    process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
  // By default the compiled build is measured (what the container image and `npm start` run);
  // --from-source runs this checkout through tsx, --server-root another tree.
  let release: ReleaseBuild | undefined;
  let serverRoot = repoRoot;
  let serverBuild = "this checkout through tsx (--from-source)";
  if (options.serverRoot) {
    serverRoot = path.resolve(options.serverRoot);
    serverBuild = `--server-root ${serverRoot}`;
  } else if (!options.fromSource) {
    release = buildRelease(repoRoot);
    serverRoot = release.root;
    serverBuild =
      "this checkout compiled with tsc (tsconfig.build.json), as `npm start` and the container image run it";
    log(`compiled meshsign into ${serverRoot} in ${release.buildSeconds.toFixed(1)} s`);
  }
  const machine = machineInfo();
  const started = performance.now();
  let server: Promise<MeshsignProcess> | undefined;
  const ctx: BenchContext = {
    options,
    repoRoot,
    serverRoot,
    log,
    meshsign: () => {
      if (!server) {
        log(`starting meshsign serve --workers ${options.workers}`);
        const profile = options.profileDir
          ? ["--cpu-prof", "--cpu-prof-dir", path.resolve(options.profileDir)]
          : [];
        server = startMeshsign({
          repoRoot: serverRoot,
          workers: options.workers,
          nodeArgs: [...options.serverNodeArgs, ...profile],
          // The load's 32 identities each ask ~100 times a second, which no workload of a mesh does;
          // the per-identity limit (10/s by default) would refuse them, so the cases measure issuance.
          extraArgs: ["--identity-rate-limit", "0"],
          ...(options.serverLog ? { logFile: path.resolve(options.serverLog) } : {}),
        });
      }
      return server;
    },
  };

  const reports: CaseReport[] = [];
  let failed = false;
  try {
    for (const c of selected) {
      try {
        reports.push({ ...(await c.run(ctx)), docSection: c.docSection ?? "main" });
      } catch (err) {
        failed = true;
        log(`case ${c.name} failed: ${(err as Error).stack ?? String(err)}`);
        reports.push({
          title: `${c.summary}: FAILED`,
          table: { header: ["error"], rows: [[(err as Error).message.split("\n")[0] ?? String(err)]] },
          targets: [],
          notes: [],
          data: { error: String(err) },
          docSection: c.docSection ?? "main",
        });
      }
    }
  } finally {
    if (server) {
      const s = await server.catch(() => undefined);
      const code = await s?.stop();
      if (s) log(`meshsign stopped (exit ${code})`);
    }
    release?.remove();
  }

  const summary = {
    date: new Date(),
    command: ["npm run bench", ...(process.argv.length > 2 ? ["--", ...process.argv.slice(2)] : [])].join(
      " ",
    ),
    machine,
    options,
    serverBuild,
    reports,
    totalSeconds: (performance.now() - started) / 1000,
    ...(options.serverRoot ? {} : { commit: gitCommit(repoRoot) }),
  };
  process.stdout.write(renderText(summary));
  if (options.out) {
    const file = path.resolve(repoRoot, options.out);
    let doc = existsSync(file) ? readFileSync(file, "utf8") : undefined;
    for (const section of sectionsOf(reports))
      doc = updateDoc(doc, renderMarkdown(summary, section), section);
    if (doc !== undefined) writeFileSync(file, doc);
    log(`wrote ${path.relative(repoRoot, file)}`);
  }
  if (options.json) {
    writeFileSync(
      path.resolve(repoRoot, options.json),
      JSON.stringify({ ...summary, reports }, (_k, v) => (v instanceof Float64Array ? undefined : v), 2),
    );
  }
  // A missed target is reported, not fatal; a case that could not run at all is.
  return failed ? 1 : 0;
}

/** `git rev-parse --short HEAD`, with "+ changes" when the tree differs from it; undefined outside git. */
function gitCommit(dir: string): string | undefined {
  const git = (...args: string[]) => spawnSync("git", ["-C", dir, ...args], { encoding: "utf8" });
  const head = git("rev-parse", "--short", "HEAD");
  if (head.status !== 0) return undefined;
  const dirty = git("status", "--porcelain", "--untracked-files=no").stdout.trim() !== "";
  return `${head.stdout.trim()}${dirty ? " + changes" : ""}`;
}

process.exitCode = await main();
