export { MemoryStore } from "./memory-store.js";
export type { CommitRecord, MemoryStoreOptions } from "./memory-store.js";
// Memory-lean building blocks, also used by the engine's own indexes.
export { IndexMap } from "./lib/index-map.js";
export { StringInterner } from "./lib/intern.js";
export type { InternerOptions } from "./lib/intern.js";
