import { readFile } from "node:fs/promises";
import { objectKey, typeId } from "../../memory/lib/keys.js";
import type { KubeObject, ResourceType } from "../../types.js";
import { type BadRegion, type DecodedRecord, type ReadSegment, readJournal } from "./journal.js";
import { type DamagedObjectFile, loadObjects } from "./objects.js";

/**
 * What is on disk, read without changing anything, and what is wrong with it.
 * The object files and the journal hold the same objects (a file is written
 * from a journal record after that record was acknowledged, and a segment is
 * dropped only once the files it covers are fsynced), so each is checked
 * against the other: an object file newer than the journal's last record
 * proves the journal lost acknowledged records, and a journal record for an
 * object proves its newest version is in the journal.
 *
 * The one kind of damage repaired without asking is a torn tail: only the
 * last record of the last segment incomplete, with no object file newer than
 * the journal (a batch cut short by a crash, never acknowledged).
 */

/** Damage to the journal that may have cost acknowledged writes. */
export interface JournalDamage {
  readonly segment: number;
  readonly path: string;
  /** Byte offset of the damage in the segment (for a missing segment: 0). */
  readonly offset: number;
  readonly bytes: number;
  /** 1-based line of the first damaged record. */
  readonly line: number;
  readonly lines: number;
  readonly kind: "checksum" | "unterminated" | "missing-segment" | "lost-tail";
  /** Valid records after the damage (this segment and the later ones). */
  readonly recordsAfter: number;
  /** resourceVersions that no valid journal record holds around the damage, when bounded on both sides. */
  readonly missing?: { readonly from: number; readonly to: number };
  readonly message: string;
}

export interface TornTail {
  readonly segment: number;
  readonly path: string;
  readonly offset: number;
  readonly bytes: number;
}

export interface StoreScan {
  readonly root: string;
  readonly metaRv: number;
  /** Why META.json could not be read (missing is fine: a new store). */
  readonly metaProblem: string | undefined;
  readonly objects: { type: ResourceType; object: KubeObject; path: string }[];
  readonly damagedObjects: DamagedObjectFile[];
  readonly segments: ReadSegment[];
  readonly journalDamage: JournalDamage[];
  readonly tornTail: TornTail | undefined;
  readonly tempFiles: string[];
}

/** True when opening must refuse: anything but a torn tail and leftover temporary files. */
export function isDamaged(scan: StoreScan): boolean {
  return scan.metaProblem !== undefined || scan.damagedObjects.length > 0 || scan.journalDamage.length > 0;
}

export async function scanStore(root: string): Promise<StoreScan> {
  const loaded = await loadObjects(root);
  const segments = await readJournal(`${root}/journal`);
  // Read after the journal: a checkpoint writes META.json before it drops segments, so next to a
  // running writer, files and journal read earlier are never newer than both the journal and this.
  let metaRv = 0;
  let metaProblem: string | undefined;
  let metaFound = true;
  try {
    const meta = JSON.parse(await readFile(`${root}/META.json`, "utf8")) as { resourceVersion?: unknown };
    if (typeof meta?.resourceVersion === "number" && Number.isSafeInteger(meta.resourceVersion)) metaRv = meta.resourceVersion;
    else metaProblem = `${root}/META.json has no resourceVersion`;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") metaFound = false;
    else metaProblem = `${root}/META.json is unreadable (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
  }
  // A checkpoint's version to hold the object files against when the journal has no record (none without a readable META.json).
  const checkpointRv = metaFound && metaProblem === undefined ? metaRv : undefined;
  const { damage, tornTail } = assessJournal(segments, maxRv(loaded.objects), checkpointRv, `${root}/journal`);
  return { root, metaRv, metaProblem, objects: loaded.objects, damagedObjects: loaded.damaged, segments, journalDamage: damage, tornTail, tempFiles: loaded.tempFiles };
}

function maxRv(objects: readonly { object: KubeObject }[]): number {
  let rv = 0;
  for (const o of objects) rv = Math.max(rv, Number(o.object.metadata.resourceVersion) || 0);
  return rv;
}

function assessJournal(segments: readonly ReadSegment[], objectsRv: number, metaRv: number | undefined, journalDir: string): { damage: JournalDamage[]; tornTail: TornTail | undefined } {
  const damage: JournalDamage[] = [];
  let tornTail: TornTail | undefined;
  // Valid records after position (segment index i, record index j): for the "followed by" counts.
  const totals = segments.map((s) => s.records.length);
  const after = (i: number, offset: number): number => {
    let n = segments[i]?.records.filter((r) => r.offset > offset).length ?? 0;
    for (let k = i + 1; k < segments.length; k++) n += totals[k] ?? 0;
    return n;
  };
  const rvBefore = (i: number, offset: number): number | undefined => {
    const here = segments[i]?.records.filter((r) => r.offset < offset).at(-1);
    if (here !== undefined) return here.resourceVersion;
    for (let k = i - 1; k >= 0; k--) {
      const last = segments[k]?.records.at(-1);
      if (last !== undefined) return last.resourceVersion;
    }
    return undefined;
  };
  const rvAfter = (i: number, offset: number): number | undefined => {
    const here = segments[i]?.records.find((r) => r.offset > offset);
    if (here !== undefined) return here.resourceVersion;
    for (let k = i + 1; k < segments.length; k++) {
      const first = segments[k]?.records[0];
      if (first !== undefined) return first.resourceVersion;
    }
    return undefined;
  };
  const missingAround = (i: number, offset: number): { from: number; to: number } | undefined => {
    const before = rvBefore(i, offset);
    const next = rvAfter(i, offset);
    return before !== undefined && next !== undefined && next > before + 1 ? { from: before + 1, to: next - 1 } : undefined;
  };

  segments.forEach((seg, i) => {
    const prev = segments[i - 1];
    if (prev !== undefined && seg.seq !== prev.seq + 1) {
      const missing = missingAround(i, -1);
      damage.push({
        segment: prev.seq + 1,
        path: seg.path.replace(/\d{16}\.log$/, `${String(prev.seq + 1).padStart(16, "0")}.log`),
        offset: 0,
        bytes: 0,
        line: 0,
        lines: 0,
        kind: "missing-segment",
        recordsAfter: after(i, -1),
        ...(missing === undefined ? {} : { missing }),
        message: `journal segments ${prev.seq + 1}..${seg.seq - 1} are missing (${seg.seq - prev.seq - 1} file(s)) with ${after(i, -1)} records after them${describeMissing(missing)}`,
      });
    }
    const last = i === segments.length - 1;
    seg.bad.forEach((b, j) => {
      const recordsAfter = after(i, b.offset);
      if (last && j === seg.bad.length - 1 && b.lines === 1 && b.offset + b.bytes === seg.bytes && recordsAfter === 0) {
        tornTail = { segment: seg.seq, path: seg.path, offset: b.offset, bytes: b.bytes };
        return;
      }
      const missing = missingAround(i, b.offset);
      damage.push({ segment: seg.seq, path: seg.path, offset: b.offset, bytes: b.bytes, line: b.line, lines: b.lines, kind: b.kind, recordsAfter, ...(missing === undefined ? {} : { missing }), message: describeBad(seg, b, recordsAfter, missing) });
    });
  });

  // Cross-check: every object file was written from an acknowledged journal record. One newer
  // than the journal's last record means the journal lost acknowledged records at its end.
  const lastSeg = segments.findLast((s) => s.records.length > 0);
  const lastRecord = lastSeg?.records.at(-1);
  if (lastSeg !== undefined && lastRecord !== undefined && objectsRv > lastRecord.resourceVersion) {
    const tail = segments.at(-1) as ReadSegment;
    const end = tornTail?.offset ?? tail.bytes;
    damage.push({
      segment: tail.seq,
      path: tail.path,
      offset: end,
      bytes: tornTail?.bytes ?? 0,
      line: tail.records.length + 1,
      lines: tornTail === undefined ? 0 : 1,
      kind: "lost-tail",
      recordsAfter: 0,
      missing: { from: lastRecord.resourceVersion + 1, to: objectsRv },
      message: `journal segment ${tail.seq} (${tail.path}) ends at offset ${end}${tornTail === undefined ? "" : ` inside an incomplete record of ${tornTail.bytes} bytes`} with resourceVersion ${lastRecord.resourceVersion}, but object files hold versions up to ${objectsRv}: acknowledged records were lost from its end (truncated?)`,
    });
    tornTail = undefined;
  } else if (lastRecord === undefined && metaRv !== undefined && objectsRv > metaRv) {
    // No record at all: the last checkpoint (META.json) vouches for every object file, and a file
    // newer than it was written from a record the journal has lost whole (truncated to nothing, or
    // its segments removed), with whatever else was acknowledged after that checkpoint.
    const tail = segments.at(-1);
    damage.push({
      segment: tail?.seq ?? 0,
      path: tail?.path ?? journalDir,
      offset: tornTail?.offset ?? 0,
      bytes: tornTail?.bytes ?? 0,
      line: 1,
      lines: tornTail === undefined ? 0 : 1,
      kind: "lost-tail",
      recordsAfter: 0,
      missing: { from: metaRv + 1, to: objectsRv },
      message: `the journal (${tail?.path ?? journalDir}) holds no record, and the last checkpoint (META.json) is at resourceVersion ${metaRv}, but object files hold versions up to ${objectsRv}: acknowledged records were lost from its end (truncated or removed?)`,
    });
    tornTail = undefined;
  }
  return { damage, tornTail };
}

function describeBad(seg: ReadSegment, b: BadRegion, recordsAfter: number, missing: { from: number; to: number } | undefined): string {
  const what =
    b.kind === "unterminated"
      ? `an incomplete record (${b.bytes} bytes without an end of line) at offset ${b.offset}, line ${b.line}`
      : `${b.lines === 1 ? "a record" : `${b.lines} records`} failing the checksum at offset ${b.offset}, line ${b.line} (${b.bytes} bytes)`;
  return `journal segment ${seg.seq} (${seg.path}): ${what}, followed by ${recordsAfter} valid record(s)${describeMissing(missing)}`;
}

function describeMissing(missing: { from: number; to: number } | undefined): string {
  if (missing === undefined) return "";
  const n = missing.to - missing.from + 1;
  return `; ${n} acknowledged version(s) missing (resourceVersion ${missing.from === missing.to ? missing.from : `${missing.from}..${missing.to}`})`;
}

/** One object as the merge of every copy found. */
export interface MergedObject {
  readonly type: ResourceType;
  readonly namespace: string | undefined;
  readonly name: string;
  /** null: deleted. */
  readonly object: KubeObject | null;
  readonly resourceVersion: number;
  /** Which copy won. */
  readonly from: "file" | "journal";
}

/**
 * Every object at its newest version among the object files and every valid
 * journal record (also those after damage): a copy wins only with a higher
 * resourceVersion, so an older journal record never overwrites a newer file.
 */
export function mergeCopies(scan: Pick<StoreScan, "objects" | "segments">): Map<string, MergedObject> {
  const out = new Map<string, MergedObject>();
  for (const o of scan.objects) {
    const ns = o.type.namespaced ? o.object.metadata.namespace : undefined;
    const name = o.object.metadata.name ?? "";
    out.set(keyOf(o.type, ns, name), { type: o.type, namespace: ns, name, object: o.object, resourceVersion: Number(o.object.metadata.resourceVersion) || 0, from: "file" });
  }
  for (const seg of scan.segments) {
    for (const r of seg.records) {
      const key = keyOf(r.type, r.namespace, r.name);
      const have = out.get(key);
      if (have !== undefined && have.resourceVersion >= r.resourceVersion) continue;
      out.set(key, recordToMerged(r));
    }
  }
  return out;
}

function recordToMerged(r: DecodedRecord): MergedObject {
  return { type: r.type, namespace: r.namespace, name: r.name, object: r.object, resourceVersion: r.resourceVersion, from: "journal" };
}

export function keyOf(type: ResourceType, namespace: string | undefined, name: string): string {
  return `${typeId(type)}|${objectKey(type, namespace, name)}`;
}

/** A short statement of what is wrong and the way out, for a refused open. */
export function damageSummary(scan: StoreScan, dataDir: string): string {
  const items = [
    ...(scan.metaProblem === undefined ? [] : [scan.metaProblem]),
    ...scan.damagedObjects.map((d) => `object file ${d.path} is damaged: ${d.reason} (${d.bytes} bytes)`),
    ...scan.journalDamage.map((d) => d.message),
  ];
  const shown = items.slice(0, 5).join("; ");
  const more = items.length > 5 ? `; and ${items.length - 5} more` : "";
  return `the store ${scan.root} is damaged (${scan.damagedObjects.length} object file(s), ${scan.journalDamage.length} journal problem(s)); meshsign will not start on it, so that nothing acknowledged is lost or regenerated: ${shown}${more}. Run \`meshsign store check --data-dir ${dataDir}\` for the full report, then \`meshsign store recover --data-dir ${dataDir}\` to move the damaged files to ${scan.root}/quarantine/ and rebuild every object from its surviving copies`;
}
