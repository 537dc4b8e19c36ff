/**
 * True when every field of `want` is in `have` with an equal value, recursively;
 * arrays must have the same length and match element by element. Fields the
 * API server adds (defaults, metadata it owns) do not make an object differ,
 * so a reconcile that compares what it wants with what is stored does not
 * rewrite an object on every pass.
 */
export function isSubset(want: unknown, have: unknown): boolean {
  if (want === undefined) return true;
  if (Array.isArray(want)) {
    return Array.isArray(have) && have.length === want.length && want.every((w, i) => isSubset(w, have[i]));
  }
  if (want !== null && typeof want === "object") {
    if (have === null || typeof have !== "object" || Array.isArray(have)) return false;
    const h = have as Record<string, unknown>;
    return Object.entries(want).every(([k, v]) => isSubset(v, h[k]));
  }
  return Object.is(want, have);
}
