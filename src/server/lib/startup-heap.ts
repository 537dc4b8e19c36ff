import { setFlagsFromString } from "node:v8";

/** Set by bin/meshsign.js when it held V8's young generation at its initial size for start-up. */
const HELD = Symbol.for("meshsign.startupYoungGeneration");

/** V8's default factor by which the young generation grows when much of it survives a scavenge. */
const V8_DEFAULT_GROWTH_FACTOR = 2;

/**
 * Ends bin/meshsign.js's start-up setting: the young generation may grow
 * again under load. A no-op when the entry did not set it (the user chose a
 * factor, or meshsign was started another way) or when it was already ended.
 */
export function endStartupHeap(): void {
  const g = globalThis as Record<symbol, unknown>;
  if (g[HELD] !== true) return;
  delete g[HELD];
  setFlagsFromString(`--semi-space-growth-factor=${V8_DEFAULT_GROWTH_FACTOR}`);
}
