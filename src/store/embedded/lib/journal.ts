import { constants } from "node:fs";
import { type FileHandle, open, readdir, readFile } from "node:fs/promises";
import { crc32 } from "node:zlib";
import { fsyncDir } from "../../../fsutil/index.js";
import type { KubeObject, ResourceType } from "../../types.js";
import type { CommitRecord } from "../../memory/memory-store.js";
import { FILE_MODE, unlinkIfExists } from "./files.js";

/**
 * The write-ahead journal: what makes an acknowledged write durable. Each
 * committed batch is appended to the current segment as one write followed by
 * one fdatasync (group commit), one line per change:
 *
 *     <crc32 of json, 8 hex digits> <json>\n
 *
 * Replay stops at the first line whose checksum does not match (a write torn
 * by a crash, never acknowledged). Segments (`journal/<seq>.log`) are deleted
 * once a checkpoint made the object files durable.
 */

export interface JournalEntry {
  readonly type: ResourceType;
  readonly namespace: string | undefined;
  readonly name: string;
  readonly object: KubeObject | null;
  readonly resourceVersion: number;
}

interface WireRecord {
  rv: number;
  t: { g: string; v: string; k: string; p: string; n: boolean };
  ns?: string;
  name: string;
  o: KubeObject | null;
}

export function encodeRecord(r: CommitRecord): string {
  const wire: WireRecord = {
    rv: r.resourceVersion,
    t: { g: r.type.group, v: r.type.version, k: r.type.kind, p: r.type.plural, n: r.type.namespaced },
    ...(r.namespace === undefined ? {} : { ns: r.namespace }),
    name: r.name,
    o: r.object,
  };
  const json = JSON.stringify(wire);
  return `${crc32(json).toString(16).padStart(8, "0")} ${json}\n`;
}

export interface ReplayResult {
  readonly entries: JournalEntry[];
  /** Human-readable notes on torn tails, for the log. */
  readonly problems: string[];
}

/** Parses one segment's text, stopping at the first torn or corrupt line. */
export function decodeSegment(text: string, label: string): ReplayResult {
  const entries: JournalEntry[] = [];
  const problems: string[] = [];
  let pos = 0;
  let line = 0;
  while (pos < text.length) {
    const nl = text.indexOf("\n", pos);
    line++;
    if (nl < 0) {
      problems.push(`${label}: ignored an unterminated last record (a write torn by a crash, never acknowledged)`);
      break;
    }
    const raw = text.slice(pos, nl);
    pos = nl + 1;
    const space = raw.indexOf(" ");
    const json = raw.slice(space + 1);
    if (space !== 8 || Number.parseInt(raw.slice(0, 8), 16) !== crc32(json)) {
      problems.push(`${label}: checksum mismatch at record ${line}; ignored it and the rest of the segment`);
      break;
    }
    const w = JSON.parse(json) as WireRecord;
    entries.push({
      type: Object.freeze({ group: w.t.g, version: w.t.v, kind: w.t.k, plural: w.t.p, namespaced: w.t.n }),
      namespace: w.ns,
      name: w.name,
      object: w.o,
      resourceVersion: w.rv,
    });
  }
  return { entries, problems };
}

const SEGMENT = /^(\d{16})\.log$/;

export async function listSegments(dir: string): Promise<number[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
  return names
    .map((n) => SEGMENT.exec(n)?.[1])
    .filter((s): s is string => s !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
}

export function segmentPath(dir: string, seq: number): string {
  return `${dir}/${String(seq).padStart(16, "0")}.log`;
}

/** Reads every segment in order. */
export async function replayJournal(dir: string): Promise<ReplayResult & { lastSegment: number }> {
  const entries: JournalEntry[] = [];
  const problems: string[] = [];
  const segments = await listSegments(dir);
  for (const seq of segments) {
    const text = await readFile(segmentPath(dir, seq), "utf8");
    const r = decodeSegment(text, `journal segment ${seq}`);
    entries.push(...r.entries);
    problems.push(...r.problems);
  }
  return { entries, problems, lastSegment: segments.at(-1) ?? 0 };
}

/** The append side: one open segment at a time. */
export class JournalWriter {
  readonly #dir: string;
  readonly #maxSegmentBytes: number;
  #seq: number;
  #fh: FileHandle | undefined;
  #size = 0;

  constructor(dir: string, firstSeq: number, maxSegmentBytes: number) {
    this.#dir = dir;
    this.#seq = firstSeq;
    this.#maxSegmentBytes = maxSegmentBytes;
  }

  /** The segment new batches go to; every lower one may be checkpointed away. */
  get currentSegment(): number {
    return this.#seq;
  }

  get full(): boolean {
    return this.#size >= this.#maxSegmentBytes;
  }

  /** Appends a batch durably: one write, one fdatasync. */
  async append(records: readonly CommitRecord[]): Promise<void> {
    if (this.#fh === undefined) await this.#openSegment();
    const fh = this.#fh as FileHandle;
    const buf = Buffer.from(records.map(encodeRecord).join(""), "utf8");
    let off = 0;
    while (off < buf.length) {
      const { bytesWritten } = await fh.write(buf, off, buf.length - off);
      off += bytesWritten;
    }
    await fh.datasync();
    this.#size += buf.length;
  }

  /** Starts a new segment for the next batches (the caller checkpoints the old ones). */
  async rotate(): Promise<void> {
    await this.#fh?.close();
    this.#fh = undefined;
    this.#seq++;
    this.#size = 0;
    await this.#openSegment();
  }

  async close(): Promise<void> {
    await this.#fh?.close();
    this.#fh = undefined;
  }

  /** Deletes segments below `seq` (their content is in durable object files now). */
  async dropBelow(seq: number): Promise<void> {
    for (const s of await listSegments(this.#dir)) if (s < seq) await unlinkIfExists(segmentPath(this.#dir, s));
    await fsyncDir(this.#dir);
  }

  async #openSegment(): Promise<void> {
    // Always a fresh file (O_EXCL): appending behind an old torn tail would hide the new records from replay.
    this.#fh = await open(segmentPath(this.#dir, this.#seq), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_APPEND, FILE_MODE);
    this.#size = 0;
    await fsyncDir(this.#dir); // the new segment's directory entry must survive too
  }
}
