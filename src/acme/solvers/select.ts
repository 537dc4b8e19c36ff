/**
 * Picks the solver for one ACME authorization from an Issuer's `solvers`,
 * with cert-manager's precedence (pkg/util/solverpicker, acmeorders/selectors),
 * so an Issuer written for cert-manager chooses the same solver here:
 *
 * 1. only solvers whose type (http-01 / dns-01) the authorization offers;
 * 2. a solver whose selector's criteria do not all match is skipped
 *    (`dnsNames` exact, `dnsZones` suffix by whole labels, `matchLabels` on the
 *    Certificate's labels; an empty criterion matches everything with weight 0);
 * 3. a `dnsNames` hit beats any solver without one (several hits weigh as one);
 * 4. then the longest matching `dnsZones` entry (most labels) wins;
 * 5. then the most `matchLabels`;
 * 6. then the earlier solver in the list;
 * 7. a solver without a selector is the fallback: the first one is taken only
 *    when no solver before it was selected, and never displaces one.
 *
 * A wildcard name is looked up as `*.example.com`, so a `dnsNames` entry must
 * be written that way to match it, while `dnsZones: [example.com]` matches both
 * the wildcard and the apex.
 *
 * Pure: no I/O, no clock. When nothing matches the result says why, in words
 * meant for the Certificate's condition.
 */
import type { AcmeSolver } from "../../api/types.js";

export type AcmeChallengeType = "http-01" | "dns-01";

export interface SelectSolverInput {
  /** The authorization's identifier without any `*.` prefix, e.g. `example.com`. */
  readonly dnsName: string;
  /** True when the authorization is for `*.<dnsName>`. */
  readonly wildcard: boolean;
  /** The challenge types the CA offered for this authorization. */
  readonly offeredTypes: readonly AcmeChallengeType[];
  /** The labels of the Certificate (copied to its Order), matched by `selector.matchLabels`. */
  readonly certificateLabels: Readonly<Record<string, string>>;
}

export type SelectSolverResult =
  | { readonly solver: AcmeSolver; readonly index: number }
  | { readonly solver: undefined; readonly reason: string };

/** How strongly one solver's selector matched; compared in the order of the fields. */
interface Weight {
  readonly dnsNames: boolean;
  readonly dnsZoneLabels: number;
  readonly matchLabels: number;
}

export function selectSolver(solvers: readonly AcmeSolver[], input: SelectSolverInput): SelectSolverResult {
  const domain = lookupName(input);
  let selected: { solver: AcmeSolver; index: number; weight: Weight } | undefined;
  solvers.forEach((solver, index) => {
    if (!input.offeredTypes.includes(typeOf(solver))) return;
    if (solver.selector === undefined) {
      // cert-manager: "match all" selector, taken only while nothing else is.
      if (selected === undefined) selected = { solver, index, weight: NO_WEIGHT };
      return;
    }
    const weight = matchSelector(solver.selector, domain, input.certificateLabels);
    if (weight === undefined) return;
    if (selected === undefined || outweighs(weight, selected.weight)) selected = { solver, index, weight };
  });
  if (selected !== undefined) return { solver: selected.solver, index: selected.index };
  return { solver: undefined, reason: noSolverReason(solvers, input, domain) };
}

const NO_WEIGHT: Weight = { dnsNames: false, dnsZoneLabels: 0, matchLabels: 0 };

/**
 * True when `next` beats `current`; a tie keeps `current` (list order).
 * The order of comparisons is cert-manager's: dnsNames, then dnsZones, then labels.
 */
function outweighs(next: Weight, current: Weight): boolean {
  if (next.dnsNames !== current.dnsNames) return next.dnsNames;
  if (next.dnsZoneLabels !== current.dnsZoneLabels) return next.dnsZoneLabels > current.dnsZoneLabels;
  return next.matchLabels > current.matchLabels;
}

type Selector = NonNullable<AcmeSolver["selector"]>;

/** The selector's weight for `domain`, or undefined when one of its criteria does not match. */
function matchSelector(
  selector: Selector,
  domain: string,
  labels: Readonly<Record<string, string>>,
): Weight | undefined {
  const names = selector.dnsNames ?? [];
  const dnsNames = names.includes(domain);
  if (names.length > 0 && !dnsNames) return undefined;

  const zones = selector.dnsZones ?? [];
  const dnsZoneLabels = Math.max(0, ...zones.map((zone) => zoneMatchLabels(zone, domain)));
  if (zones.length > 0 && dnsZoneLabels === 0) return undefined;

  const required = Object.entries(selector.matchLabels ?? {});
  if (!required.every(([key, value]) => Object.hasOwn(labels, key) && labels[key] === value))
    return undefined;

  return { dnsNames, dnsZoneLabels, matchLabels: required.length };
}

/**
 * The number of labels of `zone` when `domain` is `zone` or a name under it
 * (compared label by label from the right, case-insensitively, trailing dots
 * ignored, as miekg/dns CompareDomainName), else 0. `example.com` does not
 * match `badexample.com`; the root zone matches nothing.
 */
function zoneMatchLabels(zone: string, domain: string): number {
  const zoneLabels = labelsOf(zone);
  const domainLabels = labelsOf(domain);
  if (zoneLabels.length === 0 || zoneLabels.length > domainLabels.length) return 0;
  const offset = domainLabels.length - zoneLabels.length;
  return zoneLabels.every((label, i) => label === domainLabels[offset + i]) ? zoneLabels.length : 0;
}

function labelsOf(name: string): string[] {
  return name
    .toLowerCase()
    .split(".")
    .filter((label) => label !== "");
}

/** The name selectors are matched against: `*.example.com` for a wildcard authorization. */
function lookupName(input: SelectSolverInput): string {
  if (input.dnsName.startsWith("*.")) return input.dnsName;
  return input.wildcard ? `*.${input.dnsName}` : input.dnsName;
}

function typeOf(solver: AcmeSolver): AcmeChallengeType {
  return solver.dns01 !== undefined ? "dns-01" : "http-01";
}

function noSolverReason(solvers: readonly AcmeSolver[], input: SelectSolverInput, domain: string): string {
  const head = `no solver for ${domain}`;
  if (solvers.length === 0) return `${head}: the issuer has no solvers configured`;
  const configured = `${solvers.length} solver${solvers.length === 1 ? "" : "s"} configured`;
  const offered = input.offeredTypes.length === 0 ? "no challenge type" : input.offeredTypes.join("/");
  const ofType = solvers.filter((s) => input.offeredTypes.includes(typeOf(s)));
  if (ofType.length === 0) {
    const types = [...new Set(solvers.map(typeOf))].join("/");
    return `${head}: ${configured}, all ${types}, but the CA offers ${offered}`;
  }
  return (
    `${head}: ${configured}, none offers ${offered} with a selector matching it ` +
    `(dnsNames, dnsZones and matchLabels must all match the name and the Certificate's labels)`
  );
}
