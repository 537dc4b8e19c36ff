import { describe, expect, it } from "vitest";
import { pickChallenges, type ScheduledChallenge } from "../../src/acme/challenge-schedule.js";
import { computeName, fnv1a32 } from "../../src/engine/acme/lib/names.js";

const ch = (
  key: string,
  dnsName: string,
  createdMs: number,
  extra: Partial<ScheduledChallenge> = {},
): ScheduledChallenge => ({
  key,
  dnsName,
  type: "HTTP-01",
  createdMs,
  processing: false,
  final: false,
  ...extra,
});

describe("pickChallenges", () => {
  it.each<[string, ScheduledChallenge[], number, string[]]>([
    [
      "starts the oldest first",
      [ch("b", "b.example", 2), ch("a", "a.example", 1), ch("c", "c.example", 3)],
      60,
      ["a", "b", "c"],
    ],
    [
      "never starts two for the same name and type",
      [ch("a1", "a.example", 1), ch("a2", "a.example", 2)],
      60,
      ["a1"],
    ],
    [
      "starts the same name for another type",
      [ch("a1", "a.example", 1), ch("a2", "a.example", 2, { type: "DNS-01" })],
      60,
      ["a1", "a2"],
    ],
    [
      "waits while one for the same name is in flight",
      [ch("a1", "a.example", 1, { processing: true }), ch("a2", "a.example", 2)],
      60,
      [],
    ],
    [
      "counts those in flight against the bound",
      [ch("x", "x.example", 1, { processing: true }), ch("a", "a.example", 2), ch("b", "b.example", 3)],
      2,
      ["a"],
    ],
    [
      "starts the wildcard and the apex DNS-01 Challenges of one Order together",
      [
        ch("o1-apex", "example.com", 1, { type: "DNS-01" }),
        ch("o1-wild", "example.com", 1, { type: "DNS-01", wildcard: true }),
      ],
      60,
      ["o1-apex", "o1-wild"],
    ],
    [
      "still serializes the same name of two Orders, the oldest first",
      [
        ch("o2-apex", "example.com", 2, { type: "DNS-01" }),
        ch("o1-apex", "example.com", 1, { type: "DNS-01" }),
        ch("o2-wild", "example.com", 2, { type: "DNS-01", wildcard: true }),
        ch("o1-wild", "example.com", 1, { type: "DNS-01", wildcard: true }),
      ],
      60,
      ["o1-apex", "o1-wild"],
    ],
    [
      "takes names in any case as the same name",
      [ch("a1", "Example.com", 1, { type: "DNS-01" }), ch("a2", "example.COM", 2, { type: "DNS-01" })],
      60,
      ["a1"],
    ],
    [
      "waits for a wildcard in flight but not for its apex",
      [
        ch("o1-wild", "example.com", 1, { type: "DNS-01", wildcard: true, processing: true }),
        ch("o2-wild", "example.com", 2, { type: "DNS-01", wildcard: true }),
        ch("o2-apex", "example.com", 2, { type: "DNS-01" }),
      ],
      60,
      ["o2-apex"],
    ],
    [
      "keeps the oldest first when a wildcard and an apex wait behind others",
      [
        ch("o3-apex", "example.com", 3, { type: "DNS-01" }),
        ch("o2-wild", "example.com", 2, { type: "DNS-01", wildcard: true }),
        ch("o1-apex", "example.com", 1, { type: "DNS-01" }),
        ch("x", "x.example", 0),
      ],
      3,
      ["x", "o1-apex", "o2-wild"],
    ],
    ["ignores final ones", [ch("a", "a.example", 1, { final: true }), ch("b", "b.example", 2)], 60, ["b"]],
  ])("%s", (_name, all, max, want) => {
    expect(pickChallenges(all, max)).toEqual(want);
  });

  it("starts at most 20 per pass", () => {
    const all = Array.from({ length: 50 }, (_, i) => ch(`c${i}`, `n${i}.example`, i));
    expect(pickChallenges(all)).toHaveLength(20);
  });
});

describe("Order and Challenge names", () => {
  it("are the prefix and the FNV-1a hash of the spec, whatever its key order, within 63 characters", () => {
    expect(fnv1a32("")).toBe(0x811c9dc5);
    expect(fnv1a32("a")).toBe(0xe40c292c);
    expect(computeName("shop-1", { b: 1, a: [2] })).toBe(computeName("shop-1", { a: [2], b: 1 }));
    expect(computeName("shop-1", { a: 1 })).not.toBe(computeName("shop-1", { a: 2 }));
    expect(computeName("x".repeat(80), {}).length).toBeLessThanOrEqual(63);
  });
});
