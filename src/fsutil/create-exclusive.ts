import { closeSync, fsyncSync, linkSync, openSync, unlinkSync } from "node:fs";
import { dirname } from "node:path";
import { fsyncDirSync } from "./fsync.js";
import { tempPathFor, toBytes } from "./lib/temp-path.js";
import { writeAllSync } from "./lib/write-all-sync.js";

/**
 * Creates `path` with `data` and `mode` atomically and only if it does not
 * exist yet: the bytes go to a temporary file in the same folder, are
 * fsynced, then hard-linked into place (link fails with EEXIST instead of
 * overwriting, so two processes starting at once never replace each other's
 * key), and the folder is fsynced. The temporary file is always removed.
 *
 * @returns false when `path` already existed (nothing written).
 */
export function createFileExclusiveSync(path: string, data: string | Uint8Array, mode: number): boolean {
  const tmp = tempPathFor(path);
  const fd = openSync(tmp, "wx", mode);
  try {
    try {
      writeAllSync(fd, toBytes(data));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    linkSync(tmp, path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw err;
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // Best effort: a leftover is harmless, and the outcome above is what matters.
    }
  }
  fsyncDirSync(dirname(path));
  return true;
}
