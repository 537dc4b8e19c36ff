/**
 * The meshsign the benchmark measures by default: this checkout compiled with
 * `tsc -p tsconfig.build.json` into a throw-away directory that holds
 * `dist/`, `bin/` (the CommonJS entry, its helpers and package.json), `package.json` and a link to this checkout's
 * `node_modules` - the same JavaScript the container image and `npm start`
 * run, without tsx's loader and esbuild in every process. Nothing is written
 * to the checkout itself.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

export interface ReleaseBuild {
  /** Pass as the server root: `<root>/bin/meshsign.js` runs `<root>/dist/cli/main.js`. */
  readonly root: string;
  readonly buildSeconds: number;
  remove(): void;
}

export function buildRelease(repoRoot: string): ReleaseBuild {
  const tsc = path.join(repoRoot, "node_modules/.bin/tsc");
  if (!existsSync(tsc)) throw new Error(`${tsc} is missing: run npm ci first`);
  const root = mkdtempSync(path.join(tmpdir(), "meshsign-bench-build-"));
  const started = performance.now();
  const result = spawnSync(
    tsc,
    ["-p", path.join(repoRoot, "tsconfig.build.json"), "--outDir", path.join(root, "dist")],
    { cwd: repoRoot, encoding: "utf8" },
  );
  if (result.status !== 0) {
    rmSync(root, { recursive: true, force: true });
    throw new Error(`tsc failed (exit ${result.status}):\n${result.stdout}${result.stderr}`);
  }
  mkdirSync(path.join(root, "bin"));
  for (const f of ["meshsign.js", "package.json"])
    copyFileSync(path.join(repoRoot, "bin", f), path.join(root, "bin", f));
  // bin/meshsign.js requires its helpers from bin/lib.
  cpSync(path.join(repoRoot, "bin", "lib"), path.join(root, "bin", "lib"), { recursive: true });
  copyFileSync(path.join(repoRoot, "package.json"), path.join(root, "package.json"));
  symlinkSync(path.join(repoRoot, "node_modules"), path.join(root, "node_modules"), "dir");
  return {
    root,
    buildSeconds: (performance.now() - started) / 1000,
    remove: () => rmSync(root, { recursive: true, force: true }),
  };
}

/** Maps a file of a release build back to its source (`<build>/dist/x/y.js` -> `src/x/y.ts`). */
export function sourcePathOfBuild(file: string): string | undefined {
  const m = /meshsign-bench-build-[^/]+\/dist\/(.+)\.js$/.exec(file);
  return m ? `src/${m[1]}.ts` : undefined;
}
