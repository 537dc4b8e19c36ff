import { constants } from "node:fs";
import { open, rename, unlink } from "node:fs/promises";

/** Small durable-file helpers. Everything the embedded store writes is 0600, every directory 0700. */

export const FILE_MODE = 0o600;
export const DIR_MODE = 0o700;

/**
 * Writes `data` to `path` atomically: a temporary file in the same directory
 * (".<name>.tmp", ignored and removed on the next open), optionally fsynced,
 * then renamed over the target. Readers see the old or the new content, never
 * a mix. Durability of the rename itself needs {@link fsyncDir} on the parent.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, options: { fsync: boolean }): Promise<void> {
  const slash = path.lastIndexOf("/");
  const tmp = `${path.slice(0, slash + 1)}.${path.slice(slash + 1)}.tmp`;
  const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, FILE_MODE);
  try {
    await fh.writeFile(data);
    if (options.fsync) await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}

/** fsyncs a directory so that renames and unlinks in it survive a power loss. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** fsyncs a file; a file that is gone by now is fine (its unlink is made durable by fsyncDir). */
export async function fsyncFile(path: string): Promise<void> {
  let fh: Awaited<ReturnType<typeof open>>;
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

export async function unlinkIfExists(path: string): Promise<boolean> {
  try {
    await unlink(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw err;
  }
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function forEachLimit<T>(items: Iterable<T>, limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  const it = items[Symbol.iterator]();
  const worker = async (): Promise<void> => {
    for (let next = it.next(); !next.done; next = it.next()) await fn(next.value);
  };
  await Promise.all(Array.from({ length: limit }, worker));
}
