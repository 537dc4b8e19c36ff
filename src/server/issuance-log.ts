import { appendFileSync, existsSync, readFileSync, renameSync, statSync } from "node:fs";

/**
 * The issuance history behind `meshsign issuances`: a bounded ring of the
 * most recent workload certificates in memory and, in standalone mode, an
 * append-only JSON-lines file in the data dir that survives restarts.
 *
 * The file is rotated at a size cap (the current file becomes `<file>.1`,
 * replacing the previous one), so it never holds more than twice the cap;
 * at start the ring is refilled from both files. Lines are written in batches
 * (every {@link FLUSH_MS}), so a crash can lose the last fraction of a
 * second of history; the audit log line each issuance also writes is the
 * record of account. Records never hold keys, CSRs or tokens. A torn last
 * line (a crash mid-write) and unreadable lines are skipped.
 *
 * In Kubernetes mode there is no file: the data dir is not persistent there,
 * and pods have no shared disk; the audit log lines (collected by the
 * cluster's log pipeline) are the durable trail and the ring covers the
 * process's lifetime.
 */

/** One issued workload certificate, as the admin API lists it. Never keys, CSRs or tokens. */
export interface IssuanceRecord {
  readonly identity: string;
  /** Hex serial of the leaf. */
  readonly serial: string;
  /** Milliseconds since the epoch. */
  readonly notAfter: number;
  readonly issuedAt: number;
  readonly keyAlgorithm: string;
  /** The authenticator that accepted the caller. */
  readonly authenticator?: string;
  /** The caller's address (host:port). */
  readonly peer?: string;
}

/** Records kept in memory (and refilled at start). */
export const ISSUANCE_RING_CAPACITY = 1000;
/** Size at which the history file is rotated. */
export const ISSUANCE_FILE_MAX_BYTES = 4 << 20;
/** Pending lines are appended this often. */
export const FLUSH_MS = 100;

export interface IssuanceLogOptions {
  readonly capacity?: number;
  /** The history file; none keeps the history in memory only. */
  readonly file?: string;
  readonly maxFileBytes?: number;
  /** Called when the file cannot be written (the ring keeps working). */
  readonly onError?: (err: unknown) => void;
}

export class IssuanceLog {
  readonly capacity: number;
  private readonly ring: (IssuanceRecord | undefined)[];
  private next = 0;
  private count = 0;
  private readonly file: string | undefined;
  private readonly maxFileBytes: number;
  private fileBytes = 0;
  private pending: string[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: IssuanceLogOptions = {}) {
    this.capacity = options.capacity ?? ISSUANCE_RING_CAPACITY;
    this.ring = new Array(this.capacity);
    this.file = options.file;
    this.maxFileBytes = options.maxFileBytes ?? ISSUANCE_FILE_MAX_BYTES;
    if (this.file) this.load(this.file);
  }

  add(record: IssuanceRecord): void {
    this.remember(record);
    if (!this.file) return;
    this.pending.push(`${JSON.stringify(record)}\n`);
    this.timer ??= setTimeout(() => this.flush(), FLUSH_MS).unref();
  }

  /** Newest first, at most `limit`. */
  recent(limit: number): IssuanceRecord[] {
    const n = Math.min(limit, this.count);
    const out: IssuanceRecord[] = [];
    for (let i = 1; i <= n; i++) {
      const r = this.ring[(this.next - i + this.capacity) % this.capacity];
      if (r) out.push(r);
    }
    return out;
  }

  /** Writes what is pending (also called on shutdown). */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.file || this.pending.length === 0) return;
    const text = this.pending.join("");
    this.pending = [];
    try {
      if (this.fileBytes > 0 && this.fileBytes + Buffer.byteLength(text) > this.maxFileBytes) {
        renameSync(this.file, `${this.file}.1`);
        this.fileBytes = 0;
      }
      appendFileSync(this.file, text, { mode: 0o600 });
      this.fileBytes += Buffer.byteLength(text);
    } catch (err) {
      this.options.onError?.(err);
    }
  }

  private remember(record: IssuanceRecord): void {
    this.ring[this.next] = record;
    this.next = (this.next + 1) % this.capacity;
    if (this.count < this.capacity) this.count++;
  }

  /** Refills the ring from the rotated file, then the current one (oldest first). */
  private load(file: string): void {
    for (const f of [`${file}.1`, file]) {
      if (!existsSync(f)) continue;
      for (const line of readFileSync(f, "utf8").split("\n")) {
        const record = parseRecord(line);
        if (record) this.remember(record);
      }
    }
    this.fileBytes = existsSync(file) ? statSync(file).size : 0;
  }
}

function parseRecord(line: string): IssuanceRecord | undefined {
  if (!line) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof v !== "object" || v === null) return undefined;
  const r = v as Record<string, unknown>;
  if (
    typeof r.identity !== "string" ||
    typeof r.serial !== "string" ||
    typeof r.notAfter !== "number" ||
    typeof r.issuedAt !== "number" ||
    typeof r.keyAlgorithm !== "string"
  ) {
    return undefined;
  }
  return {
    identity: r.identity,
    serial: r.serial,
    notAfter: r.notAfter,
    issuedAt: r.issuedAt,
    keyAlgorithm: r.keyAlgorithm,
    ...(typeof r.authenticator === "string" ? { authenticator: r.authenticator } : {}),
    ...(typeof r.peer === "string" ? { peer: r.peer } : {}),
  };
}
