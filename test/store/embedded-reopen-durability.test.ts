import { constants } from "node:fs";
import { cp, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { SECRETS } from "../../src/api/types.js";
import { openEmbeddedStore } from "../../src/store/embedded/index.js";
import { secret } from "./contract.js";

/** What reached the disk, in order: `sync <path>` for an fsync of a file, `unlink <path>` for a removal. */
const ops = vi.hoisted(() => [] as string[]);

// Records which files are fsynced and which are removed, and in what order.
vi.mock("node:fs/promises", async (importReal) => {
  const real = await importReal<typeof import("node:fs/promises")>();
  const open = async (file: Parameters<typeof real.open>[0], flags?: string | number, mode?: number) => {
    const fh = await real.open(file, flags, mode);
    const isDir = typeof flags === "number" && (flags & constants.O_DIRECTORY) !== 0;
    return new Proxy(fh, {
      get(target, prop) {
        const value = Reflect.get(target, prop, target);
        if (typeof value !== "function") return value;
        if ((prop === "sync" || prop === "datasync") && !isDir) {
          return async (...args: unknown[]) => {
            await (value as (...a: unknown[]) => Promise<void>).apply(target, args);
            ops.push(`sync ${String(file)}`);
          };
        }
        return value.bind(target);
      },
    });
  };
  const unlink = async (p: Parameters<typeof real.unlink>[0]) => {
    await real.unlink(p);
    ops.push(`unlink ${String(p)}`);
  };
  return { ...real, open, unlink, default: { ...real, open, unlink } };
});

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(path.join(tmpdir(), "meshsign-reopen-"));
  dirs.push(d);
  return d;
}
afterEach(async () => {
  ops.length = 0;
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe("the embedded store reopened after a crash", () => {
  it("fsyncs an object file a crashed process wrote but never fsynced before dropping the journal segment that held its only durable copy", async () => {
    const dataDir = await tempDir();
    const store = await openEmbeddedStore({ dataDir, materializeDelayMs: 1 });
    await store.create(SECRETS, secret("a"));
    // The object file is written (renamed into place, not fsynced: the journal is the durable copy).
    await store.flush();
    // Crash: the directory as the killed process left it (page cache included), lock removed.
    const copy = await tempDir();
    await cp(dataDir, copy, { recursive: true });
    await rm(path.join(copy, "store/LOCK"));
    await store.close();

    ops.length = 0;
    const reopened = await openEmbeddedStore({ dataDir: copy });
    expect((await reopened.get(SECRETS, "ns", "a"))?.metadata.name).toBe("a");
    // The next checkpoint (here: close) drops the old segment; the file must be durable first.
    await reopened.close();
    const file = path.join(copy, "store/core/secrets/ns/a.json");
    const segment = ops.findIndex((o) => /^unlink .*\/journal\/\d{16}\.log$/.test(o));
    expect(segment, ops.join("\n")).toBeGreaterThanOrEqual(0);
    const synced = ops.findIndex((o) => o === `sync ${file}`);
    expect(synced, ops.join("\n")).toBeGreaterThanOrEqual(0);
    expect(synced).toBeLessThan(segment);
  });
});
