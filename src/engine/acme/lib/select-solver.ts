/**
 * Interim copy of cert-manager's solver selection until `src/acme/solvers/select.ts`
 * lands (same signature); delete this file and import that one then.
 * Rules (`pkg/util/solverpicker`): the solver's type must be offered; a dnsNames
 * match beats everything; then the longest dnsZones match; then the most
 * matchLabels; then list order. A solver without a selector is the fallback.
 */
import type { AcmeSolver } from "../../../api/types.js";

export interface SolverQuery {
  readonly dnsName: string;
  readonly wildcard: boolean;
  /** Challenge types the authorization offers, e.g. ["http-01", "dns-01"]. */
  readonly offeredTypes: readonly string[];
  readonly certificateLabels: Readonly<Record<string, string>>;
}

export function selectSolver(solvers: readonly AcmeSolver[], q: SolverQuery): AcmeSolver | undefined {
  const name = q.wildcard ? `*.${q.dnsName}` : q.dnsName;
  let best: { solver: AcmeSolver; dnsHit: boolean; zone: number; labels: number } | undefined;
  let fallback: AcmeSolver | undefined;
  for (const s of solvers) {
    const type = s.http01 !== undefined ? "http-01" : "dns-01";
    if (!q.offeredTypes.includes(type)) continue;
    const sel = s.selector;
    if (sel === undefined) {
      fallback ??= s;
      continue;
    }
    const labels = Object.entries(sel.matchLabels ?? {});
    if (!labels.every(([k, v]) => q.certificateLabels[k] === v)) continue;
    const dnsNames = sel.dnsNames ?? [];
    const zones = sel.dnsZones ?? [];
    const dnsHit = dnsNames.includes(name);
    let zone = 0;
    for (const z of zones)
      if (q.dnsName === z || q.dnsName.endsWith(`.${z}`)) zone = Math.max(zone, z.split(".").length);
    if (dnsNames.length > 0 && !dnsHit && zone === 0) continue;
    if (zones.length > 0 && zone === 0 && !dnsHit) continue;
    const cand = { solver: s, dnsHit, zone, labels: labels.length };
    if (best === undefined || better(cand, best)) best = cand;
  }
  return best?.solver ?? fallback;
}

function better(
  a: { dnsHit: boolean; zone: number; labels: number },
  b: { dnsHit: boolean; zone: number; labels: number },
): boolean {
  if (a.dnsHit !== b.dnsHit) return a.dnsHit;
  if (a.zone !== b.zone) return a.zone > b.zone;
  return a.labels > b.labels;
}
