export { MemoryStore } from "./memory-store.js";
export type { CommitRecord, MemoryStoreOptions } from "./memory-store.js";
