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
 * A write torn by a crash can only leave its batch incomplete at the very end
 * of the last segment: that torn tail is cut off at open. Any other damage (a
 * bad checksum, bytes missing before the end, a missing segment) means
 * acknowledged writes may be gone, and opening refuses (lib/scan.ts).
 * Segments (`journal/<seq>.log`) are deleted once a checkpoint made the object
 * files durable.
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

/** A record read back from a segment, with where it sits. */
export interface DecodedRecord extends JournalEntry {
  /** Byte offset of the record's first byte in its segment. */
  readonly offset: number;
  /** 1-based position of the line in its segment. */
  readonly line: number;
}

/** A run of bytes that holds no valid record. */
export interface BadRegion {
  /** Byte offset where the damage starts. */
  readonly offset: number;
  readonly bytes: number;
  /** 1-based line number of its first line. */
  readonly line: number;
  /** Lines in it (an unterminated tail counts as one). */
  readonly lines: number;
  /** `checksum`: a complete line whose checksum or content is wrong; `unterminated`: bytes after the last newline. */
  readonly kind: "checksum" | "unterminated";
}

export interface DecodedSegment {
  /** Every valid record, including those after damage (the decoder resynchronizes on the next newline). */
  readonly records: DecodedRecord[];
  readonly bad: BadRegion[];
  readonly bytes: number;
}

/**
 * Parses one segment. Never throws on content: a line whose checksum does not
 * match, or whose JSON is not a record, becomes a bad region, and decoding goes
 * on with the next line so that what follows damage is not thrown away.
 */
export function decodeSegment(buf: Uint8Array): DecodedSegment {
  const bytes = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const records: DecodedRecord[] = [];
  const bad: BadRegion[] = [];
  const markBad = (offset: number, end: number, line: number, kind: BadRegion["kind"]): void => {
    const last = bad.at(-1);
    if (last !== undefined && last.offset + last.bytes === offset && last.kind === "checksum") {
      bad[bad.length - 1] = { offset: last.offset, bytes: end - last.offset, line: last.line, lines: last.lines + 1, kind };
    } else {
      bad.push({ offset, bytes: end - offset, line, lines: 1, kind });
    }
  };
  let pos = 0;
  let line = 0;
  while (pos < bytes.length) {
    line++;
    const nl = bytes.indexOf(0x0a, pos);
    if (nl < 0) {
      markBad(pos, bytes.length, line, "unterminated");
      break;
    }
    const entry = decodeLine(bytes.subarray(pos, nl));
    if (entry === undefined) markBad(pos, nl + 1, line, "checksum");
    else records.push({ ...entry, offset: pos, line });
    pos = nl + 1;
  }
  return { records, bad, bytes: bytes.length };
}

function decodeLine(raw: Buffer): JournalEntry | undefined {
  if (raw.length < 10 || raw[8] !== 0x20) return undefined;
  const json = raw.subarray(9);
  const sum = Number.parseInt(raw.subarray(0, 8).toString("latin1"), 16);
  if (!/^[0-9a-f]{8}$/.test(raw.subarray(0, 8).toString("latin1")) || sum !== crc32(json)) return undefined;
  let w: WireRecord;
  try {
    w = JSON.parse(json.toString("utf8")) as WireRecord;
  } catch {
    return undefined;
  }
  if (!isWireRecord(w)) return undefined;
  return {
    type: Object.freeze({ group: w.t.g, version: w.t.v, kind: w.t.k, plural: w.t.p, namespaced: w.t.n }),
    namespace: w.ns,
    name: w.name,
    object: w.o,
    resourceVersion: w.rv,
  };
}

function isWireRecord(w: unknown): w is WireRecord {
  if (typeof w !== "object" || w === null) return false;
  const r = w as Partial<WireRecord>;
  const t = r.t;
  return (
    Number.isSafeInteger(r.rv) &&
    (r.rv as number) > 0 &&
    typeof t === "object" &&
    t !== null &&
    typeof t.g === "string" &&
    typeof t.v === "string" &&
    typeof t.k === "string" &&
    typeof t.p === "string" &&
    typeof t.n === "boolean" &&
    (r.ns === undefined || typeof r.ns === "string") &&
    typeof r.name === "string" &&
    (r.o === null || (typeof r.o === "object" && r.o !== undefined && typeof (r.o as KubeObject).metadata?.name === "string"))
  );
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

/** One segment as read at open. */
export interface ReadSegment extends DecodedSegment {
  readonly seq: number;
  readonly path: string;
}

/** Reads and decodes every segment, in order. */
export async function readJournal(dir: string): Promise<ReadSegment[]> {
  const out: ReadSegment[] = [];
  for (const seq of await listSegments(dir)) {
    const path = segmentPath(dir, seq);
    out.push({ ...decodeSegment(await readFile(path)), seq, path });
  }
  return out;
}

/** Cuts a torn tail off a segment (the one repair done without asking) and makes the cut durable. */
export async function truncateSegment(path: string, length: number): Promise<void> {
  const fh = await open(path, constants.O_WRONLY);
  try {
    await fh.truncate(length);
    await fh.datasync();
  } finally {
    await fh.close();
  }
}

/** The append side: one open segment at a time. */
export class JournalWriter {
  readonly #dir: string;
  readonly #maxSegmentBytes: number;
  #seq: number;
  #fh: FileHandle | undefined;
  #size = 0;
  /** A failed append may have left bytes after `#size`. */
  #dirtyTail = false;

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

  /**
   * Appends a batch durably: one write, one fdatasync. When either fails (disk
   * full, read-only, I/O error) the segment is cut back to its last good length
   * before anything else is appended, so a refused batch never leaves bytes
   * that later records would follow; until that cut succeeds every append fails.
   */
  async append(records: readonly CommitRecord[]): Promise<void> {
    if (this.#fh === undefined) await this.#openSegment();
    const fh = this.#fh as FileHandle;
    if (this.#dirtyTail) {
      await fh.truncate(this.#size);
      await fh.datasync();
      this.#dirtyTail = false;
    }
    const buf = Buffer.from(records.map(encodeRecord).join(""), "utf8");
    try {
      let off = 0;
      while (off < buf.length) {
        const { bytesWritten } = await fh.write(buf, off, buf.length - off);
        off += bytesWritten;
      }
      await fh.datasync();
    } catch (err) {
      this.#dirtyTail = true;
      try {
        await fh.truncate(this.#size);
        await fh.datasync();
        this.#dirtyTail = false;
      } catch {
        // Retried before the next append; the write's own error is the one to report.
      }
      throw err;
    }
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
    const path = segmentPath(this.#dir, this.#seq);
    const fh = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_APPEND, FILE_MODE);
    try {
      await fsyncDir(this.#dir); // the new segment's directory entry must survive too
    } catch (err) {
      // Not used unless its name is durable; removed (it is empty) so that the next append creates it again.
      await fh.close().catch(() => {});
      await unlinkIfExists(path).catch(() => {});
      throw err;
    }
    this.#fh = fh;
    this.#size = 0;
  }
}
