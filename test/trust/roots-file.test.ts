/**
 * RootsFileWatcher: the roots bundle file as istio-csr's --root-ca-file
 * (reference §2.4 and rootca_test.go): initial load, re-publication on a byte
 * change only, a kubelet-style `..data` symlink swap, and bad content that
 * leaves the last good bundle in place.
 */
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { isMeshsignError, type MeshsignError } from "../../src/errors/index.js";
import { RootsFileWatcher } from "../../src/trust/index.js";
import { rootPem } from "./lib/roots.js";

let rootA = "";
let rootB = "";
let leafLike = "";
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  rootA = await rootPem("root A");
  rootB = await rootPem("root B");
  leafLike = await rootPem("not a CA", { ca: false });
});

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "meshsign-roots-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function open(file: string, errors: MeshsignError[] = []): Promise<RootsFileWatcher> {
  // Polling off: every change in these tests must be seen through the directory watch or refresh().
  const w = await RootsFileWatcher.open({ path: file, pollIntervalMs: 0, onError: (e) => errors.push(e) });
  cleanups.push(() => w.close());
  return w;
}

function nextBundle(w: RootsFileWatcher, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no new bundle")), timeoutMs);
    const off = w.subscribe((pem) => {
      clearTimeout(timer);
      off();
      resolve(pem);
    });
  });
}

describe("RootsFileWatcher", () => {
  it("publishes the file's bundle byte for byte, several roots included", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "roots.pem");
    await writeFile(file, rootA + rootB);
    const w = await open(file);
    expect(w.current()).toBe(rootA + rootB);
  });

  it.each([
    ["a missing file", null],
    ["an empty file", ""],
    ["a file with no certificate", "hello\n"],
    ["a file with a broken PEM block", "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n"],
    ["a certificate that is not a CA", "LEAF"],
  ])("refuses to start from %s with ERR_CONFIG_INVALID naming the file", async (_name, content) => {
    const dir = await tempDir();
    const file = path.join(dir, "roots.pem");
    if (content !== null) await writeFile(file, content === "LEAF" ? leafLike : content);
    const err = await RootsFileWatcher.open({ path: file, pollIntervalMs: 0 }).catch((e: unknown) => e);
    expect(isMeshsignError(err, "ERR_CONFIG_INVALID")).toBe(true);
    expect((err as Error).message).toContain(file);
  });

  it("publishes a rewritten file once its bytes change", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "roots.pem");
    await writeFile(file, rootA);
    const w = await open(file);
    const next = nextBundle(w);
    await writeFile(file, rootA + rootB);
    expect(await next).toBe(rootA + rootB);
    expect(w.current()).toBe(rootA + rootB);
  });

  it("publishes nothing when the file is rewritten with the same bytes", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "roots.pem");
    await writeFile(file, rootA);
    const w = await open(file);
    const seen: string[] = [];
    w.subscribe((pem) => seen.push(pem));
    await writeFile(file, rootA);
    await w.refresh();
    expect(seen).toEqual([]);
  });

  it("follows a kubelet-style ..data symlink swap", async () => {
    // <dir>/roots.pem -> ..data/roots.pem ; ..data -> ..v1 ; the kubelet makes ..v2 and renames a new link over ..data.
    const dir = await tempDir();
    await mkdir(path.join(dir, "..v1"));
    await writeFile(path.join(dir, "..v1", "roots.pem"), rootA);
    await symlink("..v1", path.join(dir, "..data"));
    await symlink(path.join("..data", "roots.pem"), path.join(dir, "roots.pem"));
    const w = await open(path.join(dir, "roots.pem"));
    expect(w.current()).toBe(rootA);

    const next = nextBundle(w);
    await mkdir(path.join(dir, "..v2"));
    await writeFile(path.join(dir, "..v2", "roots.pem"), rootA + rootB);
    await symlink("..v2", path.join(dir, "..data_tmp"));
    await rename(path.join(dir, "..data_tmp"), path.join(dir, "..data"));
    await rm(path.join(dir, "..v1"), { recursive: true });
    expect(await next).toBe(rootA + rootB);
  });

  it("keeps the last good bundle and reports an error when the file turns bad, then recovers", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "roots.pem");
    await writeFile(file, rootA);
    const errors: MeshsignError[] = [];
    const w = await open(file, errors);
    await writeFile(file, "garbage");
    await w.refresh();
    expect(w.current()).toBe(rootA);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors[0]?.code).toBe("ERR_CERT_INVALID");

    await rm(file);
    await w.refresh();
    expect(w.current()).toBe(rootA);

    await writeFile(file, rootB);
    await w.refresh();
    expect(w.current()).toBe(rootB);
  });
});
