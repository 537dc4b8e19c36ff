import type { KubeConfig, KubernetesListObject, KubernetesObject } from "@kubernetes/client-node";
import { formatLabelSelector, type LabelSelector, labelSelectorFromSet } from "../../api/label-selector.js";
import { isMeshsignError, MeshsignError } from "../../errors/index.js";
import type { KubeObject, ListOptions, ResourceType, Store, Watch, WatchEvent } from "../types.js";
import { Informer } from "./lib/informer.js";
import { apiVersionOf, collectionPath, objectPath } from "./lib/paths.js";
import { RestClient } from "./lib/rest.js";

/**
 * The label cert-manager puts on every Secret it manages
 * (`SecretsFilteredCaching`); meshsign's engine sets it too.
 */
export const SECRET_CACHE_LABEL = "controller.cert-manager.io/fao";

/** Client-go's default field manager idea: one name per writer in managedFields. */
export const DEFAULT_FIELD_MANAGER = "meshsign";

/** cert-manager's controllers resync every 10 hours. */
export const DEFAULT_RESYNC_MS = 10 * 60 * 60 * 1000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
const WATCH_BACKOFF_MIN_MS = 500;
const WATCH_BACKOFF_MAX_MS = 30_000;
/** An update without resourceVersion reads the current one and retries this often on conflict. */
const UNCONDITIONAL_UPDATE_ATTEMPTS = 5;

export interface KubeStoreOptions {
  /** Connection and credentials (in cluster: `kc.loadFromCluster()`). */
  readonly kubeConfig: KubeConfig;
  /**
   * Every watch of Secrets is narrowed by this label selector so that only
   * meshsign's own Secrets are cached in memory (cert-manager #4722: caching
   * every Secret in a large cluster costs gigabytes). Other Secrets (CA keys,
   * ACME account keys) are read on demand with `get`.
   * Default: { "controller.cert-manager.io/fao": "true" }.
   */
  readonly secretCacheSelector?: Readonly<Record<string, string>>;
  /** managedFields owner for writes and server-side apply. Default "meshsign". */
  readonly fieldManager?: string;
  /** Watches re-deliver every cached object as MODIFIED this often; 0 disables. Default 10 h. */
  readonly resyncMs?: number;
  /** Per-request timeout (not watches). Default 30 s. */
  readonly requestTimeoutMs?: number;
  /** Told about watch failures, which are retried with back-off. */
  readonly onWatchError?: (type: ResourceType, err: unknown) => void;
}

export interface ApplyOptions {
  /** Take ownership of fields another manager owns (default true: meshsign is the Secret's controller). */
  readonly force?: boolean;
}

/**
 * The Store over a Kubernetes API server (STYLE: store/kube backend).
 *
 * - Reads and writes go straight to the API server, in plain JSON.
 * - Optimistic concurrency is the API server's: a stale resourceVersion fails
 *   with ERR_CONFLICT (retry "transient"), which the engine handles by re-reading.
 *   An update without a resourceVersion is unconditional: the store reads the
 *   current version and retries its own conflicts.
 * - `updateStatus` writes the status subresource, `update` the main resource
 *   (so status is ignored there, as the contract says, for kinds with a
 *   status subresource; meshsign's CRDs all have one).
 * - `watch` is an informer (list + watch, re-list on 410 Gone, restart with
 *   back-off, periodic resync); Secret watches only ever see labelled Secrets.
 * - API failures: 404 ERR_NOT_FOUND, 409 ERR_ALREADY_EXISTS / ERR_CONFLICT,
 *   400/422 ERR_RESOURCE_INVALID, 401/403 terminal and 429/5xx/network
 *   transient ERR_STORE_UNAVAILABLE.
 */
export class KubeStore implements Store {
  readonly #kc: KubeConfig;
  readonly #rest: RestClient;
  readonly #secretSelector: LabelSelector;
  readonly #fieldManager: string;
  readonly #resyncMs: number;
  readonly #onWatchError: ((type: ResourceType, err: unknown) => void) | undefined;
  readonly #informers = new Set<Informer<KubeObject>>();
  #closed = false;

  constructor(options: KubeStoreOptions) {
    this.#kc = options.kubeConfig;
    this.#rest = new RestClient(options.kubeConfig, options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS);
    // Checked here, at construction (ERR_RESOURCE_INVALID), rather than at the first Secret watch.
    this.#secretSelector = labelSelectorFromSet(options.secretCacheSelector ?? { [SECRET_CACHE_LABEL]: "true" });
    this.#fieldManager = options.fieldManager ?? DEFAULT_FIELD_MANAGER;
    this.#resyncMs = options.resyncMs ?? DEFAULT_RESYNC_MS;
    this.#onWatchError = options.onWatchError;
  }

  async get<T extends KubeObject>(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
  ): Promise<T | undefined> {
    this.#open();
    try {
      const obj = await this.#rest.request<T>({
        method: "GET",
        path: objectPath(type, ns(type, namespace), checkName(name)),
      });
      return withTypeMeta(type, obj);
    } catch (err) {
      if (isMeshsignError(err, "ERR_NOT_FOUND")) return undefined;
      throw err;
    }
  }

  async list<T extends KubeObject>(type: ResourceType, options: ListOptions = {}): Promise<T[]> {
    this.#open();
    const list = await this.#list(type, options.namespace, queryOf(options.labelSelector));
    return list.items as unknown as T[];
  }

  watch<T extends KubeObject>(
    type: ResourceType,
    onEvent: (event: WatchEvent<T>) => void,
    options: ListOptions = {},
  ): Watch {
    this.#open();
    // Requirements are ANDed: a Secret watch sees the caller's selection of the cached Secrets.
    const selector: LabelSelector | undefined = isSecret(type)
      ? { requirements: [...this.#secretSelector.requirements, ...(options.labelSelector?.requirements ?? [])] }
      : options.labelSelector;
    const labelSelector = queryOf(selector);
    const namespace = options.namespace === undefined ? undefined : ns(type, options.namespace);
    const informer = new Informer<T>({
      kc: this.#kc,
      path: collectionPath(type, namespace),
      labelSelector,
      list: () => this.#list(type, namespace, labelSelector),
      onEvent: (event) => onEvent({ type: event.type, object: withTypeMeta(type, event.object) }),
      resyncMs: this.#resyncMs,
      backoffMinMs: WATCH_BACKOFF_MIN_MS,
      backoffMaxMs: WATCH_BACKOFF_MAX_MS,
      onError: (err) => this.#onWatchError?.(type, err),
    });
    this.#informers.add(informer as unknown as Informer<KubeObject>);
    return {
      synced: informer.synced,
      stop: () => {
        informer.stop();
        this.#informers.delete(informer as unknown as Informer<KubeObject>);
      },
    };
  }

  async create<T extends KubeObject>(type: ResourceType, object: T): Promise<T> {
    this.#open();
    const body = prepare(type, object);
    const created = await this.#rest.request<T>({
      method: "POST",
      path: collectionPath(type, ns(type, object.metadata.namespace)),
      query: { fieldManager: this.#fieldManager },
      body,
    });
    return withTypeMeta(type, created);
  }

  update<T extends KubeObject>(type: ResourceType, object: T): Promise<T> {
    return this.#put(type, object, undefined);
  }

  updateStatus<T extends KubeObject>(type: ResourceType, object: T): Promise<T> {
    return this.#put(type, object, "status");
  }

  async delete(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    options: { resourceVersion?: string } = {},
  ): Promise<void> {
    this.#open();
    await this.#rest.request({
      method: "DELETE",
      path: objectPath(type, ns(type, namespace), checkName(name)),
      // Background: dependents (ownerReferences) are collected after the owner is gone.
      body: {
        apiVersion: "v1",
        kind: "DeleteOptions",
        propagationPolicy: "Background",
        ...(options.resourceVersion ? { preconditions: { resourceVersion: options.resourceVersion } } : {}),
      },
    });
  }

  /**
   * Server-side apply (Kubernetes only, not part of `Store`): makes the fields
   * in `object` owned by meshsign's field manager and removes fields meshsign
   * applied before and no longer sends, leaving other managers' fields alone.
   * The right write for a Secret that users may also annotate or label.
   */
  async apply<T extends KubeObject>(type: ResourceType, object: T, options: ApplyOptions = {}): Promise<T> {
    this.#open();
    const body = prepare(type, object);
    const applied = await this.#rest.request<T>({
      method: "PATCH",
      path: objectPath(type, ns(type, object.metadata.namespace), checkName(object.metadata.name)),
      query: { fieldManager: this.#fieldManager, force: String(options.force ?? true) },
      body,
      contentType: "application/apply-patch+yaml",
    });
    return withTypeMeta(type, applied);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const informer of this.#informers) informer.stop();
    this.#informers.clear();
    this.#rest.close();
  }

  async #put<T extends KubeObject>(
    type: ResourceType,
    object: T,
    subresource: "status" | undefined,
  ): Promise<T> {
    this.#open();
    const namespace = ns(type, object.metadata.namespace);
    const path = objectPath(type, namespace, checkName(object.metadata.name), subresource);
    const send = async (resourceVersion: string | undefined): Promise<T> => {
      const body = prepare(type, object) as T;
      body.metadata = { ...body.metadata, resourceVersion };
      const updated = await this.#rest.request<T>({
        method: "PUT",
        path,
        query: { fieldManager: this.#fieldManager },
        body,
      });
      return withTypeMeta(type, updated);
    };
    if (object.metadata.resourceVersion) return send(object.metadata.resourceVersion);
    // No resourceVersion: an unconditional write, which custom resources do
    // not accept over PUT; take the current version and retry our own races.
    for (let attempt = 1; ; attempt++) {
      const current = await this.get<T>(type, namespace, object.metadata.name ?? "");
      if (!current) {
        throw new MeshsignError("ERR_NOT_FOUND", "object not found", {
          detail: { kind: type.kind, namespace, name: object.metadata.name },
        });
      }
      try {
        return await send(current.metadata.resourceVersion);
      } catch (err) {
        if (!isMeshsignError(err, "ERR_CONFLICT") || attempt >= UNCONDITIONAL_UPDATE_ATTEMPTS) throw err;
      }
    }
  }

  async #list(
    type: ResourceType,
    namespace: string | undefined,
    labelSelector: string | undefined,
  ): Promise<KubernetesListObject<KubernetesObject>> {
    const items: KubernetesObject[] = [];
    let resourceVersion = "";
    let cont: string | undefined;
    // Paged, so a large collection never arrives as one huge response.
    do {
      const page = await this.#rest.request<KubernetesListObject<KubernetesObject>>({
        method: "GET",
        path: collectionPath(type, namespace),
        query: { labelSelector, limit: "500", continue: cont },
      });
      for (const item of page.items ?? [])
        items.push(withTypeMeta(type, item as unknown as KubeObject) as KubernetesObject);
      resourceVersion = page.metadata?.resourceVersion ?? resourceVersion;
      cont = page.metadata?._continue || undefined;
    } while (cont);
    return { apiVersion: apiVersionOf(type), kind: `${type.kind}List`, metadata: { resourceVersion }, items };
  }

  #open(): void {
    if (this.#closed) throw new MeshsignError("ERR_STORE_UNAVAILABLE", "the store is closed");
  }
}

function isSecret(type: ResourceType): boolean {
  return type.group === "" && type.kind === "Secret";
}

/**
 * The `labelSelector` query parameter of a selector, undefined when it selects everything.
 * Throws ERR_RESOURCE_INVALID (before any request) for a requirement the API server would refuse.
 */
function queryOf(selector: LabelSelector | undefined): string | undefined {
  const text = selector === undefined ? "" : formatLabelSelector(selector);
  return text === "" ? undefined : text;
}

/** The namespace part of a path: required for namespaced kinds, ignored for cluster-scoped ones. */
function ns(type: ResourceType, namespace: string | undefined): string | undefined {
  if (!type.namespaced) return undefined;
  if (!namespace) {
    throw new MeshsignError("ERR_RESOURCE_INVALID", `${type.kind} is namespaced: a namespace is required`);
  }
  return checkName(namespace);
}

// DNS-1123 subdomain (253 chars): every name and namespace that reaches a URL path.
const NAME_RE = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

function checkName(name: string | undefined): string {
  if (!name || !NAME_RE.test(name)) {
    throw new MeshsignError("ERR_RESOURCE_INVALID", "invalid object name", { detail: { name } });
  }
  return name;
}

/** A copy of `object` to send: apiVersion/kind from the type, no server-owned status-only noise. */
function prepare<T extends KubeObject>(type: ResourceType, object: T): T {
  return { ...object, apiVersion: apiVersionOf(type), kind: type.kind, metadata: { ...object.metadata } };
}

/** List items and some responses omit apiVersion/kind; the Store's callers rely on them. */
function withTypeMeta<T extends KubeObject>(type: ResourceType, object: T): T {
  if (object.apiVersion && object.kind) return object;
  return { ...object, apiVersion: apiVersionOf(type), kind: type.kind };
}
