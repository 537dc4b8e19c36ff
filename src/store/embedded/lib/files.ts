import { unlink } from "node:fs/promises";
import { writeFileAtomic } from "../../../fsutil/index.js";

/** The embedded store's file conventions. Everything it writes is 0600, every directory 0700. */

export const FILE_MODE = 0o600;
export const DIR_MODE = 0o700;

/**
 * The temporary file of a write to `<name>` is `.<name>.tmp`: a fixed name,
 * so a write interrupted by a crash leaves at most one leftover per file, and
 * `loadObjects` (objects.ts) finds it by its `.tmp` suffix so that the next open
 * removes it.
 */
function storeTempName(name: string): string {
  return `.${name}.tmp`;
}

/**
 * Writes one store file atomically (mode 0600, temporary file `.<name>.tmp`),
 * optionally fsynced. Readers see the old or the new content, never a mix.
 * Durability of the rename itself needs `fsyncDir` on the parent.
 */
export function writeStoreFile(
  path: string,
  data: string | Uint8Array,
  options: { fsync: boolean },
): Promise<void> {
  return writeFileAtomic(path, data, { mode: FILE_MODE, fsync: options.fsync, tempName: storeTempName });
}

export async function unlinkIfExists(path: string): Promise<boolean> {
  try {
    await unlink(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw err;
  }
}
