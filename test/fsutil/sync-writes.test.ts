import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { createFileExclusiveSync, fsyncDirSync, writeFileAtomicSync } from "../../src/fsutil/index.js";
import { TempDir } from "../lib/temp-dir.js";

const tmp = new TempDir("meshsign-fsutil-sync-");
afterAll(() => tmp.remove());

let n = 0;
function folder(): string {
  const dir = tmp.path(`sync-${n++}`);
  mkdirSync(dir);
  return dir;
}

/** Stands in for a write that fails after the temporary file exists (writeSync rejects it). */
const FAILING_DATA = { length: 3 } as unknown as Uint8Array;

describe("writeFileAtomicSync", () => {
  it.each([
    { what: "a root key as a string with mode 0600", data: "KEY\n", mode: 0o600, bytes: "KEY\n" },
    {
      what: "a root certificate as bytes with mode 0644",
      data: Buffer.from("CERT"),
      mode: 0o644,
      bytes: "CERT",
    },
    {
      what: "a 3 MiB file",
      data: "z".repeat(3 << 20),
      mode: 0o600,
      bytes: "z".repeat(3 << 20),
    },
    { what: "an empty file", data: "", mode: 0o600, bytes: "" },
  ])("writes $what and leaves no temporary file", ({ data, mode, bytes }) => {
    const dir = folder();
    writeFileAtomicSync(`${dir}/out`, data, { mode });
    expect(readFileSync(`${dir}/out`, "utf8")).toBe(bytes);
    expect(statSync(`${dir}/out`).mode & 0o777).toBe(mode);
    expect(readdirSync(dir)).toEqual(["out"]);
  });

  it("overwrites an existing file and gives it the new mode", () => {
    const dir = folder();
    writeFileSync(`${dir}/admin-token`, "OLD TOKEN, LONGER", { mode: 0o644 });
    writeFileAtomicSync(`${dir}/admin-token`, "NEW\n", { mode: 0o600 });
    expect(readFileSync(`${dir}/admin-token`, "utf8")).toBe("NEW\n");
    expect(statSync(`${dir}/admin-token`).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(["admin-token"]);
  });

  it.each([
    { what: "the write fails", target: "out", data: FAILING_DATA, code: "ERR_INVALID_ARG_TYPE" },
    { what: "the rename fails", target: "taken", data: "x", code: "EISDIR" },
  ])("removes the temporary file and keeps the target when $what", ({ target, data, code }) => {
    const dir = folder();
    writeFileSync(`${dir}/out`, "OLD", { mode: 0o600 });
    mkdirSync(`${dir}/taken`);
    writeFileSync(`${dir}/taken/inside`, "");
    expect(() => writeFileAtomicSync(`${dir}/${target}`, data, { mode: 0o600 })).toThrow(
      expect.objectContaining({ code }),
    );
    expect(readdirSync(dir).sort()).toEqual(["out", "taken"]);
    expect(readFileSync(`${dir}/out`, "utf8")).toBe("OLD");
  });
});

describe("createFileExclusiveSync", () => {
  it.each([
    { what: "a signing key with mode 0600", data: "PRIVATE\n", mode: 0o600 },
    { what: "a JWKS with mode 0644", data: Buffer.from('{"keys":[]}\n'), mode: 0o644 },
  ])("creates $what when the file does not exist and leaves no temporary file", ({ data, mode }) => {
    const dir = folder();
    expect(createFileExclusiveSync(`${dir}/f`, data, mode)).toBe(true);
    expect(readFileSync(`${dir}/f`)).toEqual(Buffer.from(data));
    expect(statSync(`${dir}/f`).mode & 0o777).toBe(mode);
    expect(readdirSync(dir)).toEqual(["f"]);
  });

  it("returns false for a second create and leaves the first bytes and mode", () => {
    const dir = folder();
    expect(createFileExclusiveSync(`${dir}/key.pem`, "FIRST", 0o600)).toBe(true);
    expect(createFileExclusiveSync(`${dir}/key.pem`, "SECOND", 0o644)).toBe(false);
    expect(readFileSync(`${dir}/key.pem`, "utf8")).toBe("FIRST");
    expect(statSync(`${dir}/key.pem`).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(["key.pem"]);
  });

  it("returns false when a folder already has the name, leaving it alone", () => {
    const dir = folder();
    mkdirSync(`${dir}/taken`);
    expect(createFileExclusiveSync(`${dir}/taken`, "x", 0o600)).toBe(false);
    expect(statSync(`${dir}/taken`).isDirectory()).toBe(true);
    expect(readdirSync(dir)).toEqual(["taken"]);
  });

  it("removes the temporary file and creates nothing when the write fails", () => {
    const dir = folder();
    expect(() => createFileExclusiveSync(`${dir}/f`, FAILING_DATA, 0o600)).toThrow(
      expect.objectContaining({ code: "ERR_INVALID_ARG_TYPE" }),
    );
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe("fsyncDirSync", () => {
  it.each([
    { what: "an existing folder", make: (dir: string) => dir, code: undefined },
    { what: "a missing folder", make: (dir: string) => `${dir}/missing`, code: "ENOENT" },
  ])("handles $what", ({ make, code }) => {
    const run = (): void => fsyncDirSync(make(folder()));
    if (code === undefined) expect(run).not.toThrow();
    else expect(run).toThrow(expect.objectContaining({ code }));
  });
});
