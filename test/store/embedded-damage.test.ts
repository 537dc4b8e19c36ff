import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { SECRETS } from "../../src/api/types.js";
import { isMeshsignError } from "../../src/errors/index.js";
import { checkStore, openEmbeddedStore, recoverStore } from "../../src/store/embedded/index.js";
import { encodeRecord } from "../../src/store/embedded/lib/journal.js";
import { secret } from "./contract.js";

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(path.join(tmpdir(), "meshsign-damage-"));
  dirs.push(d);
  return d;
}
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

const data = (i: number) => ({ data: { v: Buffer.from(`value ${i}`).toString("base64") } });

/** A store with `n` Secrets (each created then updated), closed cleanly: everything in object files, empty journal. */
async function closedStore(n: number): Promise<string> {
  const dataDir = await tempDir();
  const store = await openEmbeddedStore({ dataDir });
  for (let i = 0; i < n; i++) await store.create(SECRETS, secret(`s${i}`, data(i)));
  await store.close();
  return dataDir;
}

/**
 * The state a `kill -9` leaves: `n` Secrets written while open (journal holds them, no
 * checkpoint), copied aside without the lock. With `flushFiles` (the default) every object file
 * is written first; without, none is (killed before the background writer ran). Either way the
 * copy is taken while no background write can run: one racing the copy (a temporary file renamed
 * away under `cp`, an object file half there) would make the test fail by chance.
 */
async function crashedStore(n: number, options: { flushFiles?: boolean } = {}): Promise<string> {
  const dataDir = await tempDir();
  const flushFiles = options.flushFiles !== false;
  const store = await openEmbeddedStore({ dataDir, materializeDelayMs: flushFiles ? 1 : 3_600_000 });
  for (let i = 0; i < n; i++) {
    const s = await store.create(SECRETS, secret(`s${i}`, data(i)));
    await store.update(SECRETS, { ...s, data: { v: Buffer.from(`updated ${i}`).toString("base64") } });
  }
  if (flushFiles) await store.flush();
  const copy = await tempDir();
  await cp(dataDir, copy, { recursive: true });
  await rm(path.join(copy, "store/LOCK"));
  await store.close();
  return copy;
}

async function openError(dataDir: string): Promise<Error> {
  try {
    const s = await openEmbeddedStore({ dataDir });
    await s.close();
  } catch (err) {
    expect(isMeshsignError(err, "ERR_STORE_UNAVAILABLE")).toBe(true);
    return err as Error;
  }
  throw new Error("the store opened");
}

async function segments(dataDir: string): Promise<string[]> {
  return (await readdir(path.join(dataDir, "store/journal"))).map((n) => path.join(dataDir, "store/journal", n)).sort();
}

async function listing(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).sort();
}

describe("a damaged embedded store", () => {
  it("refuses to open over a truncated object file, naming it and the way out, and changes nothing", async () => {
    const dataDir = await closedStore(3);
    const file = path.join(dataDir, "store/core/secrets/ns/s1.json");
    const text = await readFile(file, "utf8");
    await writeFile(file, text.slice(0, 40));
    const before = await listing(dataDir);
    const err = await openError(dataDir);
    expect(err.message).toContain(`object file ${file} is damaged: not JSON`);
    expect(err.message).toContain(`meshsign store check --data-dir ${dataDir}`);
    expect(err.message).toContain(`meshsign store recover --data-dir ${dataDir}`);
    expect(await readFile(file, "utf8")).toBe(text.slice(0, 40));
    expect(await listing(dataDir)).toEqual(before);
  });

  it("treats a file holding another object than its path names as damaged", async () => {
    const dataDir = await closedStore(2);
    const a = path.join(dataDir, "store/core/secrets/ns/s0.json");
    await writeFile(a, await readFile(path.join(dataDir, "store/core/secrets/ns/s1.json")));
    expect((await openError(dataDir)).message).toContain(`${a} is damaged: metadata.name is "s1", not "s0"`);
  });

  it("refuses a checksum mismatch mid-segment with its offset, line, the records after it and the missing version", async () => {
    const dataDir = await crashedStore(20);
    const [seg] = await segments(dataDir);
    const bytes = await readFile(seg as string);
    // Flip one bit inside the 10th record.
    const starts = [0];
    for (let i = 0; i < bytes.length - 1; i++) if (bytes[i] === 0x0a) starts.push(i + 1);
    const at = (starts[9] as number) + 40;
    bytes[at] = (bytes[at] as number) ^ 0x01;
    await writeFile(seg as string, bytes);
    const rvAfter = JSON.parse(bytes.subarray((starts[10] as number) + 9, (starts[11] as number) - 1).toString()).rv as number;
    const err = await openError(dataDir);
    expect(err.message).toContain(`a record failing the checksum at offset ${starts[9]}, line 10`);
    expect(err.message).toContain(`followed by ${starts.length - 10} valid record(s)`);
    expect(err.message).toContain(`1 acknowledged version(s) missing (resourceVersion ${rvAfter - 1})`);
    expect(err.message).not.toMatch(/never acknowledged/);
  });

  it("refuses a segment truncated to half when the object files prove later writes were acknowledged", async () => {
    const dataDir = await crashedStore(30);
    const [seg] = await segments(dataDir);
    const size = (await stat(seg as string)).size;
    await truncate(seg as string, Math.floor(size / 2));
    const err = await openError(dataDir);
    expect(err.message).toMatch(/inside an incomplete record of \d+ bytes with resourceVersion \d+, but object files hold versions up to 60: acknowledged records were lost from its end/);
    expect(err.message).not.toMatch(/never acknowledged/);
  });

  it("refuses a journal truncated to nothing when the object files prove writes after the last checkpoint were acknowledged", async () => {
    // 5 Secrets checkpointed (META.json says version 5), then 30 in the journal only: the object
    // files of the first 20 were written (not fsynced), the last 10 are in no file at all.
    const dataDir = await tempDir();
    const first = await openEmbeddedStore({ dataDir });
    for (let i = 0; i < 5; i++) await first.create(SECRETS, secret(`c${i}`, data(i)));
    await first.close();
    const store = await openEmbeddedStore({ dataDir, materializeDelayMs: 60_000 });
    for (let i = 0; i < 20; i++) await store.create(SECRETS, secret(`s${i}`, data(i)));
    await store.flush();
    for (let i = 20; i < 30; i++) await store.create(SECRETS, secret(`s${i}`, data(i)));
    const copy = await tempDir();
    await cp(dataDir, copy, { recursive: true });
    await rm(path.join(copy, "store/LOCK"));
    await store.close();
    const [seg] = await segments(copy);
    await truncate(seg as string, 0);
    const err = await openError(copy);
    expect(err.message).toMatch(/object files hold versions up to 25: acknowledged records were lost/);
    const report = await checkStore(copy);
    expect(report.damaged).toBe(true);
    expect(report.missingVersions).toBe(0); // versions 6..25 are in object files; 26..35 were never seen
    // recover folds what survives into object files and opens again, versions above all of them.
    await recoverStore(copy);
    const reopened = await openEmbeddedStore({ dataDir: copy });
    expect((await reopened.list(SECRETS)).length).toBe(25);
    expect(Number((await reopened.create(SECRETS, secret("next"))).metadata.resourceVersion)).toBeGreaterThan(25);
    await reopened.close();
  });

  it("refuses when a journal segment between others is missing, counting the versions it held", async () => {
    const dataDir = await closedStore(1);
    // Three segments of two records each, as a writer that rotated twice leaves them (rv 2..7).
    await mkdir(path.join(dataDir, "store/journal"), { recursive: true });
    for (let seg = 1; seg <= 3; seg++) {
      const records = [0, 1].map((i) => {
        const rv = 2 * seg + i;
        const name = `j${rv}`;
        return encodeRecord({ type: SECRETS, namespace: "ns", name, resourceVersion: rv, object: { ...secret(name), metadata: { name, namespace: "ns", resourceVersion: String(rv) } } as never });
      });
      await writeFile(path.join(dataDir, `store/journal/${String(seg).padStart(16, "0")}.log`), records.join(""));
    }
    await rm(path.join(dataDir, "store/journal/0000000000000002.log"));
    const err = await openError(dataDir);
    expect(err.message).toContain("journal segments 2..2 are missing (1 file(s)) with 2 records after them; 2 acknowledged version(s) missing (resourceVersion 4..5)");
  });

  it("still cuts off a torn last record silently when no object file is newer than the journal", async () => {
    // Every object file written, each at the version the journal's last record of it holds.
    const dataDir = await crashedStore(5);
    const [seg] = await segments(dataDir);
    const size = (await stat(seg as string)).size;
    await writeFile(seg as string, Buffer.concat([await readFile(seg as string), Buffer.from('0badf00d {"rv":99,"t"')]));
    const problems: string[] = [];
    const store = await openEmbeddedStore({ dataDir, onProblem: (m) => problems.push(m) });
    expect((await store.list(SECRETS)).length).toBe(5);
    expect(problems.join("\n")).toContain(`cut off an incomplete last record (21 bytes at offset ${size})`);
    await store.close();
  });
});

describe("damage to the store's other files", () => {
  it("refuses an unreadable META.json; recover quarantines it and resourceVersions continue above every object", async () => {
    const dataDir = await closedStore(3);
    const meta = path.join(dataDir, "store/META.json");
    await writeFile(meta, '{"resourceVers');
    expect((await openError(dataDir)).message).toContain(`${meta} is unreadable`);
    const result = await recoverStore(dataDir);
    expect(result.quarantined).toEqual(["META.json"]);
    const store = await openEmbeddedStore({ dataDir });
    const max = Math.max(...(await store.list(SECRETS)).map((s) => Number(s.metadata.resourceVersion)));
    expect(Number((await store.create(SECRETS, secret("next"))).metadata.resourceVersion)).toBe(max + 1);
    await store.close();
  });

  it("takes over a torn LOCK (a crash while it was written) after a short wait, and says so", async () => {
    const dataDir = await closedStore(1);
    await writeFile(path.join(dataDir, "store/LOCK"), '{"pid":');
    const problems: string[] = [];
    const store = await openEmbeddedStore({ dataDir, onProblem: (m) => problems.push(m) });
    expect(problems).toContain(`${path.join(dataDir, "store")}/LOCK: took over a stale lock with unreadable contents (torn by a crash)`);
    await store.close();
  });
});

describe("meshsign store check and recover", () => {
  it("check reports a truncated Secret and its surviving journal copy; recover quarantines it and restores it", async () => {
    const dataDir = await crashedStore(4);
    const file = path.join(dataDir, "store/core/secrets/ns/s2.json");
    const good = JSON.parse(await readFile(file, "utf8"));
    await truncate(file, 10);
    const report = await checkStore(dataDir);
    expect(report.damaged).toBe(true);
    expect(report.damagedObjects).toMatchObject([{ path: file, bytes: 10, survivingResourceVersion: Number(good.metadata.resourceVersion), deletedLater: false }]);
    expect(report.lostObjects).toEqual([]);

    const result = await recoverStore(dataDir, { now: new Date("2026-01-02T03:04:05.678Z") });
    const quarantine = path.join(dataDir, "store/quarantine/2026-01-02T03-04-05-678Z");
    expect(result.quarantine).toBe(quarantine);
    expect(result.quarantined).toEqual(["core/secrets/ns/s2.json"]);
    expect((await stat(path.join(quarantine, "core/secrets/ns/s2.json"))).size).toBe(10);
    expect((await checkStore(dataDir)).damaged).toBe(false);
    const store = await openEmbeddedStore({ dataDir });
    expect(await store.get(SECRETS, "ns", "s2")).toEqual(good);
    expect((await store.list(SECRETS)).length).toBe(4);
    await store.close();
  });

  it("recover refuses to drop an object with no surviving copy unless the loss is accepted", async () => {
    const dataDir = await closedStore(3);
    const file = path.join(dataDir, "store/core/secrets/ns/s0.json");
    await writeFile(file, "");
    const report = await checkStore(dataDir);
    expect(report.lostObjects).toEqual(["core/secrets ns/s0"]);
    await expect(recoverStore(dataDir)).rejects.toThrow(/1 object\(s\) have no surviving copy: core\/secrets ns\/s0\. .*--accept-loss.*Nothing was changed/);
    expect(await readFile(file, "utf8")).toBe("");
    const result = await recoverStore(dataDir, { acceptLoss: true });
    expect(result.quarantined).toEqual(["core/secrets/ns/s0.json"]);
    const store = await openEmbeddedStore({ dataDir });
    expect((await store.list(SECRETS)).map((s) => s.metadata.name)).toEqual(["s1", "s2"]);
    await store.close();
  });

  it("recover rebuilds a half-truncated journal's objects from the object files and quarantines the segments", async () => {
    const dataDir = await crashedStore(30);
    const expected = new Map<string, unknown>();
    for (const f of await readdir(path.join(dataDir, "store/core/secrets/ns"))) {
      if (f.endsWith(".json")) expected.set(f, JSON.parse(await readFile(path.join(dataDir, "store/core/secrets/ns", f), "utf8")));
    }
    const [seg] = await segments(dataDir);
    await truncate(seg as string, Math.floor((await stat(seg as string)).size / 2));
    const report = await checkStore(dataDir);
    expect(report.journalDamage.map((d) => d.kind)).toEqual(["lost-tail"]);
    // The lost half held 15 creates and 15 updates: the updates are the object files' versions,
    // the creates (superseded by them) are in no copy.
    expect(report.missingVersions).toBe(15);
    const result = await recoverStore(dataDir);
    expect(result.quarantined).toEqual([path.relative(path.join(dataDir, "store"), seg as string)]);
    const store = await openEmbeddedStore({ dataDir });
    for (const s of await store.list(SECRETS)) expect(s).toEqual(expected.get(`${s.metadata.name}.json`));
    expect((await store.list(SECRETS)).length).toBe(30);
    await store.close();
  });

  it("recover keeps the records after a bad checksum and counts the version no copy holds", async () => {
    // No object files: the journal is the only copy.
    const dataDir = await crashedStore(10, { flushFiles: false });
    await rm(path.join(dataDir, "store/core"), { recursive: true, force: true });
    const [seg] = await segments(dataDir);
    const bytes = await readFile(seg as string);
    const lines = bytes.toString("utf8").split("\n");
    // Damage record 3 (the create of s1, later superseded by its update) and record 6 (s2's update: lost).
    lines[2] = `00000000${(lines[2] as string).slice(8)}`;
    lines[5] = `00000000${(lines[5] as string).slice(8)}`;
    await writeFile(seg as string, lines.join("\n"));
    const report = await checkStore(dataDir);
    expect(report.journalDamage).toHaveLength(2);
    expect(report.missingVersions).toBe(2);
    await recoverStore(dataDir);
    const store = await openEmbeddedStore({ dataDir });
    expect((await store.list(SECRETS)).length).toBe(10);
    const value = async (name: string) => Buffer.from(((await store.get(SECRETS, "ns", name)) as { data?: { v?: string } } | undefined)?.data?.v ?? "", "base64").toString();
    expect(await value("s1")).toBe("updated 1");
    // s2's update is lost; its create survives.
    expect(await value("s2")).toBe("value 2");
    await store.close();
  });

  it("recover applies a deletion the journal holds over an older object file, and restores a damaged file from a newer journal copy", async () => {
    const dataDir = await closedStore(2);
    const s0 = JSON.parse(await readFile(path.join(dataDir, "store/core/secrets/ns/s0.json"), "utf8"));
    const s1 = JSON.parse(await readFile(path.join(dataDir, "store/core/secrets/ns/s1.json"), "utf8"));
    const s1v2 = { ...s1, data: { v: "djI=" }, metadata: { ...s1.metadata, resourceVersion: "3" } };
    await mkdir(path.join(dataDir, "store/journal"), { recursive: true });
    await writeFile(
      path.join(dataDir, "store/journal/0000000000000001.log"),
      encodeRecord({ type: SECRETS, namespace: "ns", name: "s1", resourceVersion: 3, object: s1v2 }) + encodeRecord({ type: SECRETS, namespace: "ns", name: "s0", resourceVersion: 4, object: null }),
    );
    await writeFile(path.join(dataDir, "store/core/secrets/ns/s1.json"), "{}");
    const report = await checkStore(dataDir);
    expect(report.damagedObjects.map((d) => [d.name, d.survivingResourceVersion])).toEqual([["s1", 3]]);
    await recoverStore(dataDir);
    const store = await openEmbeddedStore({ dataDir });
    expect(await store.get(SECRETS, "ns", "s0")).toBeUndefined();
    expect(await store.get(SECRETS, "ns", "s1")).toEqual(s1v2);
    expect(Number(s0.metadata.resourceVersion)).toBeLessThan(4);
    expect(Number((await store.create(SECRETS, secret("after"))).metadata.resourceVersion)).toBe(5);
    await store.close();
  });
});
