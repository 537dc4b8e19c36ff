import { closeSync, fsyncSync, openSync, renameSync, unlinkSync } from "node:fs";
import { dirname } from "node:path";
import { fsyncDirSync } from "./fsync.js";
import { tempPathFor, toBytes } from "./lib/temp-path.js";
import { writeAllSync } from "./lib/write-all-sync.js";

export interface WriteFileAtomicSyncOptions {
  /** Permission bits of the file (0o600 for keys), subject to the umask as with open(2). */
  readonly mode: number;
}

/**
 * Writes a file so that readers see the old bytes or the new bytes, never a
 * mix, and the new bytes survive a crash once this returns: a uniquely named
 * temporary file created exclusively with the final mode, fsynced, renamed
 * over the target, then the folder fsynced. When writing or renaming fails the
 * temporary file is removed and the target is untouched.
 */
export function writeFileAtomicSync(
  path: string,
  data: string | Uint8Array,
  options: WriteFileAtomicSyncOptions,
): void {
  const tmp = tempPathFor(path);
  const fd = openSync(tmp, "wx", options.mode);
  try {
    try {
      writeAllSync(fd, toBytes(data));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // Best effort: the original error is the one worth reporting.
    }
    throw err;
  }
  fsyncDirSync(dirname(path));
}
