import { mkdir, rename, stat } from "node:fs/promises";
import { dirname, relative } from "node:path";
import { MeshsignError } from "../../errors/index.js";
import { fsyncDir } from "../../fsutil/index.js";
import { DIR_MODE, unlinkIfExists, writeStoreFile } from "./lib/files.js";
import type { TornTail, JournalDamage } from "./lib/scan.js";
import { isDamaged, keyOf, mergeCopies, scanStore, type StoreScan } from "./lib/scan.js";
import { acquireStoreLock } from "./lib/lock.js";
import { objectDir, objectPath, serializeObject, type DamagedObjectFile } from "./lib/objects.js";

/**
 * `meshsign store check` and `meshsign store recover`: the way out of a
 * damaged embedded store, for an operator (meshsign itself refuses to open
 * one, see embedded-store.ts).
 *
 * Recovery never deletes what it cannot read: damaged files (and, when the
 * journal is damaged, every journal segment, so the evidence stays together)
 * are moved to `<store>/quarantine/<timestamp>/` under their relative path.
 * Each object is rebuilt from the newest of all its surviving copies (its
 * object file and every valid journal record, also those after damage).
 * What no copy holds is reported as lost; an object whose only copy was a
 * damaged file is lost for sure, and recovery refuses to proceed over it
 * unless the operator accepts the loss (a lost Secret means its Certificate is
 * issued again, with a new key).
 */

/** A damaged object file and what recovery can do about it. */
export interface DamagedObjectReport extends DamagedObjectFile {
  /** The surviving copy recovery would use, if any (from the journal). */
  readonly survivingResourceVersion: number | undefined;
  /** The journal says the object was deleted later: nothing to restore. */
  readonly deletedLater: boolean;
}

export interface StoreCheckReport {
  readonly store: string;
  readonly damaged: boolean;
  readonly objectFiles: number;
  readonly journalSegments: number;
  readonly journalRecords: number;
  readonly journalBytes: number;
  readonly metaProblem: string | undefined;
  readonly damagedObjects: DamagedObjectReport[];
  readonly journalDamage: JournalDamage[];
  /** A torn last record: repaired by the next start without asking. */
  readonly tornTail: TornTail | undefined;
  readonly tempFiles: number;
  /**
   * Acknowledged versions (resourceVersions) that neither the journal nor any object file holds:
   * each was either superseded by a later version of its object (harmless) or is lost; which
   * object it belonged to is unknowable.
   */
  readonly missingVersions: number;
  /** Objects known to exist whose every copy is gone: `<group>/<plural> <ns/name>`. */
  readonly lostObjects: string[];
}

/** Reads the store under `<dataDir>/store` without changing anything. Safe next to a running meshsign. */
export async function checkStore(dataDir: string): Promise<StoreCheckReport> {
  // A running writer may drop a journal segment between our listing and our read: retry.
  for (let attempt = 1; ; attempt++) {
    try {
      return report(await scanStore(`${dataDir}/store`));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT" || attempt >= 5) throw err;
    }
  }
}

function report(scan: StoreScan): StoreCheckReport {
  const merged = mergeCopies(scan);
  const damagedObjects = scan.damagedObjects.map((d): DamagedObjectReport => {
    const m = merged.get(damagedKey(d));
    return { ...d, survivingResourceVersion: m?.object === null ? undefined : m?.resourceVersion, deletedLater: m !== undefined && m.object === null };
  });
  // A missing version is found again when an object file holds it.
  const fileRvs = new Set(scan.objects.map((o) => Number(o.object.metadata.resourceVersion)));
  let missingVersions = 0;
  for (const d of scan.journalDamage) {
    if (d.missing === undefined) continue;
    for (let rv = d.missing.from; rv <= d.missing.to; rv++) if (!fileRvs.has(rv)) missingVersions++;
  }
  return {
    store: scan.root,
    damaged: isDamaged(scan),
    objectFiles: scan.objects.length,
    journalSegments: scan.segments.length,
    journalRecords: scan.segments.reduce((n, s) => n + s.records.length, 0),
    journalBytes: scan.segments.reduce((n, s) => n + s.bytes, 0),
    metaProblem: scan.metaProblem,
    damagedObjects,
    journalDamage: scan.journalDamage,
    tornTail: scan.tornTail,
    tempFiles: scan.tempFiles.length,
    missingVersions,
    lostObjects: damagedObjects.filter((d) => d.survivingResourceVersion === undefined && !d.deletedLater).map(describeObject),
  };
}

function damagedKey(d: DamagedObjectFile): string {
  return `${d.group}/${d.plural}|${d.namespace === undefined ? d.name : `${d.namespace}/${d.name}`}`;
}

function describeObject(d: DamagedObjectFile): string {
  return `${d.group}/${d.plural} ${d.namespace === undefined ? d.name : `${d.namespace}/${d.name}`}`;
}

export interface RecoverOptions {
  /** Proceed even when objects are lost for good (their only copy was a damaged file). */
  readonly acceptLoss?: boolean;
  /** For the quarantine folder's name. Default: now. */
  readonly now?: Date;
}

export interface RecoverResult extends StoreCheckReport {
  /** Where the damaged files went; undefined when there was nothing to recover. */
  readonly quarantine: string | undefined;
  /** Files moved there, relative to the store. */
  readonly quarantined: string[];
  /** Objects written back from a surviving copy. */
  readonly rebuilt: number;
}

/**
 * Quarantines what is damaged and rebuilds every object from its surviving
 * copies. Takes the store's lock: meshsign must not be running on it.
 */
export async function recoverStore(dataDir: string, options: RecoverOptions = {}): Promise<RecoverResult> {
  const root = `${dataDir}/store`;
  await stat(root).catch((err: unknown) => {
    throw new MeshsignError("ERR_STORE_UNAVAILABLE", `no store at ${root}`, { cause: err });
  });
  const lock = await acquireStoreLock(root);
  try {
    const scan = await scanStore(root);
    const checked = report(scan);
    if (!checked.damaged) return { ...checked, quarantine: undefined, quarantined: [], rebuilt: 0 };
    if (checked.lostObjects.length > 0 && options.acceptLoss !== true) {
      throw new MeshsignError(
        "ERR_STORE_UNAVAILABLE",
        `${checked.lostObjects.length} object(s) have no surviving copy: ${checked.lostObjects.join(", ")}. Restore them from a backup, or run again with --accept-loss to recover the rest without them (a lost Secret's Certificate is then issued again with a new key). Nothing was changed`,
        { detail: { lost: checked.lostObjects } },
      );
    }
    const stamp = (options.now ?? new Date()).toISOString().replace(/[:.]/g, "-");
    const quarantine = `${root}/quarantine/${stamp}`;
    const quarantined: string[] = [];
    const move = async (path: string): Promise<void> => {
      const rel = relative(root, path);
      const to = `${quarantine}/${rel}`;
      await mkdir(dirname(to), { recursive: true, mode: DIR_MODE });
      await rename(path, to);
      await fsyncDir(dirname(to));
      await fsyncDir(dirname(path));
      quarantined.push(rel);
    };
    // 1. Damaged object files out of the way first (renamed, never deleted): the copies they
    //    would be rebuilt from are in the journal, which stays in place until step 3.
    for (const d of scan.damagedObjects) await move(d.path);
    if (scan.metaProblem !== undefined) await move(`${root}/META.json`);
    // 2. Every object at its newest surviving version, written and fsynced as a checkpoint would.
    const merged = mergeCopies(scan);
    const fileRvs = new Map(scan.objects.map((o) => [keyOf(o.type, o.type.namespaced ? o.object.metadata.namespace : undefined, o.object.metadata.name ?? ""), Number(o.object.metadata.resourceVersion)]));
    let rebuilt = 0;
    let maxRv = scan.metaRv;
    const dirs = new Set<string>();
    for (const [key, m] of merged) {
      maxRv = Math.max(maxRv, m.resourceVersion);
      const path = objectPath(root, m.type, m.namespace, m.name);
      if (m.object === null) {
        if (await unlinkIfExists(path)) dirs.add(objectDir(root, m.type, m.namespace));
        continue;
      }
      if (fileRvs.get(key) === m.resourceVersion) continue; // the file is this version already
      const dir = objectDir(root, m.type, m.namespace);
      await mkdir(dir, { recursive: true, mode: DIR_MODE });
      await writeStoreFile(path, serializeObject(m.object), { fsync: true });
      dirs.add(dir);
      rebuilt++;
    }
    for (const d of dirs) {
      for (let p = d; p.length >= root.length; p = dirname(p)) await fsyncDir(p);
    }
    await writeStoreFile(`${root}/META.json`, `${JSON.stringify({ resourceVersion: maxRv })}\n`, { fsync: true });
    await fsyncDir(root);
    // 3. The journal is folded into the object files now: a damaged one goes to quarantine whole.
    if (scan.journalDamage.length > 0) for (const s of scan.segments) await move(s.path);
    for (const t of scan.tempFiles) await unlinkIfExists(t);
    return { ...checked, quarantine, quarantined, rebuilt };
  } finally {
    await lock.release();
  }
}
