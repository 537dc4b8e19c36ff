export { DEFAULT_MATERIALIZE_DELAY_MS, DEFAULT_MAX_JOURNAL_BYTES, DEFAULT_WRITE_PROBE_INTERVAL_MS, EmbeddedStore, openEmbeddedStore } from "./embedded-store.js";
export type { EmbeddedStoreOptions } from "./embedded-store.js";
export { DEFAULT_MANIFEST_DEBOUNCE_MS, listManifestFiles, ManifestLoader } from "./manifests.js";
export type { DocumentOutcome, DocumentReport, ManifestLoaderOptions, ManifestReport } from "./manifests.js";
export { checkStore, recoverStore } from "./recover.js";
export type { DamagedObjectReport, RecoverOptions, RecoverResult, StoreCheckReport } from "./recover.js";
export type { JournalDamage, TornTail } from "./lib/scan.js";
export type { WriteHealthState } from "./lib/write-health.js";
