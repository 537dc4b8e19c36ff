import { mkdtemp, readdir, readFile, rm, stat, writeFile, appendFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { CERTIFICATES, CLUSTER_ISSUERS, SECRETS } from "../../src/api/types.js";
import { isMeshsignError } from "../../src/errors/index.js";
import { openEmbeddedStore } from "../../src/store/embedded/index.js";
import { cert, describeStoreContract, secret } from "./contract.js";

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(path.join(tmpdir(), "meshsign-store-"));
  dirs.push(d);
  return d;
}
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describeStoreContract("embedded", async (now) => {
  const dataDir = await mkdtemp(path.join(tmpdir(), "meshsign-store-"));
  return { store: await openEmbeddedStore({ dataDir, now }), cleanup: () => rm(dataDir, { recursive: true, force: true }) };
});

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    out.push(p);
    if (e.isDirectory()) out.push(...(await walk(p)));
  }
  return out;
}

describe("the embedded store on disk", () => {
  it("keeps every object across close and reopen, resourceVersions continuing upwards", async () => {
    const dataDir = await tempDir();
    const s1 = await openEmbeddedStore({ dataDir });
    const c = await s1.create(CERTIFICATES, cert("a"));
    await s1.updateStatus(CERTIFICATES, { ...c, status: { revision: 1 } });
    await s1.create(SECRETS, secret("s"));
    await s1.create(SECRETS, secret("gone"));
    await s1.delete(SECRETS, "ns", "gone");
    await s1.create(CLUSTER_ISSUERS, { apiVersion: "cert-manager.io/v1", kind: "ClusterIssuer", metadata: { name: "ci" }, spec: { selfSigned: {} } } as never);
    const lastRv = Number((await s1.create(SECRETS, secret("last"))).metadata.resourceVersion);
    await s1.close();

    const s2 = await openEmbeddedStore({ dataDir });
    expect((await s2.get(CERTIFICATES, "ns", "a"))?.metadata.uid).toBe(c.metadata.uid);
    expect(((await s2.get(CERTIFICATES, "ns", "a")) as { status?: unknown })?.status).toEqual({ revision: 1 });
    expect((await s2.list(SECRETS)).map((s) => s.metadata.name)).toEqual(["last", "s"]);
    expect(await s2.get(CLUSTER_ISSUERS, undefined, "ci")).toBeDefined();
    const next = await s2.create(SECRETS, secret("next"));
    expect(Number(next.metadata.resourceVersion)).toBeGreaterThan(lastRv);
    await s2.close();
  });

  it("lays objects out as readable JSON files, 0600 in 0700 directories, and empties the journal on close", async () => {
    const dataDir = await tempDir();
    const store = await openEmbeddedStore({ dataDir });
    await store.create(SECRETS, secret("tls", { data: { "tls.key": "a2V5" } }, "prod"));
    await store.create(CLUSTER_ISSUERS, { apiVersion: "cert-manager.io/v1", kind: "ClusterIssuer", metadata: { name: "ci" }, spec: { selfSigned: {} } } as never);
    await store.close();
    const root = path.join(dataDir, "store");
    const file = path.join(root, "core/secrets/prod/tls.json");
    expect(JSON.parse(await readFile(file, "utf8")).data).toEqual({ "tls.key": "a2V5" });
    expect(JSON.parse(await readFile(path.join(root, "cert-manager.io/clusterissuers/ci.json"), "utf8")).kind).toBe("ClusterIssuer");
    expect((await stat(root)).mode & 0o777).toBe(0o700);
    for (const p of await walk(root)) {
      const st = await stat(p);
      expect(`${path.relative(root, p)} ${(st.mode & 0o777).toString(8)}`).toBe(`${path.relative(root, p)} ${st.isDirectory() ? "700" : "600"}`);
    }
    expect(await readdir(path.join(root, "journal"))).toEqual([]);
    await expect(stat(path.join(root, "LOCK"))).rejects.toThrow();
  });

  it("refreshes object files in the background while open", async () => {
    const dataDir = await tempDir();
    const store = await openEmbeddedStore({ dataDir, materializeDelayMs: 10 });
    const c = await store.create(CERTIFICATES, cert("a"));
    await store.flush();
    const file = path.join(dataDir, "store/cert-manager.io/certificates/ns/a.json");
    expect(JSON.parse(await readFile(file, "utf8")).metadata.resourceVersion).toBe(c.metadata.resourceVersion);
    await store.delete(CERTIFICATES, "ns", "a");
    await store.flush();
    await expect(stat(file)).rejects.toThrow();
    await store.close();
  });

  it("checkpoints when a journal segment fills, dropping old segments and keeping every object", async () => {
    const dataDir = await tempDir();
    const store = await openEmbeddedStore({ dataDir, maxJournalBytes: 4096 });
    for (let i = 0; i < 60; i++) await store.create(SECRETS, secret(`s${i}`, { data: { v: Buffer.from(String(i)).toString("base64") } }));
    await store.flush();
    const segments = await readdir(path.join(dataDir, "store/journal"));
    expect(segments.length).toBeLessThanOrEqual(2);
    // Simulate a crash: reopen a copy without closing (the journal + files must suffice).
    const copy = await tempDir();
    await import("node:fs/promises").then((fs) => fs.cp(dataDir, copy, { recursive: true }));
    await rm(path.join(copy, "store/LOCK"));
    const reopened = await openEmbeddedStore({ dataDir: copy });
    expect((await reopened.list(SECRETS)).length).toBe(60);
    await reopened.close();
    await store.close();
  });

  it("cuts off a torn last journal record and removes leftover temporary files on open", async () => {
    const dataDir = await tempDir();
    const store = await openEmbeddedStore({ dataDir });
    await store.create(SECRETS, secret("kept"));
    await store.close();
    const root = path.join(dataDir, "store");
    await writeFile(path.join(root, "journal/0000000000000099.log"), "");
    await appendFile(path.join(root, "journal/0000000000000099.log"), '1234abcd {"rv":999,"t":{"g":"","v":"v1","k":"Secret","p":"secrets","n":true},"ns":"ns","name":"torn","o":{"apiVer');
    await writeFile(path.join(root, "core/secrets/ns/.half.json.tmp"), "{");
    const problems: string[] = [];
    const reopened = await openEmbeddedStore({ dataDir, onProblem: (m) => problems.push(m) });
    expect((await reopened.list(SECRETS)).map((s) => s.metadata.name)).toEqual(["kept"]);
    expect(problems.join("\n")).toMatch(/0000000000000099\.log: cut off an incomplete last record \(113 bytes at offset 0\)/);
    expect((await stat(path.join(root, "journal/0000000000000099.log"))).size).toBe(0);
    expect(problems.join("\n")).toMatch(/removed a temporary file/);
    await expect(stat(path.join(root, "core/secrets/ns/.half.json.tmp"))).rejects.toThrow();
    // new writes land in a new segment after the torn one and survive another reopen
    await reopened.create(SECRETS, secret("after"));
    await reopened.close();
    const again = await openEmbeddedStore({ dataDir });
    expect((await again.list(SECRETS)).map((s) => s.metadata.name)).toEqual(["after", "kept"]);
    await again.close();
  });

  it("refuses a second writer in the same process and allows read-only inspection", async () => {
    const dataDir = await tempDir();
    const store = await openEmbeddedStore({ dataDir });
    await store.create(SECRETS, secret("s"));
    try {
      await openEmbeddedStore({ dataDir });
      expect.unreachable();
    } catch (err) {
      expect(isMeshsignError(err, "ERR_STORE_UNAVAILABLE")).toBe(true);
      expect((err as Error).message).toBe(`another meshsign (pid ${process.pid}) owns ${path.join(dataDir, "store")}`);
    }
    const ro = await openEmbeddedStore({ dataDir, readOnly: true });
    expect((await ro.list(SECRETS)).map((s) => s.metadata.name)).toEqual(["s"]);
    try {
      await ro.create(SECRETS, secret("x"));
      expect.unreachable();
    } catch (err) {
      expect(isMeshsignError(err, "ERR_STORE_UNAVAILABLE")).toBe(true);
    }
    await ro.close();
    await store.close();
  });

  it("takes over the lock of a zombie (killed, not yet reaped) and says it was a stale lock", async () => {
    const dataDir = await tempDir();
    await (await openEmbeddedStore({ dataDir })).close();
    // The background `sleep` becomes a zombie: its parent execs into `sleep 30`, which never reaps
    // it. It must outlive the exec: one that ended while its parent was still the shell could be
    // reaped by the shell, and then /proc/<pid> is gone (seen on a loaded machine with `sleep 0`).
    const { spawn } = await import("node:child_process");
    const parent = spawn("sh", ["-c", "sleep 0.5 & echo $!; exec sleep 30"], { stdio: ["ignore", "pipe", "ignore"] });
    try {
      const pid = Number(await new Promise<string>((resolve) => parent.stdout.once("data", (b: Buffer) => resolve(b.toString()))));
      let stat = "";
      for (let i = 0; i < 500 && !/\) Z /.test(stat); i++) {
        await new Promise((r) => setTimeout(r, 20));
        stat = await readFile(`/proc/${pid}/stat`, "utf8");
      }
      expect(stat).toMatch(/\) Z /);
      const startTime = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
      await writeFile(path.join(dataDir, "store/LOCK"), `${JSON.stringify({ pid, startTime, host: (await import("node:os")).hostname(), since: "2026-01-01T00:00:00Z" })}\n`);
      const problems: string[] = [];
      const store = await openEmbeddedStore({ dataDir, onProblem: (m) => problems.push(m) });
      expect(problems).toContain(`${path.join(dataDir, "store")}/LOCK: took over a stale lock of pid ${pid} (a zombie) since 2026-01-01T00:00:00Z`);
      expect(JSON.parse(await readFile(path.join(dataDir, "store/LOCK"), "utf8")).pid).toBe(process.pid);
      await store.close();
    } finally {
      parent.kill("SIGKILL");
    }
  });

  it("takes over the lock of a process that is gone", async () => {
    const dataDir = await tempDir();
    await (await openEmbeddedStore({ dataDir })).close();
    // A pid that cannot exist on Linux (above pid_max's hard limit).
    await writeFile(path.join(dataDir, "store/LOCK"), `${JSON.stringify({ pid: 4194305, startTime: "1", host: (await import("node:os")).hostname(), since: "2020-01-01T00:00:00Z" })}\n`);
    const store = await openEmbeddedStore({ dataDir });
    expect(JSON.parse(await readFile(path.join(dataDir, "store/LOCK"), "utf8")).pid).toBe(process.pid);
    await store.close();
  });
});
