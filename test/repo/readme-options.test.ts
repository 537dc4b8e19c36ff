import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { OPTIONS } from "../../src/server/config.js";

/**
 * README.md's configuration table is where users look an option up: every option of `meshsign
 * serve` has a row, and every flag a row names is one `serve` takes (a renamed flag cannot linger).
 */
const readme = readFileSync(path.resolve(import.meta.dirname, "../../README.md"), "utf8");
/** The flags named in the first column of the table rows (`| \`--a\` / \`--b\` | default | meaning |`). */
const tableFlags = readme
  .split("\n")
  .filter((line) => line.startsWith("| `--"))
  .flatMap((line) =>
    [...(line.split("|")[1] ?? "").matchAll(/`(--[a-z0-9-]+)`/g)].map((m) => m[1] as string),
  );

describe("README's configuration table", () => {
  it("has a row for every option of meshsign serve", () => {
    const missing = OPTIONS.map((o) => o.flag).filter((flag) => !tableFlags.includes(flag));
    expect(missing).toEqual([]);
  });

  it("names only flags meshsign serve takes", () => {
    const flags = new Set(OPTIONS.map((o) => o.flag));
    expect(tableFlags.filter((flag) => !flags.has(flag))).toEqual([]);
  });
});
