import { type FSWatcher, watch as fsWatch } from "node:fs";
import { readdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import { MANIFEST_SOURCE } from "../../api/annotations.js";
import { describeDocument, MANIFEST_KINDS, type ManifestDocument, type ManifestIdentity, parseManifests } from "../../api/manifests.js";
import { formatUnknownField } from "../../api/unknown-fields.js";
import { formatFieldErrors } from "../../api/validate.js";
import { isMeshsignError, MeshsignError } from "../../errors/index.js";
import { canonicalJson, objectKey, typeId } from "../memory/lib/keys.js";
import { GATEWAYS, INGRESSES, ISTIO_GATEWAYS, LISTENER_SETS } from "../../api/types.js";
import type { KubeObject, ResourceType, Store } from "../types.js";

/**
 * Standalone input: applies every manifest under a directory to a Store and
 * keeps applying it as the directory changes (`meshsign serve --manifests DIR`).
 *
 * - Files: `*.yaml`, `*.yml`, `*.json`, recursively; names starting with "."
 *   are skipped (editor swap files, the `..data` links of a mounted ConfigMap).
 * - A valid document is created, or its object updated (every field but
 *   metadata and status is replaced; labels and annotations are merged in,
 *   except on the certificate shims' sources, Ingresses and Gateways, whose
 *   labels and annotations are the document's: removing a shim annotation
 *   from the file removes it from the object).
 *   Objects get the annotation `meshsign.io/manifest-source: <file>`.
 * - Objects carrying that annotation whose document is gone are deleted:
 *   only those, so objects made by the engine or the CLI are never touched.
 * - A bad document is reported (file, document index, field paths) and
 *   skipped; the object it described keeps its previous good version. A file
 *   that cannot be read or has a document without a readable identity keeps
 *   all of its objects.
 * - Unknown fields (a misspelled `duraton`) are reported as warnings on an
 *   applied document, with the closest known name; with `strictFields` the
 *   document is invalid instead (`serve --strict-manifests`).
 * - Kinds that are not meshsign's (HTTPRoute, IstioOperator...) are reported as
 *   ignored.
 * - Never throws after start: problems go to `onReport`.
 */

export interface ManifestLoaderOptions {
  readonly dir: string;
  readonly store: Store;
  /** Namespace for namespaced objects that name none. Default "default". */
  readonly defaultNamespace?: string;
  /** Quiet period after a change before re-applying. Default 250 ms. */
  readonly debounceMs?: number;
  /** Refuse documents with unknown fields rather than warn about them. Default false. */
  readonly strictFields?: boolean;
  /** Receives the outcome of every pass (the initial one and each reload). */
  readonly onReport?: (report: ManifestReport) => void;
}

export type DocumentOutcome = "created" | "updated" | "unchanged" | "invalid" | "ignored" | "failed";

export interface DocumentReport {
  readonly document: string;
  readonly outcome: DocumentOutcome;
  /** For invalid and failed documents: what is wrong, with field paths. */
  readonly message?: string;
  /** Unknown fields of an applied document: `unknown field "spec.duraton" (did you mean "spec.duration"?)`. */
  readonly warnings?: readonly string[];
}

export interface ManifestReport {
  readonly documents: readonly DocumentReport[];
  /** "Kind ns/name" of objects deleted because their document disappeared. */
  readonly deleted: readonly string[];
  /** Files that could not be read (their objects are kept). */
  readonly unreadable: readonly string[];
}

const FILE_PATTERN = /\.(ya?ml|json)$/;
export const DEFAULT_MANIFEST_DEBOUNCE_MS = 250;

export class ManifestLoader {
  readonly #dir: string;
  readonly #store: Store;
  readonly #defaultNamespace: string;
  readonly #debounceMs: number;
  readonly #strictFields: boolean;
  readonly #onReport: (report: ManifestReport) => void;
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<ManifestReport> | undefined;
  #rerun = false;

  constructor(options: ManifestLoaderOptions) {
    this.#dir = path.resolve(options.dir);
    this.#store = options.store;
    this.#defaultNamespace = options.defaultNamespace ?? "default";
    this.#debounceMs = options.debounceMs ?? DEFAULT_MANIFEST_DEBOUNCE_MS;
    this.#strictFields = options.strictFields ?? false;
    this.#onReport = options.onReport ?? (() => {});
  }

  /** Applies the directory once, then re-applies on every change until {@link stop}. */
  async start(): Promise<ManifestReport> {
    const st = await stat(this.#dir).catch(() => undefined);
    if (st?.isDirectory() !== true) throw new MeshsignError("ERR_CONFIG_INVALID", `--manifests ${this.#dir} is not a directory`);
    const report = await this.sync();
    this.#watcher = fsWatch(this.#dir, { recursive: true }, () => this.#schedule());
    this.#watcher.on("error", () => this.#schedule());
    return report;
  }

  async stop(): Promise<void> {
    this.#watcher?.close();
    this.#watcher = undefined;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running?.catch(() => undefined);
  }

  /** One pass: read, validate, apply, delete what disappeared. Passes never overlap. */
  async sync(): Promise<ManifestReport> {
    while (this.#running !== undefined) await this.#running.catch(() => undefined);
    this.#running = this.#pass();
    try {
      const report = await this.#running;
      this.#onReport(report);
      return report;
    } finally {
      this.#running = undefined;
    }
  }

  #schedule(): void {
    if (this.#watcher === undefined) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#running !== undefined) {
        this.#rerun = true;
        return;
      }
      void this.sync()
        .catch(() => undefined)
        .then(() => {
          if (this.#rerun) {
            this.#rerun = false;
            this.#schedule();
          }
        });
    }, this.#debounceMs);
  }

  async #pass(): Promise<ManifestReport> {
    const files = await listManifestFiles(this.#dir);
    const documents: ManifestDocument[] = [];
    const unreadable: string[] = [];
    /** Files whose objects must all be kept (unreadable, or a document without identity). */
    const protectedFiles = new Set<string>();
    for (const file of files) {
      let text: string;
      try {
        text = await readFile(path.join(this.#dir, file), "utf8");
      } catch {
        unreadable.push(file);
        protectedFiles.add(file);
        continue;
      }
      for (const doc of parseManifests(text, file, { defaultNamespace: this.#defaultNamespace, strictFields: this.#strictFields })) {
        documents.push(doc);
        if (doc.status === "invalid" && doc.identity === undefined) protectedFiles.add(file);
      }
    }

    const reports: DocumentReport[] = [];
    const keep = new Set<string>();
    const seen = new Map<string, ManifestDocument>();
    const valid: { doc: ManifestDocument & { status: "valid" }; key: string }[] = [];
    for (const doc of documents) {
      if (doc.status === "ignored") {
        reports.push({ document: describeDocument(doc), outcome: "ignored", message: doc.reason });
        continue;
      }
      const key = doc.identity === undefined ? undefined : identityKey(doc.identity);
      if (key !== undefined) keep.add(key);
      if (doc.status === "invalid") {
        reports.push({ document: describeDocument(doc), outcome: "invalid", message: formatFieldErrors(doc.errors) });
        continue;
      }
      const first = seen.get(key ?? "");
      if (first !== undefined) {
        reports.push({ document: describeDocument(doc), outcome: "invalid", message: `duplicate of ${describeDocument(first)}; skipped` });
        continue;
      }
      seen.set(key ?? "", doc);
      valid.push({ doc, key: key ?? "" });
    }
    // Dependencies first: namespaces, secrets, issuers, then certificates.
    valid.sort((a, b) => MANIFEST_KINDS.indexOf(a.doc.identity.type) - MANIFEST_KINDS.indexOf(b.doc.identity.type));
    // Kind by kind (dependencies first), documents of one kind concurrently: each write waits for a
    // durable commit, and concurrent writes share the store's group commits (10,000 documents one at a
    // time took 96 s; the engine bench, docs/benchmarks.md).
    for (const type of MANIFEST_KINDS) {
      const ofKind = valid.filter((v) => v.doc.identity.type === type).map((v) => v.doc);
      reports.push(...(await mapConcurrent(ofKind, APPLY_CONCURRENCY, (doc) => this.#apply(doc))));
    }

    const deleted: string[] = [];
    for (const type of MANIFEST_KINDS) {
      for (const obj of await this.#store.list(type)) {
        const source = obj.metadata.annotations?.[MANIFEST_SOURCE];
        if (source === undefined || protectedFiles.has(source)) continue;
        const id: ManifestIdentity = { type, namespace: obj.metadata.namespace, name: obj.metadata.name ?? "" };
        if (keep.has(identityKey(id))) continue;
        try {
          await this.#store.delete(type, id.namespace, id.name);
          deleted.push(`${type.kind} ${objectKey(type, id.namespace, id.name)}`);
        } catch (err) {
          if (!isMeshsignError(err, "ERR_NOT_FOUND")) reports.push({ document: `${type.kind} ${objectKey(type, id.namespace, id.name)} (from ${source})`, outcome: "failed", message: `could not delete: ${(err as Error).message}` });
        }
      }
    }
    return { documents: reports, deleted, unreadable };
  }

  async #apply(doc: ManifestDocument & { status: "valid" }): Promise<DocumentReport> {
    const report = await this.#write(doc);
    return doc.unknownFields.length === 0 ? report : { ...report, warnings: doc.unknownFields.map(formatUnknownField) };
  }

  async #write(doc: ManifestDocument & { status: "valid" }): Promise<DocumentReport> {
    const { type, namespace, name } = doc.identity;
    const label = describeDocument(doc);
    const desired = doc.object;
    const annotations = { ...(desired.metadata.annotations ?? {}), [MANIFEST_SOURCE]: doc.file };
    try {
      const existing = await this.#store.get(type, namespace, name);
      if (existing === undefined) {
        await this.#store.create(type, { ...desired, metadata: { ...desired.metadata, annotations } });
        return { document: label, outcome: "created" };
      }
      const next = mergeInto(existing, desired, annotations, SHIM_SOURCE_KINDS.has(type));
      if (canonicalJson(next) === canonicalJson(existing)) return { document: label, outcome: "unchanged" };
      const { resourceVersion: _unconditional, ...meta } = next.metadata;
      await this.#store.update(type, { ...next, metadata: meta });
      return { document: label, outcome: "updated" };
    } catch (err) {
      return { document: label, outcome: "failed", message: (err as Error).message };
    }
  }
}

/**
 * The shims' sources: only the manifest writes them standalone, and their annotations decide which
 * Certificates exist, so their labels and annotations are replaced rather than merged.
 */
const SHIM_SOURCE_KINDS: ReadonlySet<ResourceType> = new Set([INGRESSES, GATEWAYS, LISTENER_SETS, ISTIO_GATEWAYS]);

/** The existing object with the manifest's body and merged (or, `replaceMetadata`, the manifest's) labels/annotations; status and server fields kept. */
function mergeInto(existing: KubeObject, desired: KubeObject, annotations: Record<string, string>, replaceMetadata: boolean): KubeObject {
  const { metadata: _m, status, apiVersion: _a, kind: _k } = existing as KubeObject & { status?: unknown };
  const { metadata: dm, status: _ds, ...body } = desired as KubeObject & { status?: unknown };
  const labels = replaceMetadata ? { ...(dm.labels ?? {}) } : { ...(existing.metadata.labels ?? {}), ...(dm.labels ?? {}) };
  const next: KubeObject & { status?: unknown } = {
    ...body,
    apiVersion: existing.apiVersion,
    kind: existing.kind,
    metadata: {
      ...withoutLabels(existing.metadata),
      ...(Object.keys(labels).length > 0 ? { labels } : {}),
      annotations: replaceMetadata ? annotations : { ...(existing.metadata.annotations ?? {}), ...annotations },
    },
  };
  if (status !== undefined) next.status = status;
  return next;
}

function withoutLabels(meta: KubeObject["metadata"]): KubeObject["metadata"] {
  const { labels: _l, ...rest } = meta;
  return rest;
}

function identityKey(id: ManifestIdentity): string {
  return `${typeId(id.type)}|${objectKey(id.type, id.namespace, id.name)}`;
}

/** Manifest files under `dir`, relative, sorted; hidden names skipped; symlinks followed. */
export async function listManifestFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string, depth: number): Promise<void> => {
    if (depth > 16) return;
    let entries: import("node:fs").Dirent[];
    try {
      entries = await readdir(path.join(dir, rel), { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.name.startsWith(".")) continue;
      const r = rel === "" ? e.name : `${rel}/${e.name}`;
      let isDir = e.isDirectory();
      let isFile = e.isFile();
      if (e.isSymbolicLink()) {
        const st = await stat(path.join(dir, r)).catch(() => undefined);
        isDir = st?.isDirectory() === true;
        isFile = st?.isFile() === true;
      }
      if (isDir) await walk(r, depth + 1);
      else if (isFile && FILE_PATTERN.test(e.name)) out.push(r);
    }
  };
  await walk("", 0);
  return out.sort();
}


/** Documents applied at once within one kind. */
const APPLY_CONCURRENCY = 64;

/** Maps with at most `limit` calls in flight, keeping the input order in the result. */
async function mapConcurrent<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const run = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, run));
  return out;
}
