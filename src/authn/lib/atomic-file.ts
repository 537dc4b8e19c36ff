import { randomBytes } from "node:crypto";
import { closeSync, fsyncSync, linkSync, openSync, unlinkSync, writeSync } from "node:fs";
import path from "node:path";

/**
 * Creates `file` with `content` and `mode` atomically and only if it does not
 * exist yet: the bytes go to a temporary file in the same directory, are
 * fsynced, then hard-linked into place (link fails with EEXIST instead of
 * overwriting, so two processes starting at once never replace each other's
 * key), and the directory is fsynced.
 *
 * @returns false when `file` already existed (nothing written).
 */
export function createFileExclusive(file: string, content: string, mode: number): boolean {
  const dir = path.dirname(file);
  const temp = path.join(dir, `.${path.basename(file)}.${randomBytes(6).toString("hex")}.tmp`);
  const fd = openSync(temp, "wx", mode);
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(temp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw err;
  } finally {
    unlinkSync(temp);
  }
  syncDirectory(dir);
  return true;
}

function syncDirectory(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
