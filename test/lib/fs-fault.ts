/**
 * A disk that fills up or turns read-only, for in-process tests: install it
 * under node:fs/promises with
 *
 *   vi.mock("node:fs/promises", async (real) => (await import("../lib/fs-fault.js")).faultyFsPromises(await real()));
 *
 * and set `diskFault.code` ("ENOSPC", "EROFS"): while it is set, opening a
 * file for writing fails and every write or sync on an open file fails with
 * it (with `partial`, a write first writes half its bytes, as a real ENOSPC
 * can); files matching `spare` are left alone. Reads always work.
 */
import { constants } from "node:fs";

type FsPromises = typeof import("node:fs/promises");

export const diskFault = { code: undefined as string | undefined, partial: false, spare: undefined as RegExp | undefined };

/** Clears the fault (for afterEach). */
export function resetDiskFault(): void {
  diskFault.code = undefined;
  diskFault.partial = false;
  diskFault.spare = undefined;
}

export function faultyFsPromises(real: FsPromises): FsPromises {
  const errno = (code: string) => Object.assign(new Error(`${code}: injected`), { code });
  const writes = (flags: unknown) =>
    typeof flags === "number" ? (flags & (constants.O_WRONLY | constants.O_RDWR)) !== 0 : typeof flags === "string" && /[wa+]/.test(flags);
  const open = async (file: Parameters<FsPromises["open"]>[0], flags?: string | number, mode?: number) => {
    const spared = diskFault.spare?.test(String(file)) === true;
    if (diskFault.code !== undefined && writes(flags) && !spared) throw errno(diskFault.code);
    const fh = await real.open(file, flags, mode);
    if (spared) return fh;
    return new Proxy(fh, {
      get(target, prop) {
        const value = Reflect.get(target, prop, target);
        if (typeof value !== "function") return value;
        if (prop === "write") {
          return async (buf: Buffer, off: number, len: number) => {
            if (diskFault.code === undefined) return target.write(buf, off, len);
            if (diskFault.partial && len > 1) await target.write(buf, off, Math.floor(len / 2));
            throw errno(diskFault.code);
          };
        }
        if (prop === "writeFile" || prop === "sync" || prop === "datasync") {
          return async (...args: unknown[]) => {
            if (diskFault.code !== undefined) throw errno(diskFault.code);
            return (value as (...a: unknown[]) => unknown).apply(target, args);
          };
        }
        return value.bind(target);
      },
    });
  };
  return { ...real, open, default: { ...real, open } } as FsPromises;
}
