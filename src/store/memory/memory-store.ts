import { randomUUID } from "node:crypto";
import { normalizeObject } from "../../api/normalize.js";
import { isMeshsignError, MeshsignError } from "../../errors/index.js";
import type {
  KubeObject,
  ListOptions,
  ObjectMeta,
  ResourceType,
  Store,
  Watch,
  WatchEvent,
  WatchEventType,
} from "../types.js";
import { IndexMap } from "./lib/index-map.js";
import { StringInterner } from "./lib/intern.js";
import {
  apiVersionOf,
  canonicalJson,
  generateNameSuffix,
  isValidName,
  matchesSelector,
  objectKey,
  rfc3339,
  specOf,
  statusOf,
  typeId,
} from "./lib/keys.js";
import { WatchQueue } from "./lib/watch-queue.js";

/** One change handed to a durable backend, in commit order. */
export interface CommitRecord {
  readonly type: ResourceType;
  readonly namespace: string | undefined;
  readonly name: string;
  /** The object as now stored (never mutated afterwards), or null when it was removed. */
  readonly object: KubeObject | null;
  readonly resourceVersion: number;
}

export interface MemoryStoreOptions {
  /** Milliseconds since the epoch, for creationTimestamp / deletionTimestamp. Default Date.now. */
  readonly now?: () => number;
  /** Uniform [0,1) for generateName suffixes. Default Math.random. */
  readonly random?: () => number;
  /** metadata.uid generator. Default crypto.randomUUID. */
  readonly uid?: () => string;
  /**
   * Makes a batch of changes durable and resolves once it is. Writes that
   * arrive while a batch is being committed are grouped into the next batch
   * (group commit). A rejection with a transient {@link MeshsignError} (say,
   * disk full) refuses that batch and the writes queued behind it, which are
   * rolled back as if never made, and later writes are tried again; any other
   * rejection is fatal: the store refuses every later write.
   * Default: nothing to persist.
   */
  readonly commit?: (batch: readonly CommitRecord[]) => Promise<void>;
  /** Objects already stored (loaded by a durable backend), resourceVersion included. */
  readonly initial?: Iterable<{ readonly type: ResourceType; readonly object: KubeObject }>;
  /** The last resourceVersion handed out; new writes continue above it. */
  readonly initialResourceVersion?: number;
  /** When set, every write fails with ERR_STORE_UNAVAILABLE and this reason. */
  readonly readOnlyReason?: string;
  /** Told when a watch callback throws (the event stream goes on). */
  readonly onWatchError?: (err: unknown) => void;
}

interface Batch {
  readonly records: CommitRecord[];
  readonly done: Promise<void>;
  resolve(): void;
  reject(err: unknown): void;
}

interface Watcher {
  readonly tid: string;
  readonly options: ListOptions | undefined;
  readonly queue: WatchQueue;
}

/**
 * The Store semantics of `store/types.ts` over in-memory maps: used as is for
 * tests, and as the core of the embedded backend, which adds durability
 * through the `commit` hook.
 *
 * Reads (get, list, watch) see only committed changes; writes are checked
 * against the newest state, committed or not, so that conflicts are detected
 * while a batch is in flight. A write resolves only after its batch committed,
 * so "acknowledged" means "durable" when the backend's commit is durable.
 * Stored objects are never mutated in place: they are deeply frozen once
 * recorded and handed out as they are (get, list, the writes' results, watch
 * events), never copied. A reader that wants to change one builds a new
 * object (spreads), as the engine does; copies were most of the store's CPU
 * (about 40 reads and 40 watch deliveries per ACME certificate).
 */
export class MemoryStore implements Store {
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #uid: () => string;
  readonly #commit: ((batch: readonly CommitRecord[]) => Promise<void>) | undefined;
  readonly #readOnlyReason: string | undefined;
  readonly #onWatchError: (err: unknown) => void;

  /** typeId -> key -> committed object */
  readonly #committed = new Map<string, Map<string, KubeObject>>();
  /** typeId|key -> newest uncommitted state (null: removed) */
  readonly #pending = new Map<string, { readonly obj: KubeObject | null; readonly rv: number }>();
  /** owner uid -> typeId|key of dependents (newest state). */
  readonly #dependents = new IndexMap();
  readonly #types = new Map<string, ResourceType>();
  readonly #watchers = new Set<Watcher>();
  /** Equal strings of stored objects share one instance (see lib/intern.ts). */
  readonly #interner = new StringInterner();
  #rv: number;
  /** The resourceVersion of the last committed change (where a refused batch rolls #rv back to). */
  #committedRv: number;
  #open: Batch | undefined;
  #inflight: Batch | undefined;
  #failure: MeshsignError | undefined;
  #closed = false;

  constructor(options: MemoryStoreOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    this.#uid = options.uid ?? randomUUID;
    this.#commit = options.commit;
    this.#readOnlyReason = options.readOnlyReason;
    this.#onWatchError = options.onWatchError ?? (() => {});
    let rv = options.initialResourceVersion ?? 0;
    for (const { type, object } of options.initial ?? []) {
      const tid = this.#register(type);
      const key = objectKey(type, object.metadata.namespace, object.metadata.name ?? "");
      this.#mapFor(tid).set(key, deepFreeze(this.#compact(object)));
      this.#indexOwners(`${tid}|${key}`, undefined, object);
      rv = Math.max(rv, Number(object.metadata.resourceVersion ?? 0) || 0);
    }
    this.#rv = rv;
    this.#committedRv = rv;
  }

  /** The last resourceVersion handed out. */
  get resourceVersion(): number {
    return this.#rv;
  }

  /** Every committed object (internal references: do not mutate). For durable backends' checkpoints. */
  *committedObjects(): IterableIterator<{ type: ResourceType; object: KubeObject }> {
    for (const [tid, objects] of this.#committed) {
      const type = this.#types.get(tid);
      if (type === undefined) continue;
      for (const object of objects.values()) yield { type, object };
    }
  }

  async get<T extends KubeObject>(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
  ): Promise<T | undefined> {
    this.#assertUsable();
    const obj = this.#committed.get(typeId(type))?.get(objectKey(type, namespace, name));
    return obj as T | undefined;
  }

  async list<T extends KubeObject>(type: ResourceType, options?: ListOptions): Promise<T[]> {
    this.#assertUsable();
    const out: T[] = [];
    for (const obj of this.#committed.get(typeId(type))?.values() ?? []) {
      if (matchesSelector(obj, options)) out.push(obj as T);
    }
    return out.sort(byNamespaceAndName);
  }

  watch<T extends KubeObject>(
    type: ResourceType,
    onEvent: (event: WatchEvent<T>) => void,
    options?: ListOptions,
  ): Watch {
    this.#assertUsable();
    const tid = this.#register(type);
    const queue = new WatchQueue((e) => onEvent(e as WatchEvent<T>), this.#onWatchError);
    const watcher: Watcher = { tid, options, queue };
    const initial = [...(this.#committed.get(tid)?.values() ?? [])]
      .filter((o) => matchesSelector(o, options))
      .sort(byNamespaceAndName);
    for (const obj of initial) queue.push({ type: "ADDED", object: obj });
    this.#watchers.add(watcher);
    const synced = queue.start();
    return {
      synced,
      stop: () => {
        queue.stop();
        this.#watchers.delete(watcher);
      },
    };
  }

  async create<T extends KubeObject>(type: ResourceType, object: T): Promise<T> {
    this.#assertWritable();
    // Not copied: only read here, and #compact copies what is kept.
    const input = normalizeObject(object);
    const meta: ObjectMeta = { ...input.metadata };
    const namespace = this.#namespaceFor(type, meta.namespace);
    let name = meta.name ?? "";
    if (name === "" && meta.generateName !== undefined && meta.generateName !== "") {
      do name = `${meta.generateName}${generateNameSuffix(this.#random)}`;
      while (this.#latest(type, objectKey(type, namespace, name)) !== undefined);
    }
    this.#assertName(type, name);
    const key = objectKey(type, namespace, name);
    if (this.#latest(type, key) !== undefined) {
      throw new MeshsignError("ERR_ALREADY_EXISTS", `${type.kind} ${key} already exists`, {
        detail: { kind: type.kind, key },
      });
    }
    // As with a status subresource, create ignores status; callers set it with updateStatus.
    const { status: _ignored, ...rest } = input as T & { status?: unknown };
    const stored = {
      ...rest,
      apiVersion: apiVersionOf(type),
      kind: type.kind,
      metadata: {
        ...meta,
        name,
        ...(namespace === undefined ? {} : { namespace }),
        uid: this.#uid(),
        generation: 1,
        creationTimestamp: rfc3339(this.#now()),
        resourceVersion: "",
      },
    } as unknown as T;
    delete stored.metadata.deletionTimestamp;
    if (namespace === undefined) delete stored.metadata.namespace;
    const kept = this.#compact(stored);
    this.#put(type, key, kept);
    await this.#awaitCommit();
    return kept;
  }

  async update<T extends KubeObject>(type: ResourceType, object: T): Promise<T> {
    this.#assertWritable();
    // Not copied: only read here, and #compact copies what is kept.
    const input = normalizeObject(object);
    const { key, current } = this.#current(type, input);
    const { status: _ignored, ...rest } = input as T & { status?: unknown };
    const currentStatus = (current as { status?: unknown }).status;
    const next = {
      ...rest,
      apiVersion: current.apiVersion,
      kind: current.kind,
      ...(currentStatus === undefined ? {} : { status: currentStatus }),
      metadata: {
        ...input.metadata,
        name: current.metadata.name,
        namespace: current.metadata.namespace,
        uid: current.metadata.uid,
        creationTimestamp: current.metadata.creationTimestamp,
        deletionTimestamp: current.metadata.deletionTimestamp,
        generation: current.metadata.generation,
        resourceVersion: current.metadata.resourceVersion,
      },
    } as unknown as T;
    pruneUndefinedMeta(next.metadata);
    if (current.metadata.deletionTimestamp !== undefined) {
      const before = new Set(current.metadata.finalizers ?? []);
      const added = (next.metadata.finalizers ?? []).filter((f) => !before.has(f));
      if (added.length > 0) {
        throw new MeshsignError(
          "ERR_RESOURCE_INVALID",
          `${type.kind} ${key} is being deleted: finalizers may only be removed`,
          { detail: { added } },
        );
      }
    }
    if (specOf(next) !== specOf(current)) next.metadata.generation = (current.metadata.generation ?? 0) + 1;
    if (canonicalJson(next) === canonicalJson(current)) return current as T;
    let kept: T;
    if (next.metadata.deletionTimestamp !== undefined && (next.metadata.finalizers ?? []).length === 0) {
      kept = structuredClone(next); // removed: not stored, and it shares the caller's parts
      this.#remove(type, key, current);
    } else {
      kept = this.#compact(next);
      this.#put(type, key, kept);
    }
    await this.#awaitCommit();
    return kept;
  }

  async updateStatus<T extends KubeObject>(type: ResourceType, object: T): Promise<T> {
    this.#assertWritable();
    // Not copied: only read here, and #compact copies the status it keeps.
    const input = object;
    const { key, current } = this.#current(type, input);
    const status = (input as { status?: unknown }).status;
    if (statusOf(input) === statusOf(current)) return current as T;
    const { status: _old, ...rest } = current as KubeObject & { status?: unknown };
    const next = this.#compact((status === undefined ? { ...rest } : { ...rest, status }) as unknown as T);
    this.#put(type, key, next);
    await this.#awaitCommit();
    return next;
  }

  async delete(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    options?: { resourceVersion?: string },
  ): Promise<void> {
    this.#assertWritable();
    const ns = type.namespaced ? namespace : undefined;
    const key = objectKey(type, ns, name);
    const current = this.#latest(type, key);
    if (current === undefined) throw notFound(type, key);
    if (
      options?.resourceVersion !== undefined &&
      options.resourceVersion !== current.metadata.resourceVersion
    ) {
      throw conflict(type, key);
    }
    this.#delete(type, key, current);
    await this.#awaitCommit();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.flush();
    } finally {
      this.#closed = true;
      for (const w of this.#watchers) w.queue.stop();
      this.#watchers.clear();
    }
  }

  /** Resolves once every write issued so far is committed. */
  async flush(): Promise<void> {
    while (this.#open !== undefined || this.#inflight !== undefined) {
      await (this.#open ?? this.#inflight)?.done;
    }
  }

  // ---------------------------------------------------------------- internals

  /**
   * The form an object is kept in: rebuilt by JSON.parse, which sizes every
   * object and array exactly (spread copies and pushed arrays carry spare
   * property and element slots: about 1 KB per Certificate's objects), with
   * equal strings shared. Stored objects are JSON data by contract.
   */
  #compact<T extends KubeObject>(object: T): T {
    return this.#interner.deep(JSON.parse(JSON.stringify(object)) as T);
  }

  #delete(type: ResourceType, key: string, current: KubeObject): void {
    if ((current.metadata.finalizers ?? []).length > 0) {
      if (current.metadata.deletionTimestamp !== undefined) return; // already being deleted
      const next = { ...current, metadata: { ...current.metadata, deletionTimestamp: rfc3339(this.#now()) } };
      this.#put(type, key, next);
      return;
    }
    this.#remove(type, key, current);
  }

  /** Removes an object for good and lets the garbage collector handle its dependents (background cascade). */
  #remove(type: ResourceType, key: string, current: KubeObject): void {
    this.#put(type, key, null);
    const uid = current.metadata.uid;
    if (uid === undefined) return;
    for (const gk of this.#dependents.get(uid)) {
      const sep = gk.indexOf("|");
      const depType = this.#types.get(gk.slice(0, sep));
      const depKey = gk.slice(sep + 1);
      if (depType === undefined) continue;
      const dep = this.#latest(depType, depKey);
      if (dep === undefined) continue;
      const remaining = (dep.metadata.ownerReferences ?? []).filter((r) => r.uid !== uid);
      if (remaining.length > 0) {
        this.#put(depType, depKey, { ...dep, metadata: { ...dep.metadata, ownerReferences: remaining } });
      } else {
        this.#delete(depType, depKey, dep);
      }
    }
  }

  /** Records a change in the open batch and the newest-state indexes. */
  #put(type: ResourceType, key: string, obj: KubeObject | null): void {
    const tid = this.#register(type);
    const gk = `${tid}|${key}`;
    const prev = this.#latest(type, key);
    const rv = ++this.#rv;
    if (obj !== null) {
      obj.metadata.resourceVersion = String(rv);
      deepFreeze(obj);
    }
    this.#pending.set(gk, { obj, rv });
    this.#indexOwners(gk, prev, obj ?? undefined);
    const meta = obj?.metadata ?? prev?.metadata;
    this.#batch().records.push({
      type,
      namespace: meta?.namespace,
      name: meta?.name ?? "",
      object: obj,
      resourceVersion: rv,
    });
  }

  #indexOwners(gk: string, prev: KubeObject | undefined, next: KubeObject | undefined): void {
    for (const ref of prev?.metadata.ownerReferences ?? []) this.#dependents.delete(ref.uid, gk);
    for (const ref of next?.metadata.ownerReferences ?? []) this.#dependents.add(ref.uid, gk);
  }

  #batch(): Batch {
    if (this.#open !== undefined) return this.#open;
    let resolve!: () => void;
    let reject!: (err: unknown) => void;
    const done = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    done.catch(() => {}); // observed by the writers awaiting it
    const batch: Batch = { records: [], done, resolve, reject };
    this.#open = batch;
    // Let every write issued in this turn of the event loop join the batch.
    if (this.#inflight === undefined) queueMicrotask(() => void this.#flushOpen());
    return batch;
  }

  async #awaitCommit(): Promise<void> {
    const batch = this.#open;
    if (batch === undefined) return; // a no-op write
    await batch.done;
  }

  async #flushOpen(): Promise<void> {
    const batch = this.#open;
    if (batch === undefined || this.#inflight !== undefined) return;
    this.#open = undefined;
    this.#inflight = batch;
    try {
      if (this.#failure !== undefined) throw this.#failure;
      if (this.#commit !== undefined) await this.#commit(batch.records);
      this.#apply(batch.records);
      this.#committedRv = batch.records.at(-1)?.resourceVersion ?? this.#committedRv;
      batch.resolve();
    } catch (err) {
      if (this.#failure === undefined && isMeshsignError(err) && err.retry === "transient") {
        // Refused, not broken: the writes queued behind this batch were checked against its
        // changes, so they go too, and the store is as it was after the last commit.
        const queued = this.#open as Batch | undefined; // set by writes made while this batch was committing
        this.#open = undefined;
        this.#rollBack();
        batch.reject(err);
        queued?.reject(err);
      } else {
        this.#failure ??= new MeshsignError(
          "ERR_STORE_UNAVAILABLE",
          "store write failed; the store refuses further writes until restarted",
          { cause: err, retry: "terminal" },
        );
        batch.reject(this.#failure);
      }
    } finally {
      this.#inflight = undefined;
    }
    if (this.#open !== undefined) void this.#flushOpen();
  }

  /** Forgets every uncommitted change (owner index and resourceVersion counter included). */
  #rollBack(): void {
    for (const [gk, p] of this.#pending) {
      const sep = gk.indexOf("|");
      const committed = this.#committed.get(gk.slice(0, sep))?.get(gk.slice(sep + 1));
      this.#indexOwners(gk, p.obj ?? undefined, committed);
    }
    this.#pending.clear();
    this.#rv = this.#committedRv;
  }

  /** Makes committed records visible to reads and delivers watch events, in order. */
  #apply(records: readonly CommitRecord[]): void {
    for (const r of records) {
      const tid = typeId(r.type);
      const key = objectKey(r.type, r.namespace, r.name);
      const gk = `${tid}|${key}`;
      const map = this.#mapFor(tid);
      const prev = map.get(key);
      if (r.object === null) map.delete(key);
      else map.set(key, r.object);
      if (this.#pending.get(gk)?.rv === r.resourceVersion) this.#pending.delete(gk);
      for (const w of this.#watchers) {
        if (w.tid !== tid) continue;
        const was = prev !== undefined && matchesSelector(prev, w.options);
        const is = r.object !== null && matchesSelector(r.object, w.options);
        let type: WatchEventType | undefined;
        if (was && is) type = "MODIFIED";
        else if (is) type = "ADDED";
        else if (was) type = "DELETED";
        if (type !== undefined) w.queue.push({ type, object: r.object ?? (prev as KubeObject) });
      }
    }
  }

  #latest(type: ResourceType, key: string): KubeObject | undefined {
    const tid = typeId(type);
    const p = this.#pending.get(`${tid}|${key}`);
    if (p !== undefined) return p.obj ?? undefined;
    return this.#committed.get(tid)?.get(key);
  }

  #current(type: ResourceType, input: KubeObject): { key: string; current: KubeObject } {
    const name = input.metadata?.name ?? "";
    const key = objectKey(type, type.namespaced ? input.metadata.namespace : undefined, name);
    const current = this.#latest(type, key);
    if (current === undefined) throw notFound(type, key);
    const rv = input.metadata.resourceVersion;
    if (rv !== undefined && rv !== "" && rv !== current.metadata.resourceVersion) throw conflict(type, key);
    return { key, current };
  }

  #namespaceFor(type: ResourceType, namespace: string | undefined): string | undefined {
    if (!type.namespaced) return undefined;
    if (namespace === undefined || namespace === "") {
      throw new MeshsignError(
        "ERR_RESOURCE_INVALID",
        `${type.kind} is namespaced: metadata.namespace is required`,
      );
    }
    if (!isValidName(namespace) || namespace.length > 63) {
      throw new MeshsignError(
        "ERR_RESOURCE_INVALID",
        `metadata.namespace ${JSON.stringify(namespace.slice(0, 64))} is not a valid namespace name`,
      );
    }
    return namespace;
  }

  #assertName(type: ResourceType, name: string): void {
    if (!isValidName(name)) {
      throw new MeshsignError(
        "ERR_RESOURCE_INVALID",
        `${type.kind} metadata.name ${JSON.stringify(name.slice(0, 64))} must be a lowercase RFC 1123 subdomain`,
      );
    }
  }

  #register(type: ResourceType): string {
    const tid = typeId(type);
    if (!this.#types.has(tid)) this.#types.set(tid, type);
    return tid;
  }

  #mapFor(tid: string): Map<string, KubeObject> {
    let map = this.#committed.get(tid);
    if (map === undefined) {
      map = new Map();
      this.#committed.set(tid, map);
    }
    return map;
  }

  #assertUsable(): void {
    if (this.#closed) throw new MeshsignError("ERR_STORE_UNAVAILABLE", "store is closed");
  }

  #assertWritable(): void {
    this.#assertUsable();
    if (this.#readOnlyReason !== undefined)
      throw new MeshsignError("ERR_STORE_UNAVAILABLE", this.#readOnlyReason);
    if (this.#failure !== undefined) throw this.#failure;
  }
}

function notFound(type: ResourceType, key: string): MeshsignError {
  return new MeshsignError("ERR_NOT_FOUND", `${type.kind} ${key} not found`, {
    detail: { kind: type.kind, key },
  });
}

function conflict(type: ResourceType, key: string): MeshsignError {
  return new MeshsignError(
    "ERR_CONFLICT",
    `${type.kind} ${key} was modified concurrently: re-read and retry`,
    { detail: { kind: type.kind, key }, retry: "transient" },
  );
}

function byNamespaceAndName(a: KubeObject, b: KubeObject): number {
  const na = a.metadata.namespace ?? "";
  const nb = b.metadata.namespace ?? "";
  if (na !== nb) return na < nb ? -1 : 1;
  const ma = a.metadata.name ?? "";
  const mb = b.metadata.name ?? "";
  return ma < mb ? -1 : ma > mb ? 1 : 0;
}

/** Freezes a JSON-shaped value and everything in it (parts already frozen, shared with an earlier version, are skipped). */
function deepFreeze<T>(value: T): T {
  if (value === null || typeof value !== "object" || Object.isFrozen(value)) return value;
  Object.freeze(value);
  for (const v of Object.values(value as object)) deepFreeze(v);
  return value;
}

function pruneUndefinedMeta(meta: ObjectMeta): void {
  for (const k of Object.keys(meta) as (keyof ObjectMeta)[]) if (meta[k] === undefined) delete meta[k];
}
