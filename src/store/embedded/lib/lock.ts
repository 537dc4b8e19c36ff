import { existsSync, readFileSync } from "node:fs";
import { open, readFile, stat } from "node:fs/promises";
import { hostname } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { MeshsignError } from "../../../errors/index.js";
import { FILE_MODE, unlinkIfExists } from "./files.js";
import { describeRefusal, isDiskRefusal } from "./write-health.js";

/**
 * The single-writer lock of a store directory: `<dir>/LOCK` holding the owner's
 * pid, its start time (from /proc, so a reused pid is not mistaken for the
 * owner) and host. Creation is O_EXCL; a lock whose process is gone is taken
 * over, the takeover itself serialized by `LOCK.takeover` (O_EXCL too) so two
 * starting processes cannot both win.
 */

export interface StoreLock {
  release(): Promise<void>;
  /** Set when a stale lock (its owner dead, a zombie, or the file torn) was taken over: what it was. */
  readonly staleLock?: string;
}

interface LockInfo {
  readonly pid: number;
  readonly startTime: string | null;
  readonly host: string;
  readonly since: string;
}

/** Directories locked by this process (a second open in-process is a bug, not a stale lock). */
const heldHere = new Set<string>();

const TAKEOVER_STALE_MS = 10_000;
const UNREADABLE_GRACE_MS = 2_000;

export async function acquireStoreLock(dir: string): Promise<StoreLock> {
  const lockPath = `${dir}/LOCK`;
  if (heldHere.has(dir)) throw ownedError(dir, process.pid);
  const own = procStat(process.pid);
  const me: LockInfo = { pid: process.pid, startTime: own !== null && own !== "gone" ? own.startTime : null, host: hostname(), since: new Date().toISOString() };
  const started = Date.now();
  let stale: string | undefined;
  for (;;) {
    try {
      const fh = await open(lockPath, "wx", FILE_MODE).catch((err: unknown) => {
        throw isDiskRefusal(err) ? lockRefused(lockPath, err) : err;
      });
      try {
        await fh.writeFile(`${JSON.stringify(me)}\n`);
        await fh.sync();
      } catch (err) {
        // An empty or half-written lock would make the next start wait for it: remove it.
        await fh.close().catch(() => {});
        await unlinkIfExists(lockPath).catch(() => {});
        throw isDiskRefusal(err) ? lockRefused(lockPath, err) : err;
      }
      await fh.close();
      heldHere.add(dir);
      return {
        ...(stale === undefined ? {} : { staleLock: stale }),
        release: async () => {
          heldHere.delete(dir);
          const current = await readLock(lockPath);
          if (current !== undefined && current.pid === me.pid && current.since === me.since) await unlinkIfExists(lockPath);
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const holder = await readLock(lockPath);
    if (holder === undefined) {
      // Being written by another starter, or torn by a crash while it was: wait briefly, then take over.
      if (Date.now() - started < UNREADABLE_GRACE_MS) {
        await sleep(50);
        continue;
      }
    } else {
      const state = ownerState(holder);
      if (state === "alive") throw ownedError(dir, holder.pid, holder.host);
      stale = `stale lock of pid ${holder.pid} (${state}) since ${holder.since}`;
    }
    stale ??= "stale lock with unreadable contents (torn by a crash)";
    await takeOver(dir, lockPath, holder);
  }
}

async function takeOver(dir: string, lockPath: string, stale: LockInfo | undefined): Promise<void> {
  const guard = `${dir}/LOCK.takeover`;
  try {
    const fh = await open(guard, "wx", FILE_MODE);
    await fh.close();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    const st = await stat(guard).catch(() => undefined);
    if (st !== undefined && Date.now() - st.mtimeMs > TAKEOVER_STALE_MS) await unlinkIfExists(guard);
    else await sleep(50);
    return; // retry from the top
  }
  try {
    const now = await readLock(lockPath);
    const unchanged = now === undefined ? stale === undefined : stale !== undefined && now.pid === stale.pid && now.since === stale.since;
    if (unchanged) await unlinkIfExists(lockPath);
  } finally {
    await unlinkIfExists(guard);
  }
}

async function readLock(path: string): Promise<LockInfo | undefined> {
  try {
    const parsed = JSON.parse(await readFile(path, "utf8")) as Partial<LockInfo>;
    if (typeof parsed.pid !== "number" || typeof parsed.since !== "string") return undefined;
    return { pid: parsed.pid, startTime: typeof parsed.startTime === "string" ? parsed.startTime : null, host: typeof parsed.host === "string" ? parsed.host : "", since: parsed.since };
  } catch {
    return undefined;
  }
}

/**
 * Whether the lock's owner still runs. A zombie (exited, not yet reaped: what
 * `kill -9` of a container's main process leaves until its parent waits) holds
 * no files and writes nothing, so it does not own the store; neither does a
 * reused pid (another start time).
 */
function ownerState(info: LockInfo): "alive" | "gone" | "a zombie" | "pid reused by another process" {
  // Another host's pid cannot be checked: assume it is alive rather than risk two writers.
  if (info.host !== "" && info.host !== hostname()) return "alive";
  // Our own pid in the file is a previous incarnation (containers reuse pid 1); this process checked heldHere.
  if (info.pid === process.pid) return "gone";
  try {
    process.kill(info.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ESRCH") return "gone";
  }
  const stat = procStat(info.pid);
  // It ended (and was reaped) between the signal and the read.
  if (stat === "gone") return "gone";
  if (stat?.state === "Z" || stat?.state === "X" || stat?.state === "x") return "a zombie";
  const startTime = stat?.startTime ?? null;
  return info.startTime === null || startTime === null || startTime === info.startTime ? "alive" : "pid reused by another process";
}

/**
 * Fields 3 (state: R, S, D, Z, X...) and 22 (start time in clock ticks since
 * boot) of /proc/<pid>/stat, read once; "gone" when /proc has no such process,
 * null off Linux or when it cannot be read.
 */
function procStat(pid: number): { state: string | null; startTime: string | null } | "gone" | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { state: fields[0] ?? null, startTime: fields[19] ?? null };
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ENOENT" && existsSync("/proc/self/stat") ? "gone" : null;
  }
}

function lockRefused(lockPath: string, err: unknown): MeshsignError {
  return new MeshsignError("ERR_STORE_UNAVAILABLE", `cannot take the store lock ${lockPath}: ${describeRefusal(err)}; free some space (or make the disk writable) and start again`, { cause: err, retry: "transient" });
}

function ownedError(dir: string, pid: number, host?: string): MeshsignError {
  const where = host !== undefined && host !== "" && host !== hostname() ? ` on host ${host}` : "";
  return new MeshsignError("ERR_STORE_UNAVAILABLE", `another meshsign (pid ${pid}${where}) owns ${dir}`, { detail: { dir, pid }, retry: "terminal" });
}
