import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

/**
 * A user's clone holds only the repository: nothing in it may read a folder beside it
 * (the developers' `../shared`, or any other sibling), or `npm test` fails on a plain clone.
 */
const repoRoot = path.resolve(import.meta.dirname, "../..");

function trackedFiles(): string[] {
  const out = execFileSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: repoRoot });
  return out.toString("utf8").split("\0").filter((f) => f !== "");
}

const CHECKED = /\.(ts|js|mjs|cjs|json|ya?ml|sh|md|go)$|^\.ci\/|Dockerfile$/;
const SHARED = /\.\.\/(?:\.\.\/)*shared\b/;
/** A relative path literal in code: "../x", '../../y'. */
const RELATIVE_LITERAL = /["'`]((?:\.\.\/)+[^"'`\s$]*)["'`]/g;

/** Each reference from `file` that leaves the repository, as "file:line: text". */
function referencesOutside(file: string, text: string): string[] {
  const found: string[] = [];
  const dir = path.dirname(path.join(repoRoot, file));
  text.split("\n").forEach((line, i) => {
    const at = `${file}:${i + 1}: ${line.trim()}`;
    if (SHARED.test(line)) {
      found.push(at);
      return;
    }
    if (!/\.(ts|js|mjs|cjs)$/.test(file)) return;
    for (const m of line.matchAll(RELATIVE_LITERAL)) {
      const target = path.resolve(dir, m[1] ?? "");
      if (path.relative(repoRoot, target).startsWith("..")) found.push(at);
    }
  });
  return found;
}

describe("the repository is self-contained", () => {
  it("no file refers to ../shared or resolves a relative path outside the repository", () => {
    const files = trackedFiles().filter((f) => CHECKED.test(f) && !f.startsWith("node_modules/") && f !== "test/repo/self-contained.test.ts");
    expect(files.length).toBeGreaterThan(100);
    const offending = files.flatMap((f) => referencesOutside(f, readFileSync(path.join(repoRoot, f), "utf8")));
    expect(offending).toEqual([]);
  });

  it("the check itself catches both kinds of reference", () => {
    const sibling = ["..", "shared", "fixtures"].join("/");
    expect(referencesOutside("test/x/a.test.ts", `const d = path.resolve(root, "${sibling}");`)).toHaveLength(1);
    expect(referencesOutside("test/x/a.test.ts", 'readFileSync(path.resolve(import.meta.dirname, "../../../other/file.yaml"))')).toHaveLength(1);
    expect(referencesOutside("test/x/a.test.ts", 'path.resolve(import.meta.dirname, "../../examples")')).toEqual([]);
    expect(referencesOutside("docs/x.md", `see ${sibling}/a.yaml`)).toHaveLength(1);
  });
});
