import { closeSync, constants, fsyncSync, openSync } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";

/**
 * fsyncs a directory so that creates, renames and unlinks in it survive a
 * power loss (fsyncing a file makes its bytes durable, not its name).
 */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** {@link fsyncDir} for synchronous callers (start-up and CLI code). */
export function fsyncDirSync(dir: string): void {
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * fsyncs a file. A file that is gone by now is fine: its unlink is made
 * durable by {@link fsyncDir} on its directory.
 */
export async function fsyncFile(path: string): Promise<void> {
  let fh: FileHandle;
  try {
    fh = await open(path, constants.O_RDONLY);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
    throw err;
  }
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
