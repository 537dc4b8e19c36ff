import { describe, expect, it } from "vitest";
import { SECTION_MARKERS, updateDoc } from "../../bench/lib/report.js";

const block = (section: "main" | "peer", body: string) =>
  `${SECTION_MARKERS[section].begin}\n${body}\n${SECTION_MARKERS[section].end}\n`;

describe("docs/benchmarks.md's generated blocks", () => {
  const doc = `# Benchmarks\n\nby hand\n\n${block("main", "main figures")}\nmiddle\n\n${block("peer", "old peer")}\nafter\n`;

  it("replaces the peer block and keeps the main block and the hand-written text", () => {
    const out = updateDoc(doc, block("peer", "new peer"), "peer");
    expect(out).toContain("main figures");
    expect(out).toContain("new peer");
    expect(out).not.toContain("old peer");
    expect(out).toContain("by hand");
    expect(out).toContain("middle");
    expect(out).toContain("after");
  });

  it("replaces the main block and keeps the peer block", () => {
    const out = updateDoc(doc, block("main", "new main"), "main");
    expect(out).toContain("new main");
    expect(out).not.toContain("main figures");
    expect(out).toContain("old peer");
  });

  it("appends a block the doc does not have yet", () => {
    const out = updateDoc("# Benchmarks\n\ntext\n", block("peer", "first peer"), "peer");
    expect(out).toBe(`# Benchmarks\n\ntext\n\n${block("peer", "first peer")}`);
  });
});
