/**
 * True when both lists hold the same strings with the same multiplicity, in
 * any order (istio-csr's `identitiesMatch`: equal length, sorted element-wise
 * equality). Strings are compared exactly; no URI normalisation.
 */
export function identitiesMatch(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const x = [...a].sort();
  const y = [...b].sort();
  return x.every((v, i) => v === y[i]);
}
