import { MeshsignError } from "../../../errors/index.js";
import { unlinkIfExists, writeStoreFile } from "./files.js";

/**
 * Whether the store can write right now. A disk that is full (ENOSPC), over
 * quota (EDQUOT) or remounted read-only (EROFS) refuses writes without
 * breaking anything: the refused batch is rolled back, readiness fails with
 * the reason, and a small probe file is written every few seconds until one
 * succeeds, so the store becomes writable again without a restart, even when
 * nothing tries to write in the meantime.
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

export class WriteHealth {
  readonly #root: string;
  readonly #probeMs: number;
  readonly #onProblem: (message: string) => void;
  readonly #onWritable: () => void;
  #reason: string | undefined;
  #refused = 0;
  #since = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  /** `onWritable`: the disk takes writes again (the store resumes its background writes). */
  constructor(root: string, probeIntervalMs: number, onProblem: (message: string) => void, onWritable: () => void) {
    this.#root = root;
    this.#probeMs = probeIntervalMs;
    this.#onProblem = onProblem;
    this.#onWritable = onWritable;
  }

  get state(): WriteHealthState {
    return this.#reason === undefined ? { ok: true } : { ok: false, reason: this.#reason };
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
    this.#refused++;
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
    const path = `${this.#root}/.write-probe`;
    try {
      await writeStoreFile(path, Buffer.alloc(4096), { fsync: true });
      await unlinkIfExists(path);
      this.succeeded();
      return true;
    } catch (err) {
      await unlinkIfExists(path).catch(() => {});
      if (!isDiskRefusal(err)) throw err;
      this.refused(err, "a probe file");
      return false;
    }
  }

  close(): void {
    this.#closed = true;
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
