/**
 * Durable file writes, shared by every layer that keeps state on disk (the
 * data dir, the CLI, the dev token issuer, the engine's file output, the
 * embedded store). It sits at the bottom of the dependency graph next to
 * `src/errors` and imports no other meshsign folder. Helpers in `lib/` are
 * internal.
 */

export { type WriteFileAtomicOptions, writeFileAtomic } from "./atomic-write.js";
export { type WriteFileAtomicSyncOptions, writeFileAtomicSync } from "./atomic-write-sync.js";
export { createFileExclusiveSync } from "./create-exclusive.js";
export { fsyncDir, fsyncDirSync, fsyncFile } from "./fsync.js";
