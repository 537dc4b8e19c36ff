import { writeSync } from "node:fs";

/** Writes every byte to `fd` (writeSync may write fewer bytes than asked). */
export function writeAllSync(fd: number, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
}
