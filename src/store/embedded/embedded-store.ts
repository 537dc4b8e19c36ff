import { chmod, mkdir } from "node:fs/promises";
import { MeshsignError } from "../../errors/index.js";
import { fsyncDir, fsyncFile } from "../../fsutil/index.js";
import { objectKey, typeId } from "../memory/lib/keys.js";
import { type CommitRecord, MemoryStore } from "../memory/memory-store.js";
import type { KubeObject, ListOptions, ResourceType, Store, Watch, WatchEvent } from "../types.js";
import { DIR_MODE, unlinkIfExists, writeStoreFile } from "./lib/files.js";
import { forEachLimit } from "./lib/for-each-limit.js";
import { JournalWriter, truncateSegment } from "./lib/journal.js";
import { acquireStoreLock, type StoreLock } from "./lib/lock.js";
import { materialize, objectDir } from "./lib/objects.js";
import { damageSummary, isDamaged, keyOf, mergeCopies, type StoreScan, scanStore } from "./lib/scan.js";
import { isDiskRefusal, WriteHealth, type WriteHealthState } from "./lib/write-health.js";

export interface EmbeddedStoreOptions {
  /** meshsign's data dir; the store lives in `<dataDir>/store` (mode 0700, files 0600). */
  readonly dataDir: string;
  /**
   * Open for inspection only (the CLI next to a running server): no lock,
   * nothing written, every write fails with ERR_STORE_UNAVAILABLE. The view is
   * the state at open time.
   */
  readonly readOnly?: boolean;
  /** Milliseconds since the epoch, for object timestamps. Default Date.now. */
  readonly now?: () => number;
  /** Journal segment size that triggers a checkpoint (object files fsynced, segment dropped). Default 256 MiB. */
  readonly maxJournalBytes?: number;
  /**
   * How long an object goes without a change before its person-readable file is refreshed
   * (at the latest {@link DEFAULT_MAX_MATERIALIZE_DELAY_MS} after its first unwritten change).
   * Default 2 s.
   */
  readonly materializeDelayMs?: number;
  /** Told about what recovery found and fixed (torn journal tail, leftover temp files) and background I/O errors. */
  readonly onProblem?: (message: string) => void;
  /** Told when a watch callback throws. */
  readonly onWatchError?: (err: unknown) => void;
  /**
   * How often the free space is checked, and while the disk refuses writes (full, read-only),
   * how often a probe write checks whether it takes them again. Default 5 s.
   */
  readonly writeProbeIntervalMs?: number;
  /** Less free space than this (statfs, as an unprivileged writer sees it) makes health() fail. Default 1 MiB. */
  readonly minFreeBytes?: number;
}

/** How often a store whose disk refused a write probes it again. */
export const DEFAULT_WRITE_PROBE_INTERVAL_MS = 5_000;

/**
 * A checkpoint fsyncs every object file written since the last one (about 0.4 ms
 * each on a cloud disk), so checkpoints are rare: a segment holds about 80,000
 * Certificate-sized writes; replaying a full one at start takes about 2 s.
 */
export const DEFAULT_MAX_JOURNAL_BYTES = 256 * 1024 * 1024;
/**
 * An object's file is refreshed once the object went this long without a change, so the writes
 * of one burst (an ACME Certificate's objects change a few dozen times within seconds) coalesce
 * into one file write (open, write, close, rename: about 0.5 ms of CPU on ext4). Nothing reads
 * the files for current state while the journal holds it (opening replays the journal over them),
 * and a checkpoint or close writes every pending one first.
 */
export const DEFAULT_MATERIALIZE_DELAY_MS = 2_000;
/** An object that keeps changing still has its file refreshed this long after its first unwritten change. */
export const DEFAULT_MAX_MATERIALIZE_DELAY_MS = 30_000;

interface Dirty {
  readonly type: ResourceType;
  readonly namespace: string | undefined;
  readonly name: string;
  readonly object: KubeObject | null;
  /** performance.now() of the first change its file does not show yet, and of the latest. */
  readonly since: number;
  readonly last: number;
}

/**
 * The standalone Store: the semantics of {@link MemoryStore}, made durable by a
 * write-ahead journal with group commit, and readable by a person as one JSON
 * file per object under `<dataDir>/store/<group>/<plural>/<namespace>/<name>.json`.
 *
 * Durability: a write resolves after its batch is appended to the journal and
 * fdatasync'ed (one sync for all writes that arrived meanwhile, which is what
 * makes 10,000s of writes per minute cheap). Object files are refreshed in the
 * background by atomic rename; a checkpoint fsyncs them and drops old journal
 * segments. Opening loads the files, replays the journal over them (cutting
 * off a torn last record, which was never acknowledged) and removes leftover
 * temporary files. Any other damage (an unreadable object file, a bad journal
 * record, a journal that lost records) refuses to open with the files named:
 * `meshsign store check` reports it, `meshsign store recover` quarantines and
 * rebuilds (recover.ts). Only one process may open a store for writing
 * (`<dataDir>/store/LOCK`).
 */
export class EmbeddedStore implements Store {
  readonly #root: string;
  readonly #mem: MemoryStore;
  readonly #journal: JournalWriter | undefined;
  readonly #lock: StoreLock | undefined;
  readonly #delayMs: number;
  readonly #maxDelayMs: number;
  readonly #onProblem: (message: string) => void;
  readonly #health: WriteHealth;
  #dirty = new Map<string, Dirty>();
  /**
   * Files written or removed since the last checkpoint (directory -> object names; the names are the
   * stored objects' own strings, where full paths cost about 300 bytes each), and directories whose
   * entries changed.
   */
  readonly #unsyncedFiles = new Map<string, Set<string>>();
  readonly #unsyncedDirs = new Set<string>();
  readonly #createdDirs = new Set<string>();
  /** Journal segments below this one may be dropped by the next checkpoint. */
  #checkpointBelow = 0;
  /**
   * The resourceVersion of the last acknowledged record (what META.json records at a checkpoint:
   * the memory store's counter also counts writes still in flight, which may yet be refused).
   */
  #committedRv = 0;
  #timer: NodeJS.Timeout | undefined;
  #worker: Promise<void> = Promise.resolve();
  #closed = false;

  private constructor(
    root: string,
    mem: (commit: ((b: readonly CommitRecord[]) => Promise<void>) | undefined) => MemoryStore,
    journal: JournalWriter | undefined,
    lock: StoreLock | undefined,
    options: EmbeddedStoreOptions,
  ) {
    this.#root = root;
    this.#journal = journal;
    this.#lock = lock;
    this.#delayMs = options.materializeDelayMs ?? DEFAULT_MATERIALIZE_DELAY_MS;
    this.#maxDelayMs = Math.max(this.#delayMs, DEFAULT_MAX_MATERIALIZE_DELAY_MS);
    this.#onProblem = options.onProblem ?? (() => {});
    this.#health = new WriteHealth(
      root,
      options.writeProbeIntervalMs ?? DEFAULT_WRITE_PROBE_INTERVAL_MS,
      this.#onProblem,
      () => this.#kick(0),
      options.minFreeBytes,
    );
    this.#mem = mem(journal === undefined ? undefined : (batch) => this.#commit(batch));
  }

  /** Opens (creating if needed) the store under `options.dataDir`. */
  static async open(options: EmbeddedStoreOptions): Promise<EmbeddedStore> {
    const root = `${options.dataDir}/store`;
    const onProblem = options.onProblem ?? (() => {});
    if (options.readOnly === true) return EmbeddedStore.#openReadOnly(root, options);
    await mkdir(root, { recursive: true, mode: DIR_MODE });
    await chmod(root, DIR_MODE);
    const lock = await acquireStoreLock(root);
    if (lock.staleLock !== undefined) onProblem(`${root}/LOCK: took over a ${lock.staleLock}`);
    try {
      const state = await loadState(root, options.dataDir);
      const torn = state.scan.tornTail;
      if (torn !== undefined) {
        // A batch cut short by a crash (a write is acknowledged only once complete and synced), and
        // no copy of anything newer exists anywhere (scan.ts cross-checks the object files).
        await truncateSegment(torn.path, torn.offset);
        onProblem(
          `${torn.path}: cut off an incomplete last record (${torn.bytes} bytes at offset ${torn.offset}): the end of a write interrupted by a crash, which is acknowledged only once complete; no object file is newer than the journal`,
        );
      }
      for (const tmp of state.scan.tempFiles) {
        await unlinkIfExists(tmp);
        onProblem(`${tmp}: removed a temporary file left by an interrupted write`);
      }
      const journalDir = `${root}/journal`;
      await mkdir(journalDir, { recursive: true, mode: DIR_MODE });
      const journal = new JournalWriter(
        journalDir,
        state.lastSegment + 1,
        options.maxJournalBytes ?? DEFAULT_MAX_JOURNAL_BYTES,
      );
      const store = new EmbeddedStore(
        root,
        (commit) =>
          new MemoryStore({
            ...memOptions(options),
            initial: state.objects,
            initialResourceVersion: state.resourceVersion,
            ...(commit === undefined ? {} : { commit }),
          }),
        journal,
        lock,
        options,
      );
      store.#committedRv = state.resourceVersion;
      // A disk that is full already at start: serve reads, but readiness tells.
      await store.#health.probe();
      await store.#health.watchFreeSpace();
      if (state.replayed.length > 0) {
        // Fold the replayed journal into the object files now, so the old segments can go.
        for (const d of state.replayed) store.#markDirty(d, 0);
        store.#checkpointBelow = state.lastSegment + 1;
        store.#kick(0);
      }
      return store;
    } catch (err) {
      await lock.release();
      throw err;
    }
  }

  static async #openReadOnly(root: string, options: EmbeddedStoreOptions): Promise<EmbeddedStore> {
    // A running writer may drop a journal segment between our directory listing and our read: retry.
    for (let attempt = 1; ; attempt++) {
      try {
        const state = await loadState(root, options.dataDir);
        return new EmbeddedStore(
          root,
          () =>
            new MemoryStore({
              ...memOptions(options),
              initial: state.objects,
              initialResourceVersion: state.resourceVersion,
              readOnlyReason: `store ${root} is open read-only`,
            }),
          undefined,
          undefined,
          options,
        );
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT" || attempt >= 5) throw err;
      }
    }
  }

  /**
   * Whether writes go through now. Not ok while the disk refuses them (full,
   * over quota, read-only): each refused write fails with a transient
   * ERR_STORE_UNAVAILABLE and changes nothing; ok again once a write or a
   * probe succeeds.
   */
  health(): WriteHealthState {
    return this.#health.state;
  }

  /** The store directory (`<dataDir>/store`). */
  get directory(): string {
    return this.#root;
  }

  get<T extends KubeObject>(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
  ): Promise<T | undefined> {
    return this.#mem.get<T>(type, namespace, name);
  }

  list<T extends KubeObject>(type: ResourceType, options?: ListOptions): Promise<T[]> {
    return this.#mem.list<T>(type, options);
  }

  watch<T extends KubeObject>(
    type: ResourceType,
    onEvent: (event: WatchEvent<T>) => void,
    options?: ListOptions,
  ): Watch {
    return this.#mem.watch(type, onEvent, options);
  }

  create<T extends KubeObject>(type: ResourceType, object: T): Promise<T> {
    return this.#mem.create(type, object);
  }

  update<T extends KubeObject>(type: ResourceType, object: T): Promise<T> {
    return this.#mem.update(type, object);
  }

  updateStatus<T extends KubeObject>(type: ResourceType, object: T): Promise<T> {
    return this.#mem.updateStatus(type, object);
  }

  delete(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    options?: { resourceVersion?: string },
  ): Promise<void> {
    return this.#mem.delete(type, namespace, name, options);
  }

  /** Writes every object file now and waits for it (tests, `meshsign` shutdown). Commits are durable without it. */
  async flush(): Promise<void> {
    await this.#mem.flush();
    await this.#runNow();
  }

  /** Flushes, checkpoints (object files fsynced, journal emptied) and releases the lock. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#health.close();
    try {
      await this.#mem.close();
    } finally {
      if (this.#timer !== undefined) clearTimeout(this.#timer);
      this.#timer = undefined;
      try {
        if (this.#journal !== undefined) {
          await this.#journal.close();
          this.#checkpointBelow = this.#journal.currentSegment + 1;
          await this.#runNow();
        }
      } finally {
        await this.#lock?.release();
      }
    }
  }

  // ---------------------------------------------------------------- internals

  async #commit(batch: readonly CommitRecord[]): Promise<void> {
    const journal = this.#journal as JournalWriter;
    try {
      await journal.append(batch);
    } catch (err) {
      throw this.#health.refused(err, "the journal");
    }
    this.#health.succeeded();
    this.#committedRv = batch.at(-1)?.resourceVersion ?? this.#committedRv;
    const now = performance.now();
    for (const r of batch) this.#markDirty(r, now);
    if (journal.full) {
      // The batch is durable already, so nothing here may fail it: a refused write must change
      // nothing, and any other error would stop the store. A new segment the disk refuses is opened
      // by the next append instead (which is refused, and rolled back, while the disk is full).
      await journal.rotate().catch((err: unknown) => {
        if (isDiskRefusal(err)) this.#health.refused(err, "the journal");
        else this.#onProblem(`store: starting journal segment ${journal.currentSegment} failed (the next write tries again): ${(err as Error).message}`);
      });
      this.#checkpointBelow = journal.currentSegment;
      this.#kick(0);
    } else {
      this.#kick(this.#delayMs);
    }
  }

  #markDirty(d: Omit<Dirty, "since" | "last">, now: number): void {
    const key = `${typeId(d.type)}|${objectKey(d.type, d.namespace, d.name)}`;
    const since = this.#dirty.get(key)?.since ?? now;
    this.#dirty.set(key, {
      type: d.type,
      namespace: d.namespace,
      name: d.name,
      object: d.object,
      since,
      last: now,
    });
  }

  /** Schedules the background writer (object files, checkpoints) after `delayMs`. */
  #kick(delayMs: number): void {
    if (this.#closed && delayMs > 0) return;
    if (this.#timer !== undefined) {
      if (delayMs > 0) return;
      clearTimeout(this.#timer);
    }
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#worker = this.#worker.then(() => this.#work());
    }, delayMs);
    this.#timer.unref();
  }

  /** Runs a round of background work now (after any running one), writing every pending object file, and waits for it. */
  #runNow(): Promise<void> {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#worker = this.#worker.then(() => this.#work(true));
    return this.#worker;
  }

  /**
   * The pending object files a round writes: all of them for a checkpoint or when asked, else
   * those whose object has settled (or waited its longest). The rest stay pending, and the next
   * round is scheduled for the first of them.
   */
  #takeDirty(all: boolean): Map<string, Dirty> {
    const dirty = this.#dirty;
    this.#dirty = new Map();
    if (all) return dirty;
    const now = performance.now();
    let next = Number.POSITIVE_INFINITY;
    for (const [k, d] of dirty) {
      const due = Math.min(d.last + this.#delayMs, d.since + this.#maxDelayMs);
      if (due <= now) continue;
      dirty.delete(k);
      this.#dirty.set(k, d);
      next = Math.min(next, due);
    }
    // Rounds at most every quarter of the delay: each one scans every pending object.
    if (next !== Number.POSITIVE_INFINITY)
      this.#kick(Math.max(1, Math.ceil(next - now), Math.ceil(this.#delayMs / 4)));
    return dirty;
  }

  /** One round of background work; never rejects (problems are reported, the journal keeps the data). */
  async #work(all = false): Promise<void> {
    // Read the checkpoint boundary before taking the dirty set: every record of the segments
    // below it was marked dirty before the boundary moved, so this round writes all of them.
    const below = this.#checkpointBelow;
    const dirty = this.#takeDirty(all || below > 0);
    let syncing: { files: Map<string, Set<string>>; dirs: Set<string> } | undefined;
    try {
      await forEachLimit(dirty.values(), 8, async (d) => {
        await materialize(this.#root, d.type, d.namespace, d.name, d.object, this.#createdDirs);
        const dir = objectDir(this.#root, d.type, d.namespace);
        let names = this.#unsyncedFiles.get(dir);
        if (names === undefined) {
          names = new Set();
          this.#unsyncedFiles.set(dir, names);
        }
        names.add(d.name);
        this.#unsyncedDirs.add(dir);
        // A directory created since the last checkpoint needs its own entry synced, up to the root.
        for (let p = dir; p.length > this.#root.length; p = p.slice(0, p.lastIndexOf("/")))
          this.#unsyncedDirs.add(p.slice(0, p.lastIndexOf("/")));
      });
      if (below > 0 && this.#journal !== undefined) {
        const files = [...this.#unsyncedFiles].flatMap(([dir, names]) =>
          [...names].map((name) => `${dir}/${name}.json`),
        );
        const dirs = [...this.#unsyncedDirs];
        syncing = {
          files: new Map([...this.#unsyncedFiles].map(([d, n]) => [d, new Set(n)])),
          dirs: new Set(dirs),
        };
        this.#unsyncedFiles.clear();
        this.#unsyncedDirs.clear();
        // At most two fsyncs in flight while open: libuv's 4 threads also serve key generation and the network.
        const parallel = this.#closed ? 4 : 2;
        await forEachLimit(files, parallel, fsyncFile);
        await forEachLimit(dirs, parallel, async (d) => {
          await fsyncDir(d).catch((err: NodeJS.ErrnoException) => {
            if (err.code !== "ENOENT") throw err;
          });
        });
        await writeStoreFile(
          `${this.#root}/META.json`,
          `${JSON.stringify({ resourceVersion: this.#committedRv })}\n`,
          { fsync: true },
        );
        await fsyncDir(this.#root);
        await this.#journal.dropBelow(below);
        if (this.#checkpointBelow === below) this.#checkpointBelow = 0;
      }
    } catch (err) {
      // Nothing of this round may be forgotten, or a later checkpoint would drop journal segments
      // whose objects never reached a durable file: what it took is put back for the next round.
      for (const [k, d] of dirty) if (!this.#dirty.has(k)) this.#dirty.set(k, d);
      if (syncing !== undefined) {
        for (const [dir, names] of syncing.files) {
          const now = this.#unsyncedFiles.get(dir);
          if (now === undefined) this.#unsyncedFiles.set(dir, names);
          else for (const n of names) now.add(n);
        }
        for (const d of syncing.dirs) this.#unsyncedDirs.add(d);
      }
      if (isDiskRefusal(err)) {
        // Object files and checkpoints wait for space like the journal; they are retried on the next round.
        this.#health.refused(err, "object files");
        return;
      }
      this.#onProblem(
        `store background write failed (the journal still holds every change; will retry): ${(err as Error).message}`,
      );
    }
  }
}

function memOptions(options: EmbeddedStoreOptions): {
  now?: () => number;
  onWatchError?: (err: unknown) => void;
} {
  return {
    ...(options.now === undefined ? {} : { now: options.now }),
    ...(options.onWatchError === undefined ? {} : { onWatchError: options.onWatchError }),
  };
}

interface LoadedState {
  readonly objects: { type: ResourceType; object: KubeObject }[];
  readonly resourceVersion: number;
  readonly replayed: Omit<Dirty, "since" | "last">[];
  readonly lastSegment: number;
  readonly scan: StoreScan;
}

/**
 * Object files, then the journal replayed over them (newest resourceVersion
 * wins). Damage refuses with the files named and the way out; only a torn
 * journal tail is left for the caller to cut off.
 */
async function loadState(root: string, dataDir: string): Promise<LoadedState> {
  const scan = await scanStore(root);
  if (isDamaged(scan))
    throw new MeshsignError("ERR_STORE_UNAVAILABLE", damageSummary(scan, dataDir), {
      detail: { store: root },
      retry: "terminal",
    });
  const merged = mergeCopies(scan);
  // An object file at least as new as its journal record was written by the process that stopped,
  // which never fsynced it (only a checkpoint does, and that would have dropped the segment): it
  // is written out again like a replayed record, so the checkpoint that drops the segment makes it
  // durable first.
  const journaled = new Set<string>();
  for (const seg of scan.segments) for (const r of seg.records) journaled.add(keyOf(r.type, r.namespace, r.name));
  let rv = scan.metaRv;
  const objects: { type: ResourceType; object: KubeObject }[] = [];
  const replayed: Omit<Dirty, "since" | "last">[] = [];
  for (const [key, m] of merged) {
    rv = Math.max(rv, m.resourceVersion);
    if (m.object !== null) objects.push({ type: m.type, object: m.object });
    if (m.from === "journal" || journaled.has(key)) replayed.push(m);
  }
  return { objects, resourceVersion: rv, replayed, lastSegment: scan.segments.at(-1)?.seq ?? 0, scan };
}

/** Opens the embedded store; see {@link EmbeddedStore}. */
export function openEmbeddedStore(options: EmbeddedStoreOptions): Promise<EmbeddedStore> {
  return EmbeddedStore.open(options);
}
