import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { REPO_ROOT, TempDir } from "../lib/temp-dir.js";

/*
 * bin/meshsign.js, the `meshsign` command, in a stand-in checkout whose
 * src/cli/main.ts and dist/cli/main.js each print which one ran and the
 * libuv thread-pool size they were started with.
 */

const tmp = new TempDir("meshsign-bin-");
const root = tmp.path("checkout");
// After one thread-pool job, the threads of the process: libuv starts its whole pool on first use.
// Then the young generation's size after 300,000 objects that all survive (V8 grows it to 16 MB
// semi-spaces for such a survival rate unless its growth is held).
const REPORT = `import { readFile } from "node:fs/promises";
import { readdirSync } from "node:fs";
import { getHeapSpaceStatistics } from "node:v8";
await readFile(process.argv[1] as string);
const threads = readdirSync("/proc/self/task").length;
const kept = Array.from({ length: 300_000 }, (_, i) => ({ i, s: "x" + i }));
const young = getHeapSpaceStatistics().find((s) => s.space_name === "new_space");
const youngMb = (young?.space_size ?? 0) / 1048576;
process.stdout.write(JSON.stringify({ from: FROM, threads, youngMb, kept: kept.length }));
`;

function writeSource(): void {
  mkdirSync(path.join(root, "src/cli"), { recursive: true });
  writeFileSync(path.join(root, "src/cli/main.ts"), `const FROM: string = "src";\n${REPORT}`);
}

function writeBuild(): void {
  mkdirSync(path.join(root, "dist/cli"), { recursive: true });
  writeFileSync(
    path.join(root, "dist/cli/main.js"),
    `const FROM = "dist";\n${REPORT.replace(" as string", "")}`,
  );
}

/** Sets a file's times `secondsAgo` in the past (mtime resolution differs between file systems). */
function age(file: string, secondsAgo: number): void {
  const t = new Date(Date.now() - secondsAgo * 1000);
  utimesSync(path.join(root, file), t, t);
}

interface Report {
  from: string;
  threads: number;
  youngMb: number;
}

function run(env: NodeJS.ProcessEnv = {}, nodeArgs: string[] = []): Report {
  const { UV_THREADPOOL_SIZE: _ignored, ...inherited } = process.env;
  const out = execFileSync(process.execPath, [...nodeArgs, path.join(root, "bin/meshsign.js")], {
    cwd: root,
    env: { ...inherited, ...env },
    encoding: "utf8",
  });
  return JSON.parse(out) as Report;
}

beforeEach(() => {
  rmSync(root, { recursive: true, force: true });
  mkdirSync(path.join(root, "bin"), { recursive: true });
  copyFileSync(path.join(REPO_ROOT, "bin/meshsign.js"), path.join(root, "bin/meshsign.js"));
  copyFileSync(path.join(REPO_ROOT, "bin/package.json"), path.join(root, "bin/package.json"));
  mkdirSync(path.join(root, "bin/lib"));
  copyFileSync(
    path.join(REPO_ROOT, "bin/lib/built-from-current-sources.js"),
    path.join(root, "bin/lib/built-from-current-sources.js"),
  );
  writeFileSync(path.join(root, "package.json"), JSON.stringify({ type: "module" }));
  symlinkSync(path.join(REPO_ROOT, "node_modules"), path.join(root, "node_modules"), "dir");
});

afterAll(() => tmp.remove());

describe("bin/meshsign.js", () => {
  it("runs the sources through tsx when nothing is built", () => {
    writeSource();
    expect(run().from).toBe("src");
  });

  it("runs dist/ when it was compiled after the last source change", () => {
    writeSource();
    age("src/cli/main.ts", 60);
    writeBuild();
    expect(run().from).toBe("dist");
  });

  it("runs the sources again once a source file is newer than the build", () => {
    writeSource();
    writeBuild();
    age("dist/cli/main.js", 60);
    expect(run().from).toBe("src");
  });

  it("runs dist/ when there are no sources, as in the container image", () => {
    writeBuild();
    expect(run().from).toBe("dist");
  });

  it("starts a 16-thread libuv pool unless the user chose a size", () => {
    writeBuild();
    const byDefault = run().threads;
    const chosen = run({ UV_THREADPOOL_SIZE: "4" }).threads;
    expect(byDefault - chosen).toBe(12);
  });

  it("runs the CreateCertificate worker's own entry point, not the command line, in a process the command forked", () => {
    // The stand-in command forks one cluster worker (as `meshsign serve` does) and prints what it reports.
    const primary = `import cluster from "node:cluster";
const w = cluster.fork();
w.on("message", (m) => { process.stdout.write(JSON.stringify(m)); w.kill(); });
`;
    const worker = (from: string) => `process.send?.({ from: "${from}", threads: 0, youngMb: 0 });\n`;
    mkdirSync(path.join(root, "src/cli"), { recursive: true });
    mkdirSync(path.join(root, "src/server"), { recursive: true });
    writeFileSync(path.join(root, "src/cli/main.ts"), primary);
    writeFileSync(path.join(root, "src/server/worker-main.ts"), worker("src worker-main"));
    expect(run().from).toBe("src worker-main");
    age("src/cli/main.ts", 60);
    age("src/server/worker-main.ts", 60);
    mkdirSync(path.join(root, "dist/cli"), { recursive: true });
    mkdirSync(path.join(root, "dist/server"), { recursive: true });
    writeFileSync(path.join(root, "dist/cli/main.js"), primary);
    writeFileSync(path.join(root, "dist/server/worker-main.js"), worker("dist worker-main"));
    expect(run().from).toBe("dist worker-main");
  });

  it("holds V8's young generation at its initial size through start-up unless the user chose a growth factor", () => {
    writeBuild();
    expect(run().youngMb).toBeLessThanOrEqual(4);
    expect(run({}, ["--semi-space-growth-factor=2"]).youngMb).toBeGreaterThanOrEqual(16);
    expect(run({}, ["--semi_space_growth_factor=2"]).youngMb).toBeGreaterThanOrEqual(16);
  });
});

describe("bin/build.js, the build step of npm start", () => {
  const build = () => {
    const r = spawnSync(process.execPath, [path.join(root, "bin/build.js")], { cwd: root, encoding: "utf8" });
    // tsc writes its diagnostics to stdout.
    return { code: r.status, stderr: r.stderr, ...(r.stdout === "" ? {} : { stdout: r.stdout }) };
  };
  const withBuildConfig = () => {
    copyFileSync(path.join(REPO_ROOT, "bin/build.js"), path.join(root, "bin/build.js"));
    writeFileSync(
      path.join(root, "tsconfig.build.json"),
      JSON.stringify({
        compilerOptions: {
          rootDir: "src",
          outDir: "dist",
          module: "nodenext",
          target: "es2022",
          skipLibCheck: true,
          types: ["node"],
        },
        include: ["src"],
      }),
    );
  };

  it("says it is compiling, compiles, and says how long it took", () => {
    withBuildConfig();
    mkdirSync(path.join(root, "src/cli"), { recursive: true });
    writeFileSync(
      path.join(root, "src/cli/main.ts"),
      'const FROM: string = "built";\nprocess.stdout.write(JSON.stringify({ from: FROM }));\n',
    );
    const r = build();
    expect(r).toMatchObject({ code: 0 });
    expect(r.stdout).toBeUndefined();
    expect(r.stderr).toMatch(
      /^meshsign: compiling src\/ to dist\/ with tsc \(about 10 s on a first run; skipped while dist\/ is up to date\)\.\.\.\nmeshsign: compiled in \d+\.\d s; starting\n$/,
    );
    expect(run().from).toBe("built");
  });

  it("compiles nothing while dist/ is up to date", () => {
    withBuildConfig();
    writeSource();
    age("src/cli/main.ts", 60);
    writeBuild();
    expect(build()).toEqual({ code: 0, stderr: "meshsign: dist/ is up to date with src/\n" });
    expect(run().from).toBe("dist");
  });

  it("fails with tsc's errors and a line that says the build failed", () => {
    withBuildConfig();
    mkdirSync(path.join(root, "src/cli"), { recursive: true });
    writeFileSync(path.join(root, "src/cli/main.ts"), "const x: number = 'not a number';\n");
    const r = build();
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/error TS2322/);
    expect(r.stderr).toMatch(/meshsign: the build failed \(tsc exited 2\); see the errors above\n$/);
  });
});
