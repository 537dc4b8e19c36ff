import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { fsyncDir, fsyncFile, writeFileAtomic } from "../../src/fsutil/index.js";
import { TempDir } from "../lib/temp-dir.js";

const tmp = new TempDir("meshsign-fsutil-");
afterAll(() => tmp.remove());

let n = 0;
/** A fresh empty folder per case, so "no other files" assertions see only that case. */
function folder(): string {
  const dir = tmp.path(`async-${n++}`);
  mkdirSync(dir);
  return dir;
}

/** Stands in for a write that fails after the temporary file exists (fh.writeFile rejects it). */
const FAILING_DATA = { length: 3 } as unknown as Uint8Array;
const storeTempName = (name: string): string => `.${name}.tmp`;

describe("writeFileAtomic", () => {
  it.each([
    { what: "a key as a string with mode 0600", data: "KEY\n", mode: 0o600, fsync: true, bytes: "KEY\n" },
    {
      what: "a certificate as bytes with mode 0644",
      data: Buffer.from("CERT"),
      mode: 0o644,
      fsync: true,
      bytes: "CERT",
    },
    {
      what: "a store object without fsync with mode 0600",
      data: "{}\n",
      mode: 0o600,
      fsync: false,
      bytes: "{}\n",
    },
    { what: "an empty file", data: "", mode: 0o600, fsync: true, bytes: "" },
  ])("writes $what and leaves no temporary file", async ({ data, mode, fsync, bytes }) => {
    const dir = folder();
    await writeFileAtomic(`${dir}/out`, data, { mode, fsync });
    expect(readFileSync(`${dir}/out`, "utf8")).toBe(bytes);
    expect(statSync(`${dir}/out`).mode & 0o777).toBe(mode);
    expect(readdirSync(dir)).toEqual(["out"]);
  });

  it.each([
    { what: "a unique temporary name", tempName: undefined },
    { what: "the store's .<name>.tmp name", tempName: storeTempName },
  ])("replaces an existing file's bytes and mode when using $what", async ({ tempName }) => {
    const dir = folder();
    writeFileSync(`${dir}/key.pem`, "OLD CONTENT THAT IS LONGER", { mode: 0o644 });
    await writeFileAtomic(`${dir}/key.pem`, "NEW", {
      mode: 0o600,
      fsync: true,
      ...(tempName ? { tempName } : {}),
    });
    expect(readFileSync(`${dir}/key.pem`, "utf8")).toBe("NEW");
    expect(statSync(`${dir}/key.pem`).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(["key.pem"]);
  });

  it("reuses the store's leftover .<name>.tmp from a crash, truncating its old bytes", async () => {
    const dir = folder();
    writeFileSync(`${dir}/.obj.json.tmp`, "half-written garbage from before the crash", { mode: 0o600 });
    await writeFileAtomic(`${dir}/obj.json`, "{}\n", { mode: 0o600, fsync: false, tempName: storeTempName });
    expect(readFileSync(`${dir}/obj.json`, "utf8")).toBe("{}\n");
    // The leftover was the temporary file (renamed away), so nothing else remains.
    expect(readdirSync(dir)).toEqual(["obj.json"]);
  });

  it("never reuses an existing file under a unique temporary name", async () => {
    const dir = folder();
    writeFileSync(`${dir}/.obj.json.tmp`, "someone else's", { mode: 0o600 });
    await writeFileAtomic(`${dir}/obj.json`, "{}\n", { mode: 0o600, fsync: false });
    expect(readFileSync(`${dir}/.obj.json.tmp`, "utf8")).toBe("someone else's");
    expect(readdirSync(dir).sort()).toEqual([".obj.json.tmp", "obj.json"]);
  });

  it.each([
    {
      what: "the write fails",
      tempName: undefined,
      target: "out",
      data: FAILING_DATA,
      code: "ERR_INVALID_ARG_TYPE",
    },
    {
      what: "the write fails under the store's name",
      tempName: storeTempName,
      target: "out",
      data: FAILING_DATA,
      code: "ERR_INVALID_ARG_TYPE",
    },
    { what: "the rename fails", tempName: undefined, target: "taken", data: "x", code: "EISDIR" },
    {
      what: "the rename fails under the store's name",
      tempName: storeTempName,
      target: "taken",
      data: "x",
      code: "EISDIR",
    },
  ])(
    "removes the temporary file and keeps the target when $what",
    async ({ tempName, target, data, code }) => {
      const dir = folder();
      writeFileSync(`${dir}/out`, "OLD", { mode: 0o600 });
      // A non-empty folder where the target should go makes the rename fail.
      mkdirSync(`${dir}/taken`);
      writeFileSync(`${dir}/taken/inside`, "");
      const options = { mode: 0o600, fsync: true, ...(tempName ? { tempName } : {}) };
      await expect(writeFileAtomic(`${dir}/${target}`, data, options)).rejects.toMatchObject({ code });
      expect(readdirSync(dir).sort()).toEqual(["out", "taken"]);
      expect(readFileSync(`${dir}/out`, "utf8")).toBe("OLD");
    },
  );

  it.each([
    { what: "a path", name: "../escape" },
    { what: "the target's own name", name: "out" },
    { what: "an empty name", name: "" },
    { what: "the parent folder", name: ".." },
  ])("refuses a tempName that returns $what and creates nothing", async ({ name }) => {
    const dir = folder();
    await expect(
      writeFileAtomic(`${dir}/out`, "x", { mode: 0o600, fsync: false, tempName: () => name }),
    ).rejects.toThrow(TypeError);
    expect(readdirSync(dir)).toEqual([]);
  });

  it("fails with ENOENT and creates nothing when the target's folder does not exist", async () => {
    const dir = folder();
    await expect(
      writeFileAtomic(`${dir}/missing/out`, "x", { mode: 0o600, fsync: true }),
    ).rejects.toMatchObject({
      code: "ENOENT",
    });
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe("fsyncDir and fsyncFile", () => {
  it("fsync an existing folder and file", async () => {
    const dir = folder();
    writeFileSync(`${dir}/f`, "x");
    await expect(fsyncDir(dir)).resolves.toBeUndefined();
    await expect(fsyncFile(`${dir}/f`)).resolves.toBeUndefined();
  });

  it("treats a file that is already gone as synced", async () => {
    await expect(fsyncFile(`${folder()}/gone`)).resolves.toBeUndefined();
  });

  it.each([
    { what: "a missing folder", make: (dir: string) => `${dir}/missing`, code: "ENOENT" },
    {
      what: "a file given as a folder",
      make: (dir: string) => {
        writeFileSync(`${dir}/f`, "x");
        return `${dir}/f`;
      },
      code: "ENOTDIR",
    },
  ])("fsyncDir rejects $what", async ({ make, code }) => {
    await expect(fsyncDir(make(folder()))).rejects.toMatchObject({ code });
  });
});
