import { statfs } from "node:fs/promises";
import { MeshsignError } from "../../../errors/index.js";
import { unlinkIfExists, writeStoreFile } from "./files.js";

/**
 * Whether the store can write right now. A disk that is full (ENOSPC), over
 * quota (EDQUOT) or remounted read-only (EROFS) refuses writes without
 * breaking anything: the refused batch is rolled back, readiness fails with
 * the reason, and a small probe file is written every few seconds until one
 * succeeds, so the store becomes writable again without a restart, even when
 * nothing tries to write in the meantime. The free space is also checked
 * every few seconds (statfs), so that a disk filling up while nothing writes
 * shows on /readyz before a write fails.
 */

/** Errors a full or read-only disk gives; any other write error stays fatal. */
const REFUSALS: Readonly<Record<string, string>> = {
  ENOSPC: "no space left on device",
  EDQUOT: "disk quota exceeded",
  EROFS: "read-only file system",
};

export function isDiskRefusal(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === "string" && code in REFUSALS;
}

export function describeRefusal(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code as string;
  return `${REFUSALS[code] ?? code} (${code})`;
}

export interface WriteHealthState {
  readonly ok: boolean;
  /** Why writes are refused, for /readyz and logs. */
  readonly reason?: string;
}

const PROBE = "a probe file";

/** Below this much free space (for unprivileged writers) the store reports itself unable to write. */
export const DEFAULT_MIN_FREE_BYTES = 1024 * 1024;

export class WriteHealth {
  readonly #root: string;
  readonly #probeMs: number;
  readonly #minFree: number;
  #lowSpace: string | undefined;
  #watch: NodeJS.Timeout | undefined;
  readonly #onProblem: (message: string) => void;
  readonly #onWritable: () => void;
  #reason: string | undefined;
  #refused = 0;
  #since = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  /** `onWritable`: the disk takes writes again (the store resumes its background writes). */
  constructor(root: string, probeIntervalMs: number, onProblem: (message: string) => void, onWritable: () => void, minFreeBytes = DEFAULT_MIN_FREE_BYTES) {
    this.#root = root;
    this.#probeMs = probeIntervalMs;
    this.#minFree = minFreeBytes;
    this.#onProblem = onProblem;
    this.#onWritable = onWritable;
  }

  get state(): WriteHealthState {
    const reason = this.#reason ?? this.#lowSpace;
    return reason === undefined ? { ok: true } : { ok: false, reason };
  }

  /** Checks the free space now and then every probe interval until closed. */
  async watchFreeSpace(): Promise<void> {
    await this.#checkFreeSpace();
    if (this.#closed) return;
    this.#watch = setTimeout(() => void this.watchFreeSpace(), this.#probeMs);
    this.#watch.unref();
  }

  async #checkFreeSpace(): Promise<void> {
    let free: number;
    try {
      const st = await statfs(this.#root);
      free = st.bavail * st.bsize;
    } catch {
      return; // not every file system answers statfs: writes still tell
    }
    if (free < this.#minFree) {
      if (this.#lowSpace === undefined) this.#onProblem(`store: only ${free} bytes free under ${this.#root} (below ${this.#minFree}); not ready until there is room`);
      this.#lowSpace = `no space left on device (ENOSPC): ${free} bytes free under ${this.#root}, below the ${this.#minFree} the store keeps for its writes`;
    } else if (this.#lowSpace !== undefined) {
      this.#lowSpace = undefined;
      this.#onProblem(`store: ${free} bytes free under ${this.#root} again`);
    }
  }

  /** A write failed with `err`: returns the error to give the writer (transient for a disk refusal). */
  refused(err: unknown, what: string): unknown {
    if (!isDiskRefusal(err)) return err;
    const reason = `${describeRefusal(err)} writing ${what} under ${this.#root}; writes are refused until it can write again`;
    if (this.#reason === undefined) {
      this.#since = Date.now();
      this.#onProblem(`store: ${reason}`);
    }
    this.#reason = reason;
    if (what !== PROBE) this.#refused++;
    this.#schedule();
    return new MeshsignError("ERR_STORE_UNAVAILABLE", `store write refused: ${describeRefusal(err)}`, { cause: err, retry: "transient" });
  }

  /** A write went through: the disk takes writes again. */
  succeeded(): void {
    if (this.#reason === undefined) return;
    this.#onProblem(`store: writable again after ${Math.round((Date.now() - this.#since) / 1000)} s; ${this.#refused} write(s) were refused meanwhile (each was rolled back and reported to its writer)`);
    this.#reason = undefined;
    this.#refused = 0;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#onWritable();
  }

  /** Writes and fsyncs a probe file; at open this finds a disk that is full already. */
  async probe(): Promise<boolean> {
    // Too little room to call the disk writable again, even if 4 KiB still fit: the store's next
    // round would fail at once, and the log would flap between "refused" and "writable again".
    if (this.#reason !== undefined && this.#lowSpace !== undefined) return false;
    const path = `${this.#root}/.write-probe`;
    try {
      await writeStoreFile(path, Buffer.alloc(4096), { fsync: true });
      await unlinkIfExists(path);
      this.succeeded();
      return true;
    } catch (err) {
      await unlinkIfExists(path).catch(() => {});
      if (!isDiskRefusal(err)) throw err;
      this.refused(err, PROBE);
      return false;
    }
  }

  close(): void {
    this.#closed = true;
    if (this.#watch !== undefined) clearTimeout(this.#watch);
    this.#watch = undefined;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#reason === undefined || this.#closed) return;
      this.probe().then(
        (ok) => {
          if (!ok) this.#schedule();
        },
        (err: unknown) => {
          this.#onProblem(`store: write probe failed: ${(err as Error).message}`);
          this.#schedule();
        },
      );
    }, this.#probeMs);
    this.#timer.unref();
  }
}
