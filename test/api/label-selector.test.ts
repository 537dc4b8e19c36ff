import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  EVERYTHING,
  formatLabelSelector,
  type LabelSelector,
  labelSelectorFromSet,
  matchesLabelSelector,
  parseLabelSelector,
  tryParseLabelSelector,
} from "../../src/api/label-selector.js";
import { isMeshsignError } from "../../src/errors/index.js";

/** The labels every accepted selector below is matched against. */
const LABELS: Record<string, Record<string, string>> = {
  none: {},
  prod: { env: "prod", tier: "web" },
  dev: { env: "dev" },
  empty: { env: "" },
  five: { size: "5" },
  ten: { size: "10" },
  word: { size: "big" },
  mesh: { "maistra.io/member-of": "istio-system", "istio-injection": "enabled" },
};

/**
 * Selectors labels.Parse accepts, and the label sets above each selects. (Checked against
 * k8s.io/apimachinery v0.36.3 labels.Parse and Selector.Matches.)
 */
const accepted: [string, string, string[]][] = [
  ["selects everything when empty", "", Object.keys(LABELS)],
  ["selects everything when blank", " \t\r\n ", Object.keys(LABELS)],
  ["reads = as equality", "env=prod", ["prod"]],
  ["reads == as equality", "env==prod", ["prod"]],
  ["reads k= as the empty value", "env=", ["empty"]],
  [
    "reads != as 'absent or another value'",
    "env!=prod",
    ["none", "dev", "empty", "five", "ten", "word", "mesh"],
  ],
  ["reads in as 'present with one of the values'", "env in (prod,dev)", ["prod", "dev"]],
  [
    "reads notin as 'absent or none of the values'",
    "env notin (prod,dev)",
    ["none", "empty", "five", "ten", "word", "mesh"],
  ],
  ["reads a bare key as 'present'", "env", ["prod", "dev", "empty"]],
  ["reads !key as 'absent'", "!env", ["none", "five", "ten", "word", "mesh"]],
  ["reads > as an integer comparison, never true for a non-integer", "size>5", ["ten"]],
  ["reads < as an integer comparison", "size<10", ["five"]],
  ["ands comma-separated requirements", "env=prod,tier in (web),!size", ["prod"]],
  ["allows blanks between every token", "  env  in  ( prod ,\tdev )\n, ! size ", ["prod", "dev"]],
  ["allows no blanks around the parentheses", "env in(prod)", ["prod"]],
  ["reads istio-csr's maistra selector", "maistra.io/member-of in (istio-system)", ["mesh"]],
  [
    "reads istio-csr's !istio-injection",
    "!istio-injection",
    ["none", "prod", "dev", "empty", "five", "ten", "word"],
  ],
  ["reads an empty element of a set as the empty value", "env in (prod,)", ["prod", "empty"]],
  ["reads () as the set of the empty value, as labels.Parse does", "env in ()", ["empty"]],
  [
    "reads notin () as 'absent or not empty'",
    "env notin ()",
    ["none", "prod", "dev", "five", "ten", "word", "mesh"],
  ],
  ["reads in and notin as words where a key or value stands", "in in (in,notin)", []],
  ["accepts a value of 63 characters", `env=${"a".repeat(63)}`, []],
  ["accepts a key with a 253-character prefix", `${"a".repeat(253)}/x`, []],
  ["accepts contradictory requirements, which select nothing", "env=prod,env=dev", []],
];

describe("parseLabelSelector", () => {
  it.each(accepted)("%s: %j", (_, text, selected) => {
    const selector = parseLabelSelector(text);
    const matched = Object.entries(LABELS)
      .filter(([, labels]) => matchesLabelSelector(selector, labels))
      .map(([name]) => name);
    expect(matched).toEqual(selected);
  });

  /** Selectors labels.Parse refuses, with meshsign's message saying why. */
  const refused: [string, string][] = [
    ["env in prod", 'expected "(" after "env in", found "prod"'],
    ["env in", 'expected "(" after "env in", found the end'],
    ["env notin (prod", 'expected "," or ")" in the set after "env notin", found the end'],
    ["env in (a b)", 'expected "," or ")" in the set after "env in", found "b"'],
    ["env in ((a))", 'expected a value, "," or ")" in the set after "env in", found "("'],
    ["env in (a,=)", 'expected a value, "," or ")" in the set after "env in", found "="'],
    [
      "env prod",
      'expected an operator (=, ==, !=, in, notin, >, <), "," or the end after "env", found "prod"',
    ],
    ["env === prod", 'expected a value after "env==", found "="'],
    ["env=(prod)", 'expected a value after "env=", found "("'],
    ["env=prod tier=web", 'expected "," or the end after "env=prod", found "tier"'],
    ["!env=prod", 'expected "," or the end after "!env", found "="'],
    ["!", 'expected a label key after "!", found the end'],
    ["!!env", 'expected a label key after "!", found "!"'],
    [",env", 'expected a label key or "!", found ","'],
    ["env,", 'expected a label key or "!" after ",", found the end'],
    ["env,,tier", 'expected a label key or "!" after ",", found ","'],
    ["(env)", 'expected a label key or "!", found "("'],
    ["-env=x", '"-env" is not a label key: its name must start and end with a letter or digit'],
    ["a/b/c", '"a/b/c" is not a label key: a key is a name with at most one prefix'],
    ["/env", "\"/env\" is not a label key: the prefix before '/' is empty"],
    [
      "Example.com/env",
      '"Example.com/env" is not a label key: its prefix "Example.com" is not a DNS subdomain',
    ],
    ["example.com/", "\"example.com/\" is not a label key: the name after '/' is empty"],
    [`${"k".repeat(64)}=x`, "is not a label key: its name is longer than 63 characters"],
    [`${"a".repeat(254)}/x`, "is not a DNS subdomain"],
    [
      "env=-prod",
      '"-prod" is not a label value (of "env"): a value is empty, or starts and ends with a letter or digit',
    ],
    [`env=${"a".repeat(64)}`, 'is not a label value (of "env"): it is longer than 63 characters'],
    ["env in (prod,dev_)", '"dev_" is not a label value (of "env")'],
    ["env notin (prod,a/b)", '"a/b" is not a label value (of "env")'],
    ["size>five", '"size": > and < compare whole numbers, and "five" is not one'],
    ["size<", '"size": > and < compare whole numbers, and "" is not one'],
    ["size>99999999999999999999", "is not one"],
    ["size>-1", '"-1" is not a label value (of "size")'],
    ["env=prod\u0000", "is not a label value"],
    ["env\u00a0=prod", "is not a label key"],
  ];
  it.each(refused)("refuses %j, saying why", (text, message) => {
    const parsed = tryParseLabelSelector(text);
    expect(parsed).toEqual({ problem: expect.stringContaining(message) });
    try {
      parseLabelSelector(text);
      expect.unreachable();
    } catch (err) {
      expect(isMeshsignError(err, "ERR_RESOURCE_INVALID")).toBe(true);
      expect((err as Error).message).toBe(
        `invalid label selector ${JSON.stringify(text)}: ${"problem" in parsed ? parsed.problem : ""}`,
      );
    }
  });

  it("keeps the requirements as written, values sorted and without repeats", () => {
    expect(parseLabelSelector("tier notin (b,a,b), !x, env").requirements).toEqual([
      { key: "tier", operator: "NotIn", values: ["a", "b"] },
      { key: "x", operator: "DoesNotExist", values: [] },
      { key: "env", operator: "Exists", values: [] },
    ]);
  });

  it("returns plain frozen data that survives a structured clone", () => {
    const selector = parseLabelSelector("env in (prod), !x");
    expect(Object.isFrozen(selector.requirements[0]?.values)).toBe(true);
    const copy = structuredClone(selector);
    expect(matchesLabelSelector(copy, { env: "prod" })).toBe(true);
    expect(matchesLabelSelector(copy, { env: "prod", x: "1" })).toBe(false);
  });

  it("never throws anything but a problem for any text", () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(..."ab=!(),<> \tin0-/._") }), (text) => {
        const parsed = tryParseLabelSelector(text);
        if ("selector" in parsed)
          expect(tryParseLabelSelector(formatLabelSelector(parsed.selector))).toEqual({
            selector: expect.anything(),
          });
      }),
    );
  });
});

describe("matchesLabelSelector", () => {
  it("reads only a label's own property, never Object.prototype's", () => {
    expect(matchesLabelSelector(parseLabelSelector("constructor"), {})).toBe(false);
    expect(matchesLabelSelector(parseLabelSelector("!toString"), {})).toBe(true);
  });

  it("treats an object without labels as one with none", () => {
    expect(matchesLabelSelector(parseLabelSelector("!env,env!=x,env notin (a)"), undefined)).toBe(true);
    expect(matchesLabelSelector(parseLabelSelector("env"), undefined)).toBe(false);
  });

  it("selects everything with EVERYTHING", () => {
    expect(matchesLabelSelector(EVERYTHING, undefined)).toBe(true);
    expect(formatLabelSelector(EVERYTHING)).toBe("");
  });
});

describe("formatLabelSelector", () => {
  it("writes every operator so that the API server reads the same selector, sorted by key", () => {
    const text = "z>1, y<2, x notin (b,a), w in (), v, !u, t!=, s==s";
    expect(formatLabelSelector(parseLabelSelector(text))).toBe("s=s,t!=,!u,v,w in (),x notin (a,b),y<2,z>1");
  });

  it("reads back what it wrote, selecting the same labels", () => {
    const requirement = fc.record({
      key: fc.constantFrom("a", "b", "example.com/c"),
      operator: fc.constantFrom(
        "Equals",
        "NotEquals",
        "In",
        "NotIn",
        "Exists",
        "DoesNotExist",
        "GreaterThan",
        "LessThan",
      ),
      values: fc.uniqueArray(fc.constantFrom("", "1", "2", "x"), { minLength: 1, maxLength: 3 }),
    });
    const labels = fc.dictionary(
      fc.constantFrom("a", "b", "example.com/c"),
      fc.constantFrom("", "1", "2", "x"),
    );
    // Each operator's values as the parser would give them: none, one (an integer for > and <), or a set.
    const valuesFor = (operator: string, drawn: string[]): string[] => {
      if (operator === "Exists" || operator === "DoesNotExist") return [];
      if (operator === "In" || operator === "NotIn") return [...drawn].sort();
      const first = drawn[0] as string;
      return operator.endsWith("Than") && !/^\d+$/.test(first) ? ["1"] : [first];
    };
    fc.assert(
      fc.property(
        fc.array(requirement, { maxLength: 4 }),
        fc.array(labels, { maxLength: 5 }),
        (drawn, sets) => {
          const selector: LabelSelector = {
            requirements: drawn.map((r) => ({
              key: r.key,
              operator: r.operator,
              values: valuesFor(r.operator, r.values),
            })),
          };
          const again = parseLabelSelector(formatLabelSelector(selector));
          for (const l of sets)
            expect(matchesLabelSelector(again, l)).toBe(matchesLabelSelector(selector, l));
        },
      ),
    );
  });

  it("refuses a hand-built requirement that would smuggle in another term", () => {
    const smuggled: LabelSelector = {
      requirements: [{ key: "app", operator: "Equals", values: ["x,evil=1"] }],
    };
    expect(() => formatLabelSelector(smuggled)).toThrow(
      /invalid label selector: "x,evil=1" is not a label value/,
    );
    expect(() => formatLabelSelector({ requirements: [{ key: "app", operator: "In", values: [] }] })).toThrow(
      /in and notin need at least one value/,
    );
  });
});

describe("labelSelectorFromSet", () => {
  it("selects exactly the labels given", () => {
    const selector = labelSelectorFromSet({ "istio.io/config": "true", app: "" });
    expect(formatLabelSelector(selector)).toBe("app=,istio.io/config=true");
    expect(matchesLabelSelector(selector, { "istio.io/config": "true", app: "" })).toBe(true);
    expect(matchesLabelSelector(selector, { "istio.io/config": "true" })).toBe(false);
  });

  it("refuses a key or value Kubernetes would refuse, naming the key", () => {
    try {
      labelSelectorFromSet({ app: "x,evil=1" });
      expect.unreachable();
    } catch (err) {
      expect(isMeshsignError(err, "ERR_RESOURCE_INVALID")).toBe(true);
      expect((err as { detail: unknown }).detail).toEqual({ key: "app" });
    }
  });
});
