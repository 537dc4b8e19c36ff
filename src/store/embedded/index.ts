export { DEFAULT_MATERIALIZE_DELAY_MS, DEFAULT_MAX_JOURNAL_BYTES, EmbeddedStore, openEmbeddedStore } from "./embedded-store.js";
export type { EmbeddedStoreOptions } from "./embedded-store.js";
export { DEFAULT_MANIFEST_DEBOUNCE_MS, listManifestFiles, ManifestLoader } from "./manifests.js";
export type { DocumentOutcome, DocumentReport, ManifestLoaderOptions, ManifestReport } from "./manifests.js";
