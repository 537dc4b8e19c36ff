import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { SECRETS } from "../../src/api/types.js";
import { isMeshsignError } from "../../src/errors/index.js";
import { checkStore, openEmbeddedStore } from "../../src/store/embedded/index.js";

const WRITER = path.resolve(import.meta.dirname, "helpers/writer.ts");
const children: ChildProcess[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

/** Starts the writer child and calls onLine for each stdout line. */
function startWriter(dataDir: string, mode: "write" | "hold", onLine: (line: string) => void): ChildProcess {
  const child = spawn(process.execPath, ["--import", "tsx", WRITER, dataDir, mode], { stdio: ["ignore", "pipe", "inherit"] });
  children.push(child);
  let buf = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    buf += chunk.toString("utf8");
    let nl = buf.indexOf("\n");
    while (nl >= 0) {
      onLine(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
      nl = buf.indexOf("\n");
    }
  });
  return child;
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once("exit", () => resolve());
  });
}

async function jsonFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile() && e.name.endsWith(".json")) out.push(path.join(e.parentPath, e.name));
  }
  return out;
}

describe("the embedded store across processes", () => {
  it.each([300, 1500])("keeps every acknowledged write when the writer is killed with SIGKILL after %i acknowledgements, and leaves a store that opens without asking", async (kills) => {
    const dataDir = await mkdtemp(path.join(tmpdir(), "meshsign-crash-"));
    dirs.push(dataDir);
    const acked = new Set<string>();
    let resolveEnough: () => void = () => {};
    const enough = new Promise<void>((r) => {
      resolveEnough = r;
    });
    const child = startWriter(dataDir, "write", (line) => {
      if (line.startsWith("ack ")) acked.add(line.slice(4));
      if (acked.size >= kills) resolveEnough();
    });
    await enough;
    child.kill("SIGKILL");
    await exited(child);
    const ackedAtKill = new Set(acked);

    // Before recovery: every visible object file parses (writes are temp + rename).
    for (const f of await jsonFiles(path.join(dataDir, "store"))) {
      const text = await readFile(f, "utf8");
      expect(() => JSON.parse(text), f).not.toThrow();
    }

    // A crash is not damage: at most a torn last record, which the next start cuts off by itself.
    const report = await checkStore(dataDir);
    expect(report.damaged, JSON.stringify(report.journalDamage)).toBe(false);
    expect(report.damagedObjects).toEqual([]);

    const store = await openEmbeddedStore({ dataDir });
    const names = new Set((await store.list(SECRETS, { namespace: "crash" })).map((s) => s.metadata.name));
    const missing = [...ackedAtKill].filter((n) => !names.has(n));
    expect(missing).toEqual([]);
    // Each acknowledged object carries its acknowledged update too.
    for (const n of [...ackedAtKill].slice(0, 50)) {
      const s = (await store.get(SECRETS, "crash", n)) as { data?: Record<string, string> } | undefined;
      expect(s?.data?.n, n).toBeDefined();
    }
    await store.close();
    const after = await openEmbeddedStore({ dataDir });
    expect((await after.list(SECRETS, { namespace: "crash" })).length).toBe(names.size);
    await after.close();
  });

  it("lets only one process write: a live owner is named, a killed one is taken over", async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), "meshsign-lock-"));
    dirs.push(dataDir);
    let ready: () => void = () => {};
    const isReady = new Promise<void>((r) => {
      ready = r;
    });
    const child = startWriter(dataDir, "hold", (line) => {
      if (line === "ready") ready();
    });
    await isReady;
    try {
      await openEmbeddedStore({ dataDir });
      expect.unreachable();
    } catch (err) {
      expect(isMeshsignError(err, "ERR_STORE_UNAVAILABLE")).toBe(true);
      expect((err as Error).message).toBe(`another meshsign (pid ${child.pid}) owns ${path.join(dataDir, "store")}`);
    }
    // Read-only inspection works next to the live owner.
    const ro = await openEmbeddedStore({ dataDir, readOnly: true });
    await ro.close();
    child.kill("SIGKILL");
    await exited(child);
    const store = await openEmbeddedStore({ dataDir });
    expect(JSON.parse(await readFile(path.join(dataDir, "store/LOCK"), "utf8")).pid).toBe(process.pid);
    await store.close();
  });
});
