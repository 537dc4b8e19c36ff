import { MeshsignError } from "../errors/index.js";
import { parseInt64, parseRequirements, render, requirementProblem } from "./lib/label-selector-syntax.js";

/**
 * Kubernetes label selectors, read as k8s.io/apimachinery's labels.Parse reads them (kubectl -l,
 * the API server's `?labelSelector=`, istio-csr's selector flags) and matched as the API server
 * matches them:
 *
 *   k=v  k==v   the label is there with that value
 *   k!=v        the label is not there, or has another value
 *   k in (a,b)  the label is there with one of the values
 *   k notin (a,b)  the label is not there, or has none of the values
 *   k           the label is there;  !k  the label is not there
 *   k>5  k<5    the label is there and, read as an integer, greater (less) than 5
 *
 * Requirements are separated by commas and must all hold; the empty selector selects everything.
 * Blanks between tokens are allowed, keys and values are checked as Kubernetes checks label keys
 * and values, and a text labels.Parse refuses is refused here (the grammar is in
 * ./lib/label-selector-syntax.ts).
 *
 * A selector is parsed once (a start-up option, a store query) into plain, frozen data: it can
 * cross to a worker thread or into JSON unchanged, and {@link matchesLabelSelector} and
 * {@link formatLabelSelector} need no parsing again.
 */

/** The relation of one requirement; `=` and `==` are both Equals. */
export type LabelSelectorOperator =
  | "Equals"
  | "NotEquals"
  | "In"
  | "NotIn"
  | "Exists"
  | "DoesNotExist"
  | "GreaterThan"
  | "LessThan";

/** One term of a selector: a label key, how it relates to the values, and the values. */
export interface LabelRequirement {
  readonly key: string;
  readonly operator: LabelSelectorOperator;
  /** Sorted, without repeats: one for Equals, NotEquals, GreaterThan and LessThan, none for Exists and DoesNotExist, some for In and NotIn. */
  readonly values: readonly string[];
}

/** A parsed label selector: every requirement must hold; none selects everything. */
export interface LabelSelector {
  readonly requirements: readonly LabelRequirement[];
}

/** The selector that selects everything (the empty selector text). */
export const EVERYTHING: LabelSelector = freeze([]);

/** Parses selector text, or says what is wrong with it (a message fit for a user who wrote it). */
export function tryParseLabelSelector(text: string): { selector: LabelSelector } | { problem: string } {
  const parsed = parseRequirements(text);
  return "problem" in parsed ? parsed : { selector: freeze(parsed.requirements) };
}

/** Parses selector text; throws ERR_RESOURCE_INVALID naming the text and what is wrong with it. */
export function parseLabelSelector(text: string): LabelSelector {
  const parsed = tryParseLabelSelector(text);
  if ("problem" in parsed) {
    throw new MeshsignError(
      "ERR_RESOURCE_INVALID",
      `invalid label selector ${JSON.stringify(text)}: ${parsed.problem}`,
    );
  }
  return parsed.selector;
}

/**
 * The selector of exactly these labels (a `matchLabels`), e.g. { "istio.io/config": "true" }.
 * Throws ERR_RESOURCE_INVALID for a key or value Kubernetes would refuse.
 */
export function labelSelectorFromSet(labels: Readonly<Record<string, string>>): LabelSelector {
  const requirements = Object.keys(labels).map(
    (key): LabelRequirement => ({ key, operator: "Equals", values: [labels[key] as string] }),
  );
  for (const r of requirements) refuseInvalid(r);
  return freeze(requirements);
}

/** Whether every requirement holds for these labels (an object without labels has none). */
export function matchesLabelSelector(
  selector: LabelSelector,
  labels: Readonly<Record<string, string>> | undefined,
): boolean {
  for (const r of selector.requirements) if (!matches(r, labels)) return false;
  return true;
}

/**
 * The selector as text the API server parses back to the same selector ("" for everything):
 * requirements sorted by key, values sorted, so equal selectors format equally. Every
 * requirement is checked first (ERR_RESOURCE_INVALID), so a selector built by hand can never
 * carry another term inside a value.
 */
export function formatLabelSelector(selector: LabelSelector): string {
  for (const r of selector.requirements) refuseInvalid(r);
  return [...selector.requirements]
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map(render)
    .join(",");
}

function matches(r: LabelRequirement, labels: Readonly<Record<string, string>> | undefined): boolean {
  // Own properties only: a label called "constructor" is a label, not Object.prototype's.
  const has = labels !== undefined && Object.hasOwn(labels, r.key);
  const value = has ? (labels[r.key] as string) : undefined;
  switch (r.operator) {
    case "Equals":
    case "In":
      return value !== undefined && r.values.includes(value);
    case "NotEquals":
    case "NotIn":
      return value === undefined || !r.values.includes(value);
    case "Exists":
      return has;
    case "DoesNotExist":
      return !has;
    case "GreaterThan":
    case "LessThan": {
      // A label that is not an integer never compares, as in apimachinery.
      const actual = value === undefined ? undefined : parseInt64(value);
      const bound = r.values.length === 1 ? parseInt64(r.values[0] as string) : undefined;
      if (actual === undefined || bound === undefined) return false;
      return r.operator === "GreaterThan" ? actual > bound : actual < bound;
    }
    default:
      return false;
  }
}

function refuseInvalid(r: LabelRequirement): void {
  const problem = requirementProblem(r);
  if (problem !== undefined) {
    throw new MeshsignError("ERR_RESOURCE_INVALID", `invalid label selector: ${problem}`, {
      detail: { key: r.key },
    });
  }
}

function freeze(requirements: readonly LabelRequirement[]): LabelSelector {
  return Object.freeze({
    requirements: Object.freeze(
      requirements.map((r) =>
        Object.freeze({ key: r.key, operator: r.operator, values: Object.freeze([...r.values]) }),
      ),
    ),
  });
}
