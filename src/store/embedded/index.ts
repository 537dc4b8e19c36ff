export { DEFAULT_MATERIALIZE_DELAY_MS, DEFAULT_MAX_JOURNAL_BYTES, EmbeddedStore, openEmbeddedStore } from "./embedded-store.js";
export type { EmbeddedStoreOptions } from "./embedded-store.js";
