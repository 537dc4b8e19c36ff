import { constants } from "node:fs";
import { open, rename, unlink } from "node:fs/promises";
import { tempPathFor } from "./lib/temp-path.js";

export interface WriteFileAtomicOptions {
  /** Permission bits of a newly created file (0o600 for keys), subject to the umask as with open(2). */
  readonly mode: number;
  /** fsync the file's bytes before the rename. The rename itself is durable only after {@link fsyncDir} on the folder. */
  readonly fsync: boolean;
  /**
   * Names the temporary file from the target's base name, for a caller whose
   * recovery finds leftovers by name (the embedded store uses `.<name>.tmp`
   * and removes such files when it opens). A fixed name may be left over
   * from a crash, so it is truncated and reused (its existing mode kept), and
   * the caller must not write one target from two places at once. Without it
   * the name is unique (`.<name>.<random>.tmp`) and created exclusively.
   */
  readonly tempName?: (name: string) => string;
}

/**
 * Writes `data` to `path` so that readers see the old bytes or the new bytes,
 * never a mix: a temporary file in the same folder, optionally fsynced, then
 * renamed over the target. When any step fails the temporary file is removed
 * and the target is untouched. The folder is not fsynced here: a caller
 * writing several files fsyncs it once ({@link fsyncDir}).
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: WriteFileAtomicOptions,
): Promise<void> {
  const tmp = tempPathFor(path, options.tempName);
  const reuse = options.tempName === undefined ? constants.O_EXCL : constants.O_TRUNC;
  const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | reuse, options.mode);
  try {
    try {
      await fh.writeFile(data);
      if (options.fsync) await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    // Best effort: the original error is the one worth reporting.
    await unlink(tmp).catch(() => {});
    throw err;
  }
}
