import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatGoDuration, parseGoDuration, tryParseGoDuration } from "../../src/api/duration.js";
import { isMeshsignError } from "../../src/errors/index.js";

describe("Go duration parsing", () => {
  const valid: [string, number][] = [
    ["2160h", 2160 * 3_600_000],
    ["1h30m", 90 * 60_000],
    ["90m", 90 * 60_000],
    ["1.5h", 90 * 60_000],
    ["300ms", 300],
    ["1500us", 1.5],
    ["1500µs", 1.5],
    ["2h45m30.5s", (2 * 3600 + 45 * 60 + 30.5) * 1000],
    ["0", 0],
    ["-1m", -60_000],
    ["+5s", 5000],
    [".5s", 500],
  ];
  it.each(valid)("parses %s", (text, ms) => {
    expect(parseGoDuration(text)).toBeCloseTo(ms, 9);
  });

  const invalid = ["", "1", "h", "1d", "1 h", "1h 30m", "--1h", "1.2.3s", "1H", "5 minutes", "1e3s", "9999999999h"];
  it.each(invalid)("rejects %j", (text) => {
    expect(tryParseGoDuration(text)).toBeUndefined();
    try {
      parseGoDuration(text);
      expect.unreachable();
    } catch (err) {
      expect(isMeshsignError(err, "ERR_DURATION_INVALID")).toBe(true);
    }
  });

  it("never throws anything but a coded error on arbitrary text", () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        const ms = tryParseGoDuration(s);
        return ms === undefined || Number.isFinite(ms);
      }),
    );
  });
});

describe("Go duration formatting", () => {
  const cases: [number, string][] = [
    [2160 * 3_600_000, "2160h0m0s"],
    [3_600_000, "1h0m0s"],
    [90_000, "1m30s"],
    [1500, "1.5s"],
    [250, "250ms"],
    [0.0015, "1.5µs"],
    [0, "0s"],
    [-60_000, "-1m0s"],
  ];
  it.each(cases)("formats %d ms as %s", (ms, text) => {
    expect(formatGoDuration(ms)).toBe(text);
  });

  it("round-trips whole milliseconds through format and parse", () => {
    fc.assert(
      fc.property(fc.integer({ min: -1e12, max: 1e12 }), (ms) => {
        expect(parseGoDuration(formatGoDuration(ms))).toBeCloseTo(ms, 6);
      }),
    );
  });
});
