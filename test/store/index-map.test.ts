import { describe, expect, it } from "vitest";
import { IndexMap } from "../../src/store/memory/index.js";

describe("IndexMap", () => {
  it.each<{ name: string; ops: [op: "add" | "delete", key: string, value: string][]; key: string; want: string[]; size: number }>([
    { name: "an unknown key has no values", ops: [], key: "k", want: [], size: 0 },
    { name: "a lone value is returned", ops: [["add", "k", "a"]], key: "k", want: ["a"], size: 1 },
    { name: "adding a value twice keeps one", ops: [["add", "k", "a"], ["add", "k", "a"]], key: "k", want: ["a"], size: 1 },
    { name: "several values keep their insertion order", ops: [["add", "k", "a"], ["add", "k", "b"], ["add", "k", "c"]], key: "k", want: ["a", "b", "c"], size: 1 },
    { name: "deleting down to one value keeps that one", ops: [["add", "k", "a"], ["add", "k", "b"], ["delete", "k", "a"]], key: "k", want: ["b"], size: 1 },
    { name: "deleting the last value forgets the key", ops: [["add", "k", "a"], ["add", "k", "b"], ["delete", "k", "a"], ["delete", "k", "b"]], key: "k", want: [], size: 0 },
    { name: "deleting a value that is not there changes nothing", ops: [["add", "k", "a"], ["delete", "k", "x"], ["delete", "other", "a"]], key: "k", want: ["a"], size: 1 },
  ])("$name", ({ ops, key, want, size }) => {
    const m = new IndexMap();
    for (const [op, k, v] of ops) m[op](k, v);
    expect(m.get(key)).toEqual(want);
    expect(m.size).toBe(size);
  });

  it("returns a copy that may be iterated while the index changes", () => {
    const m = new IndexMap();
    m.add("k", "a");
    m.add("k", "b");
    const seen: string[] = [];
    for (const v of m.get("k")) {
      seen.push(v);
      m.delete("k", v);
    }
    expect(seen).toEqual(["a", "b"]);
    expect(m.get("k")).toEqual([]);
  });
});
