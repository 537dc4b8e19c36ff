/**
 * The one Store interface and its standalone backends.
 *
 * - `Store` and its types: the contract every backend implements (./types.ts).
 * - `MemoryStore`: the contract in memory (tests; the core of the embedded store).
 * - `EmbeddedStore` / `openEmbeddedStore`: standalone, durable, under `<data-dir>/store`.
 * - `ManifestLoader`: applies `--manifests DIR` to any Store and follows its changes.
 *
 * The Kubernetes backend is imported from "./kube/index.js" directly, so that
 * standalone processes never load the Kubernetes client.
 */
export type { KubeObject, ListOptions, ObjectMeta, OwnerReference, ResourceType, Store, Watch, WatchEvent, WatchEventType } from "./types.js";
export { MemoryStore } from "./memory/index.js";
export type { CommitRecord, MemoryStoreOptions } from "./memory/index.js";
export { DEFAULT_MANIFEST_DEBOUNCE_MS, DEFAULT_MATERIALIZE_DELAY_MS, DEFAULT_MAX_JOURNAL_BYTES, EmbeddedStore, listManifestFiles, ManifestLoader, openEmbeddedStore } from "./embedded/index.js";
export type { DocumentOutcome, DocumentReport, EmbeddedStoreOptions, ManifestLoaderOptions, ManifestReport } from "./embedded/index.js";
