import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { StringInterner } from "../../src/store/memory/lib/intern.js";

describe("StringInterner", () => {
  it("leaves every JSON-shaped value equal to what it was", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const before = structuredClone(value);
        const interner = new StringInterner({ shortGeneration: 8, longEntries: 2 });
        expect(interner.deep(value)).toEqual(before);
        expect(value).toEqual(before);
      }),
    );
  });

  it.each([
    { what: "short strings", make: (i: number) => `name-${i}`, limit: 2 * 1000 },
    { what: "long strings", make: (i: number) => `${"x".repeat(300)}${i}`, limit: 64 },
  ])("remembers a bounded number of $what however many it sees", ({ make, limit }) => {
    const interner = new StringInterner({ shortGeneration: 1000, longEntries: 64 });
    for (let i = 0; i < 100_000; i++) interner.string(make(i));
    expect(interner.size).toBeLessThanOrEqual(limit);
  });

  it("keeps a string in use across generations", () => {
    const interner = new StringInterner({ shortGeneration: 10, longEntries: 4 });
    const first = interner.string("cert-manager.io");
    for (let i = 0; i < 1000; i++) {
      interner.string(`unique-${i}`);
      if (i % 5 === 0) interner.string("cert-manager.io");
    }
    expect(interner.has("cert-manager.io")).toBe(true);
    expect(interner.string("cert-manager.io")).toBe(first);
  });

  it("interns strings inside nested objects and arrays in place", () => {
    const interner = new StringInterner();
    const a = { metadata: { labels: { app: "web" } }, spec: { dnsNames: ["a.example", "b.example"] } };
    interner.deep(a);
    expect(interner.has("web")).toBe(true);
    expect(interner.has("b.example")).toBe(true);
  });
});
