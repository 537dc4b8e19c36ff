/**
 * The one store interface the engine, the trust distributor and the CLI use
 * for every resource (cert-manager kinds, Secrets, ConfigMaps, Events...).
 * Backends: `store/embedded` (standalone, state under the data dir) and
 * `store/kube` (the Kubernetes API server). Callers never know which runs.
 *
 * Semantics follow the Kubernetes API so both backends behave alike:
 * - `resourceVersion` is an opaque string; `update`/`updateStatus`/`delete`
 *   given a resourceVersion fail with ERR_CONFLICT when it is stale.
 * - `create` fails with ERR_ALREADY_EXISTS; `metadata.generateName` is honoured.
 * - `update` ignores `status`; `updateStatus` changes only `status`.
 * - `metadata.generation` increments when `spec` (or data) changes.
 * - deleting an object with finalizers sets `deletionTimestamp`; it is gone
 *   once the finalizers are removed. Objects with an ownerReference to a
 *   deleted owner are deleted too (cascading, background).
 */
import type { LabelSelector } from "../api/label-selector.js";

export interface OwnerReference {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly uid: string;
  readonly controller?: boolean;
  readonly blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: OwnerReference[];
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
}

/** Identifies a resource type, e.g. { group: "cert-manager.io", version: "v1", kind: "Certificate", plural: "certificates", namespaced: true }. */
export interface ResourceType {
  readonly group: string; // "" for the core group
  readonly version: string;
  readonly kind: string;
  readonly plural: string;
  readonly namespaced: boolean;
}

export interface ListOptions {
  /** Only objects in this namespace (namespaced kinds); all namespaces when absent. */
  readonly namespace?: string;
  /**
   * Only objects whose labels it selects: a parsed Kubernetes label selector
   * (src/api/label-selector.ts), e.g. parseLabelSelector("env in (prod),!legacy")
   * or labelSelectorFromSet({ "istio.io/config": "true" }). The Kubernetes
   * backend sends it to the API server; the others match it in memory, with
   * the same meaning.
   */
  readonly labelSelector?: LabelSelector;
}

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED";

export interface WatchEvent<T extends KubeObject> {
  readonly type: WatchEventType;
  /**
   * Read-only: a backend may hand every watcher the object it keeps (the
   * in-memory core does, frozen), so a callback copies it before changing it.
   */
  readonly object: T;
}

export interface Watch {
  /** Resolves once the initial ADDED events for existing objects were delivered. */
  readonly synced: Promise<void>;
  stop(): void;
}

/**
 * Objects a store hands out (get, list, the writes' results, watch events)
 * are read-only: a backend may return the object it keeps, deeply frozen
 * (the in-memory core and the embedded store do). Build a new object to
 * change one.
 */
export interface Store {
  get<T extends KubeObject>(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
  ): Promise<T | undefined>;
  list<T extends KubeObject>(type: ResourceType, options?: ListOptions): Promise<T[]>;
  /** Delivers ADDED for every existing object, then every change, in order per object; event objects are read-only. */
  watch<T extends KubeObject>(
    type: ResourceType,
    onEvent: (event: WatchEvent<T>) => void,
    options?: ListOptions,
  ): Watch;
  create<T extends KubeObject>(type: ResourceType, object: T): Promise<T>;
  update<T extends KubeObject>(type: ResourceType, object: T): Promise<T>;
  updateStatus<T extends KubeObject>(type: ResourceType, object: T): Promise<T>;
  delete(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    options?: { resourceVersion?: string },
  ): Promise<void>;
  close(): Promise<void>;
}
