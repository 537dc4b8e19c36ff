/**
 * Summarizes V8 .cpuprofile files (from `npm run bench -- --profile DIR`):
 * the functions and source files with the most self time, and the inclusive
 * time of meshsign's own functions, with file:function names relative to the
 * repo (node_modules paths from the package name on).
 *
 *   node --import tsx bench/profile-summary.ts [--top N] FILE.cpuprofile...
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { sourcePathOfBuild } from "./lib/release-build.js";

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: readonly number[];
}
interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

function where(url: string): string {
  if (!url) return "(native)";
  const file = url.startsWith("file://") ? fileURLToPath(url) : url;
  const source = sourcePathOfBuild(file);
  if (source) return source;
  const rel = path.relative(repoRoot, file);
  const nm = rel.lastIndexOf("node_modules/");
  return nm >= 0 ? rel.slice(nm + "node_modules/".length) : rel;
}

function main(): void {
  // Piped into head: stop quietly when the reader goes away.
  process.stdout.on("error", () => process.exit(0));
  const args = process.argv.slice(2);
  let top = 30;
  const files: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--top") top = Number(args[++i]);
    else files.push(args[i] as string);
  }
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  // Inclusive time of meshsign's own functions (src/): where the time goes, seen from our code.
  const ownInclusive = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const file of files) {
    const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;
    const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
    const parent = new Map<number, number>();
    for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    profile.samples.forEach((id, i) => {
      const dt = profile.timeDeltas[i] ?? 0;
      const node = nodes.get(id);
      if (!node) return;
      const seen = new Set<string>();
      for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
        const frame = nodes.get(at)?.callFrame;
        if (!frame || !where(frame.url).startsWith("src/")) continue;
        const key = `${where(frame.url)} ${frame.functionName || "(anonymous)"}`;
        if (seen.has(key)) continue;
        seen.add(key);
        ownInclusive.set(key, (ownInclusive.get(key) ?? 0) + dt);
      }
      const { functionName, url, lineNumber } = node.callFrame;
      if (
        functionName === "(idle)" ||
        functionName === "(program)" ||
        functionName === "(garbage collector)"
      ) {
        if (functionName === "(idle)") idle += dt;
        else byFunction.set(functionName, (byFunction.get(functionName) ?? 0) + dt);
        if (functionName !== "(idle)") total += dt;
        return;
      }
      total += dt;
      const key = `${where(url)}:${lineNumber + 1} ${functionName || "(anonymous)"}`;
      byFunction.set(key, (byFunction.get(key) ?? 0) + dt);
      byFile.set(where(url), (byFile.get(where(url)) ?? 0) + dt);
    });
  }
  const show = (title: string, m: Map<string, number>) => {
    process.stdout.write(
      `\n${title} (busy ${(total / 1000).toFixed(0)} ms, idle ${(idle / 1000).toFixed(0)} ms)\n`,
    );
    for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) {
      process.stdout.write(
        `${((100 * v) / total).toFixed(1).padStart(5)}%  ${(v / 1000).toFixed(0).padStart(6)} ms  ${k}\n`,
      );
    }
  };
  show("self time by function", byFunction);
  show("self time by file", byFile);
  show("inclusive time of meshsign functions (src/)", ownInclusive);
}

main();
