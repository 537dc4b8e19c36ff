import { cp, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { SECRETS } from "../../src/api/types.js";
import { isMeshsignError } from "../../src/errors/index.js";
import { checkStore, openEmbeddedStore } from "../../src/store/embedded/index.js";
import { diskFault as fault, resetDiskFault } from "../lib/fs-fault.js";
import { secret } from "./contract.js";

// A disk that fills up or turns read-only (test/lib/fs-fault.ts), injected under node:fs/promises.
vi.mock("node:fs/promises", async (real) => (await import("../lib/fs-fault.js")).faultyFsPromises(await real()));

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(path.join(tmpdir(), "meshsign-full-"));
  dirs.push(d);
  return d;
}
afterEach(async () => {
  resetDiskFault();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function refusal(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    expect(isMeshsignError(err, "ERR_STORE_UNAVAILABLE")).toBe(true);
    return err as Error;
  }
  throw new Error("the write was accepted");
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("the embedded store on a full or read-only disk", () => {
  it.each([
    ["ENOSPC", "no space left on device (ENOSPC)", false],
    ["ENOSPC", "no space left on device (ENOSPC)", true],
    ["EROFS", "read-only file system (EROFS)", false],
  ])("refuses writes with %s (%s; partial write: %s), rolls them back, says why, and takes writes again once the disk does", async (code, reason, partial) => {
    const dataDir = await tempDir();
    const problems: string[] = [];
    const store = await openEmbeddedStore({ dataDir, materializeDelayMs: 1, writeProbeIntervalMs: 20, onProblem: (m) => problems.push(m) });
    const kept = await store.create(SECRETS, secret("kept"));
    expect(store.health()).toEqual({ ok: true });

    fault.code = code;
    fault.partial = partial as boolean;
    // Two writes in one batch, and an update of an object that exists: all refused.
    const results = await Promise.all([
      refusal(store.create(SECRETS, secret("a"))),
      refusal(store.create(SECRETS, secret("b"))),
      refusal(store.update(SECRETS, { ...kept, data: { x: "eA==" } })),
    ]);
    for (const err of results) expect(err.message).toBe(`store write refused: ${reason}`);
    expect(store.health().ok).toBe(false);
    expect(store.health().reason).toContain(reason);
    expect(await store.get(SECRETS, "ns", "a")).toBeUndefined();
    expect(await store.get(SECRETS, "ns", "kept")).toEqual(kept);
    // Still refused, and still one warning for the whole outage.
    await refusal(store.create(SECRETS, secret("c")));
    await new Promise((r) => setTimeout(r, 100));
    expect(problems.filter((m) => m.includes(reason))).toHaveLength(1);

    fault.code = undefined;
    await until(() => store.health().ok);
    expect(problems.at(-1)).toMatch(/writable again after \d+ s; [2-9]\d* write\(s\) were refused/);
    // The same names are free again and the resourceVersions continue from the last commit.
    const a = await store.create(SECRETS, secret("a"));
    expect(Number(a.metadata.resourceVersion)).toBe(Number(kept.metadata.resourceVersion) + 1);
    await store.flush();

    // The journal holds nothing of the refused batches: a crash now leaves a sound store.
    const copy = await tempDir();
    await cp(dataDir, copy, { recursive: true });
    await rm(path.join(copy, "store/LOCK"));
    const report = await checkStore(copy);
    expect(report.damaged).toBe(false);
    expect(report.tornTail).toBeUndefined();
    await store.close();
    const reopened = await openEmbeddedStore({ dataDir: copy });
    expect((await reopened.list(SECRETS)).map((s) => s.metadata.name)).toEqual(["a", "kept"]);
    await reopened.close();
  });

  it("refuses to start when the disk is too full for the store's lock, saying so and leaving no lock behind", async () => {
    const dataDir = await tempDir();
    await (await openEmbeddedStore({ dataDir })).close();
    fault.code = "ENOSPC";
    await expect(openEmbeddedStore({ dataDir })).rejects.toThrow(`cannot take the store lock ${dataDir}/store/LOCK: no space left on device (ENOSPC)`);
    fault.code = undefined;
    await (await openEmbeddedStore({ dataDir })).close();
  });

  it("opens on a disk that is already full (room for the lock only), serving reads but not healthy, until space returns", async () => {
    const dataDir = await tempDir();
    const first = await openEmbeddedStore({ dataDir });
    await first.create(SECRETS, secret("kept"));
    await first.close();
    fault.code = "ENOSPC";
    fault.spare = /\/LOCK$/;
    const store = await openEmbeddedStore({ dataDir, writeProbeIntervalMs: 20 });
    expect(store.health()).toMatchObject({ ok: false, reason: expect.stringContaining("no space left on device (ENOSPC)") });
    expect((await store.list(SECRETS)).map((s) => s.metadata.name)).toEqual(["kept"]);
    await refusal(store.create(SECRETS, secret("x")));
    fault.code = undefined;
    await until(() => store.health().ok);
    await store.create(SECRETS, secret("x"));
    await store.close();
  });

  it("reports a disk with less free space than it keeps for its writes before any write fails", async () => {
    const dataDir = await tempDir();
    const problems: string[] = [];
    const store = await openEmbeddedStore({ dataDir, minFreeBytes: Number.MAX_SAFE_INTEGER, onProblem: (m) => problems.push(m) });
    expect(store.health()).toMatchObject({ ok: false, reason: expect.stringMatching(/^no space left on device \(ENOSPC\): \d+ bytes free under .*, below the \d+ the store keeps for its writes$/) });
    expect(problems.join("\n")).toMatch(/bytes free under .* not ready until there is room/);
    await store.close();
    const roomy = await openEmbeddedStore({ dataDir, minFreeBytes: 1 });
    expect(roomy.health()).toEqual({ ok: true });
    await roomy.close();
  });
  it("acknowledges a write that reached the journal when the disk fills before the next segment can be started, and goes on once there is room", async () => {
    const dataDir = await tempDir();
    const store = await openEmbeddedStore({ dataDir, maxJournalBytes: 500, writeProbeIntervalMs: 20 });
    // The first segment (opened before the disk fills) takes the next batch, which fills it; the
    // disk is full for everything else, the next segment included.
    fault.spare = /journal\/0000000000000001\.log$/;
    await store.create(SECRETS, secret("x"));
    fault.code = "ENOSPC";
    const a = await store.create(SECRETS, secret("a"));
    expect(a.metadata.name).toBe("a");
    expect(await store.get(SECRETS, "ns", "a")).toBeDefined();
    resetDiskFault();
    await until(() => store.health().ok);
    await store.create(SECRETS, secret("b"));
    await store.close();
    const reopened = await openEmbeddedStore({ dataDir });
    expect((await reopened.list(SECRETS)).map((o) => o.metadata.name)).toEqual(["a", "b", "x"]);
    await reopened.close();
  });
});
