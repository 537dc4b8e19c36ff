import type { LabelRequirement, LabelSelectorOperator } from "../label-selector.js";
import { labelValueProblem, qualifiedNameProblem } from "./rules.js";

/**
 * The text form of Kubernetes label selectors: tokens, grammar and the checks every requirement
 * passes, as k8s.io/apimachinery/pkg/labels.Parse and NewRequirement define them. Private to
 * src/api; src/api/label-selector.ts is the public surface.
 *
 *   selector    ::= "" | requirement ("," requirement)*
 *   requirement ::= "!" KEY | KEY | KEY op VALUE | KEY ("in" | "notin") "(" VALUE? ("," VALUE?)* ")"
 *   op          ::= "=" | "==" | "!=" | ">" | "<"
 *
 * Blanks (space, tab, CR, LF) may stand between any two tokens. A missing VALUE is the empty value,
 * so `k=` selects `k: ""` and `k in ()` is `k in ("")`, as labels.Parse reads them. `in` and `notin`
 * are operators only after a key; as a key or a value they are ordinary words.
 */

/** A token of the selector text; `in`/`notin` are told apart from words by where they stand. */
interface Token {
  readonly kind: "word" | "in" | "notin" | "!" | "=" | "==" | "!=" | ">" | "<" | "(" | ")" | "," | "end";
  readonly text: string;
}

const BLANK = new Set([" ", "\t", "\r", "\n"]);
const SYMBOL = new Set(["=", "!", "(", ")", ",", ">", "<"]);

/**
 * Splits the text into tokens. A word runs to the next blank or symbol; `!=` and `==` are the
 * only two-character symbols. (labels.Parse stops reading at a NUL byte; here a NUL is part of a
 * word, which no key or value allows, so such a selector is refused rather than cut short.)
 */
function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    if (BLANK.has(c)) {
      i++;
    } else if (SYMBOL.has(c)) {
      const two = text.slice(i, i + 2);
      const symbol = two === "!=" || two === "==" ? two : c;
      tokens.push({ kind: symbol as Token["kind"], text: symbol });
      i += symbol.length;
    } else {
      let j = i;
      while (j < text.length && !BLANK.has(text[j] as string) && !SYMBOL.has(text[j] as string)) j++;
      const word = text.slice(i, j);
      tokens.push({ kind: word === "in" || word === "notin" ? word : "word", text: word });
      i = j;
    }
  }
  tokens.push({ kind: "end", text: "" });
  return tokens;
}

/** A selector that does not parse; its message says what was found where. */
class SyntaxProblem extends Error {}

const OPERATORS: Readonly<Record<string, LabelSelectorOperator>> = {
  "=": "Equals",
  "==": "Equals",
  "!=": "NotEquals",
  ">": "GreaterThan",
  "<": "LessThan",
  in: "In",
  notin: "NotIn",
};

class Parser {
  readonly #tokens: Token[];
  #at = 0;

  constructor(text: string) {
    this.#tokens = tokenize(text);
  }

  /** The whole selector: requirements separated by commas, or nothing. */
  selector(): LabelRequirement[] {
    const out: LabelRequirement[] = [];
    if (this.#peek().kind === "end") return out;
    for (;;) {
      const first = this.#peek();
      if (first.kind !== "!" && !isWord(first))
        throw new SyntaxProblem(`expected a label key or "!", found ${show(first)}`);
      out.push(this.#requirement());
      const next = this.#take();
      if (next.kind === "end") return out;
      if (next.kind !== ",")
        throw new SyntaxProblem(
          `expected "," or the end after ${JSON.stringify(render(out.at(-1) as LabelRequirement))}, found ${show(next)}`,
        );
      const after = this.#peek();
      if (after.kind !== "!" && !isWord(after))
        throw new SyntaxProblem(`expected a label key or "!" after ",", found ${show(after)}`);
    }
  }

  #requirement(): LabelRequirement {
    let token = this.#take();
    const negated = token.kind === "!";
    if (negated) token = this.#take();
    if (!isWord(token)) throw new SyntaxProblem(`expected a label key after "!", found ${show(token)}`);
    const key = token.text;
    const keyProblem = qualifiedNameProblem(key);
    if (keyProblem !== undefined)
      throw new SyntaxProblem(`${JSON.stringify(key)} is not a label key: ${keyProblem}`);
    if (negated) return checked({ key, operator: "DoesNotExist", values: [] });
    const next = this.#peek();
    if (next.kind === "end" || next.kind === ",") return checked({ key, operator: "Exists", values: [] });
    const op = this.#take();
    const operator = OPERATORS[op.kind];
    if (operator === undefined) {
      throw new SyntaxProblem(
        `expected an operator (=, ==, !=, in, notin, >, <), "," or the end after ${JSON.stringify(key)}, found ${show(op)}`,
      );
    }
    const values =
      operator === "In" || operator === "NotIn"
        ? this.#set(`${key} ${op.text}`)
        : this.#value(`${key}${op.text}`);
    return checked({ key, operator, values: [...new Set(values)].sort() });
  }

  /** `( v1, v2, ... )`; an element left out is the empty value. */
  #set(context: string): string[] {
    const open = this.#take();
    if (open.kind !== "(")
      throw new SyntaxProblem(`expected "(" after ${JSON.stringify(context)}, found ${show(open)}`);
    const values: string[] = [];
    for (;;) {
      const element = this.#peek();
      if (isWord(element)) values.push(this.#take().text);
      else if (element.kind === "," || element.kind === ")") values.push("");
      else
        throw new SyntaxProblem(
          `expected a value, "," or ")" in the set after ${JSON.stringify(context)}, found ${show(element)}`,
        );
      const next = this.#take();
      if (next.kind === ")") return values;
      if (next.kind !== ",")
        throw new SyntaxProblem(
          `expected "," or ")" in the set after ${JSON.stringify(context)}, found ${show(next)}`,
        );
    }
  }

  /** The one value after =, ==, !=, > or <; none before "," or the end is the empty value. */
  #value(context: string): string[] {
    const next = this.#peek();
    if (next.kind === "end" || next.kind === ",") return [""];
    const value = this.#take();
    if (!isWord(value))
      throw new SyntaxProblem(`expected a value after ${JSON.stringify(context)}, found ${show(value)}`);
    return [value.text];
  }

  #peek(): Token {
    return this.#tokens[this.#at] as Token;
  }

  #take(): Token {
    const token = this.#peek();
    if (token.kind !== "end") this.#at++;
    return token;
  }
}

/** Where a key or value stands, `in` and `notin` are words (`in in (in)` is a selector). */
function isWord(token: Token): boolean {
  return token.kind === "word" || token.kind === "in" || token.kind === "notin";
}

function show(token: Token): string {
  return token.kind === "end" ? "the end" : JSON.stringify(token.text);
}

function checked(requirement: LabelRequirement): LabelRequirement {
  const problem = requirementProblem(requirement);
  if (problem !== undefined) throw new SyntaxProblem(problem);
  return requirement;
}

/** Parses selector text into requirements (in the order written), or says what is wrong with it. */
export function parseRequirements(text: string): { requirements: LabelRequirement[] } | { problem: string } {
  try {
    return { requirements: new Parser(text).selector() };
  } catch (err) {
    if (err instanceof SyntaxProblem) return { problem: err.message };
    throw err;
  }
}

/**
 * What is wrong with one requirement, or undefined: labels.NewRequirement's rules (a label key;
 * one value for =, != and the comparisons, at least one for in/notin, none for exists; integers
 * for > and <; every value a label value). Run on every parsed requirement and again before one
 * is written into a request, so a hand-built requirement cannot smuggle in another term.
 */
export function requirementProblem(r: LabelRequirement): string | undefined {
  const keyProblem = typeof r.key === "string" ? qualifiedNameProblem(r.key) : "it is not a string";
  if (keyProblem !== undefined) return `${JSON.stringify(r.key)} is not a label key: ${keyProblem}`;
  const n = Array.isArray(r.values) ? r.values.length : -1;
  const where = JSON.stringify(r.key);
  switch (r.operator) {
    case "In":
    case "NotIn":
      if (n < 1) return `${where}: in and notin need at least one value`;
      break;
    case "Equals":
    case "NotEquals":
      if (n !== 1) return `${where}: =, == and != take exactly one value`;
      break;
    case "Exists":
    case "DoesNotExist":
      if (n !== 0) return `${where}: an existence test takes no value`;
      break;
    case "GreaterThan":
    case "LessThan":
      if (n !== 1) return `${where}: > and < take exactly one value`;
      if (parseInt64(r.values[0] as string) === undefined) {
        return `${where}: > and < compare whole numbers, and ${JSON.stringify(r.values[0])} is not one`;
      }
      break;
    default:
      return `${where}: unknown operator ${JSON.stringify(r.operator)}`;
  }
  for (const v of r.values) {
    const valueProblem = typeof v === "string" ? labelValueProblem(v) : "it is not a string";
    if (valueProblem !== undefined)
      return `${JSON.stringify(v)} is not a label value (of ${where}): ${valueProblem}`;
  }
  return undefined;
}

/** One requirement as selector text, its values sorted; parseRequirements reads it back the same. */
export function render(r: LabelRequirement): string {
  const values = [...r.values].sort();
  switch (r.operator) {
    case "Exists":
      return r.key;
    case "DoesNotExist":
      return `!${r.key}`;
    case "Equals":
      return `${r.key}=${values[0] ?? ""}`;
    case "NotEquals":
      return `${r.key}!=${values[0] ?? ""}`;
    case "GreaterThan":
      return `${r.key}>${values[0] ?? ""}`;
    case "LessThan":
      return `${r.key}<${values[0] ?? ""}`;
    case "In":
      return `${r.key} in (${values.join(",")})`;
    case "NotIn":
      return `${r.key} notin (${values.join(",")})`;
  }
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Go's strconv.ParseInt(s, 10, 64): an optional sign and decimal digits, within int64; else undefined. */
export function parseInt64(s: string): bigint | undefined {
  if (!/^[+-]?[0-9]+$/.test(s)) return undefined;
  const n = BigInt(s);
  return n < INT64_MIN || n > INT64_MAX ? undefined : n;
}
