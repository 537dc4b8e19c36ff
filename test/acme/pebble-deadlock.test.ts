import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { pebbleDeadlock } from "./pebble-deadlock.js";

// Goroutines of a real Pebble v2.10.3 that stopped answering during the `acme` benchmark
// (SIGQUIT after 11 minutes without an answer; the other 70 goroutines waiting on the store
// left out).
const dump = readFileSync(new URL("./fixtures/pebble-deadlock-goroutines.txt", import.meta.url), "utf8");

function without(text: string, mark: string): string {
  return text
    .split(/\n(?=goroutine \d+ )/)
    .filter((block) => !block.includes(mark))
    .join("\n");
}

describe("pebbleDeadlock", () => {
  it("names the three goroutines of Pebble's lock-order deadlock", () => {
    const found = pebbleDeadlock(dump);
    expect(found).toMatch(
      /^Pebble deadlocked on its own locks: FindValidAuthorization \(goroutine 9, a new order\)/,
    );
    expect(found).toContain(
      "the authorization handler (goroutine 12) holds while it waits for the store (GetAccountByKey)",
    );
    expect(found).toMatch(/queued writer \(goroutine (6|10), AddChallenge\)/);
    expect(found).toContain("5 requests were waiting on the store");
  });

  it("finds nothing when a side of the cycle is missing", () => {
    expect(pebbleDeadlock(without(dump, "validPOSTAsGET"))).toBeUndefined(); // no authorization held
    expect(pebbleDeadlock(without(dump, "FindValidAuthorization"))).toBeUndefined(); // nobody holds the store
    expect(pebbleDeadlock(without(dump, "AddChallenge"))).toBeUndefined(); // no writer queued
    expect(pebbleDeadlock("")).toBeUndefined();
    expect(pebbleDeadlock("not a goroutine dump\n")).toBeUndefined();
  });
});
