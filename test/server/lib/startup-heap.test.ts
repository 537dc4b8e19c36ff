import { execFileSync } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { REPO_ROOT } from "../../lib/temp-dir.js";

/*
 * endStartupHeap runs in a child process: the V8 flag it sets is process-wide.
 * The child starts the way bin/meshsign.js leaves a process (growth factor 1,
 * and the mark when the entry set it), calls endStartupHeap, then keeps
 * 300,000 objects alive and reports the young generation's size.
 */
function youngMbAfterEnd(entryMarked: boolean, options = ""): number {
  const module = path.join(REPO_ROOT, "src/server/lib/startup-heap.ts");
  const script = `
    import { getHeapSpaceStatistics, setFlagsFromString } from "node:v8";
    setFlagsFromString("--semi-space-growth-factor=1");
    if (${entryMarked}) globalThis[Symbol.for("meshsign.startupYoungGeneration")] = true;
    const { endStartupHeap } = await import(${JSON.stringify(module)});
    endStartupHeap(${options || "{}"});
    endStartupHeap();
    // Kept objects survive scavenges (what makes V8 grow the young generation), in steps with
    // a turn of the event loop between them so that observers of garbage collections run.
    const kept = [];
    for (let step = 0; step < 20; step++) {
      for (let i = 0; i < 15_000; i++) kept.push({ i, s: "x" + i });
      await new Promise((resolve) => setImmediate(resolve));
    }
    const young = getHeapSpaceStatistics().find((s) => s.space_name === "new_space");
    process.stdout.write(JSON.stringify({ youngMb: (young?.space_size ?? 0) / 1048576, kept: kept.length }));
  `;
  const out = execFileSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    cwd: REPO_ROOT,
    encoding: "utf8",
  });
  return (JSON.parse(out) as { youngMb: number }).youngMb;
}

describe("endStartupHeap", () => {
  it("lets the young generation grow again after bin/meshsign.js held it", () => {
    expect(youngMbAfterEnd(true)).toBeGreaterThanOrEqual(16);
  });

  it("stops the young generation's growth at the semi-space cap it is given", () => {
    const uncapped = youngMbAfterEnd(true);
    const capped = youngMbAfterEnd(true, "{ maxSemiSpaceMb: 2 }");
    // Both semi-spaces: 4 MB at the cap. The switch follows the garbage collection that reached it,
    // reported asynchronously, so a burst of scavenges (every object here survives) may double once more.
    expect(capped).toBeLessThanOrEqual(8);
    expect(capped).toBeGreaterThan(2);
    expect(uncapped).toBeGreaterThan(capped);
  });

  it("leaves the factor alone when bin/meshsign.js did not set it (the user chose one)", () => {
    expect(youngMbAfterEnd(false)).toBeLessThanOrEqual(4);
  });
});
