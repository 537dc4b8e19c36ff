/**
 * Deterministic names of Orders and Challenges, as cert-manager computes them
 * (`pkg/util/util.go: ComputeName`): `<prefix>-<FNV-1a 32-bit hash of the
 * spec>` within 63 characters, the prefix cut to 52. The same request always
 * maps to the same Order, so a restart finds it instead of ordering again.
 */

/** FNV-1a, 32 bits, over the UTF-8 bytes of `text`. */
export function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(text, "utf8")) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** Stable JSON: object keys sorted, so equal specs hash equally whatever their key order. */
function stable(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stable).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    return `{${entries
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => `${JSON.stringify(k)}:${stable(v)}`)
      .join(",")}}`;
  }
  return JSON.stringify(value);
}

export function computeName(prefix: string, spec: unknown): string {
  const cut = prefix.length > 52 ? prefix.slice(0, 52).replace(/[-.]+$/, "") : prefix;
  return `${cut}-${fnv1a32(stable(spec))}`;
}
