import { PerformanceObserver } from "node:perf_hooks";
import { getHeapSpaceStatistics, setFlagsFromString } from "node:v8";

/** Set by bin/meshsign.js when it held V8's young generation at its initial size for start-up. */
const HELD = Symbol.for("meshsign.startupYoungGeneration");

/** V8's default factor by which the young generation grows when much of it survives a scavenge. */
const V8_DEFAULT_GROWTH_FACTOR = 2;

const MB = 1 << 20;

export interface EndStartupHeapOptions {
  /**
   * Largest semi-space the young generation may grow to, in MB (a power of
   * two; V8 doubles it). Unset: V8's own maximum (16 MB on 64-bit hosts).
   */
  readonly maxSemiSpaceMb?: number;
}

/**
 * Ends bin/meshsign.js's start-up setting: the young generation may grow
 * again under load, up to `maxSemiSpaceMb` when given. A no-op when the entry
 * did not set it (the user chose a factor, or meshsign was started another
 * way) or when it was already ended.
 *
 * The cap exists because V8's own (`--max-semi-space-size`) can only be set
 * on node's command line, which a user's `node bin/meshsign.js serve` does
 * not carry; the growth factor is read at every scavenge, so it is switched
 * to 1 once the young generation has reached the cap. Garbage collections
 * are reported asynchronously: a burst of scavenges that all find most of the
 * young generation alive can double it once more before the switch.
 */
export function endStartupHeap(options: EndStartupHeapOptions = {}): void {
  const g = globalThis as Record<symbol, unknown>;
  if (g[HELD] !== true) return;
  delete g[HELD];
  if (options.maxSemiSpaceMb === undefined) {
    setFlagsFromString(`--semi-space-growth-factor=${V8_DEFAULT_GROWTH_FACTOR}`);
    return;
  }
  capYoungGeneration(options.maxSemiSpaceMb);
}

/** The young generation's size: both semi-spaces. */
function youngGenerationBytes(): number {
  return getHeapSpaceStatistics().find((s) => s.space_name === "new_space")?.space_size ?? 0;
}

function capYoungGeneration(maxSemiSpaceMb: number): void {
  const limit = 2 * maxSemiSpaceMb * MB;
  let factor = 0;
  const check = (): void => {
    const next = youngGenerationBytes() < limit ? V8_DEFAULT_GROWTH_FACTOR : 1;
    if (next === factor) return;
    factor = next;
    setFlagsFromString(`--semi-space-growth-factor=${factor}`);
  };
  check();
  // After every garbage collection: the young generation only changes size in one.
  new PerformanceObserver(check).observe({ entryTypes: ["gc"] });
}
