import { describe, expect, it } from "vitest";
import { DEFAULTS, parseBenchOptions, parseDuration, USAGE } from "../../bench/lib/options.js";

describe("--duration", () => {
  it.each([
    ["15", 15],
    ["90s", 90],
    ["3m", 180],
    ["30m", 1800],
    ["1h", 3600],
  ])("reads %s as %i seconds", (raw, seconds) => {
    expect(parseDuration(raw)).toBe(seconds);
  });

  it.each(["0", "1.5m", "-3m", "3d", "25h", "m", ""])("refuses %j, naming the flag", (raw) => {
    expect(() => parseDuration(raw)).toThrow(/--duration/);
  });
});

describe("the soak's options", () => {
  it("runs 30 minutes at 70% by default, while the other cases keep their short window", () => {
    const o = parseBenchOptions(["--case", "soak"]);
    expect(o.soakSeconds).toBe(30 * 60);
    expect(o.soakLoad).toBe(0.7);
    expect(o.durationSeconds).toBe(DEFAULTS.durationSeconds);
  });

  it("takes --duration as the soak's length and --soak-load as its fraction of capacity", () => {
    const o = parseBenchOptions(["--case", "soak", "--duration", "3m", "--soak-load", "0.5"]);
    expect(o.soakSeconds).toBe(180);
    expect(o.soakLoad).toBe(0.5);
  });

  it.each(["0", "-1", "abc", "3"])("refuses --soak-load %j", (raw) => {
    expect(() => parseBenchOptions(["--soak-load", raw])).toThrow(/--soak-load/);
  });
});

describe("the peer case's options", () => {
  it("measures 5 s + 20 s by default, while the other cases keep their window", () => {
    const o = parseBenchOptions(["--case", "peer"]);
    expect(o.peerWarmupSeconds).toBe(5);
    expect(o.peerSeconds).toBe(20);
    expect(o.durationSeconds).toBe(DEFAULTS.durationSeconds);
    expect(o.warmupSeconds).toBe(DEFAULTS.warmupSeconds);
  });

  it("takes --duration and --warmup when given", () => {
    const o = parseBenchOptions(["--case", "peer", "--duration", "30", "--warmup", "10"]);
    expect(o.peerSeconds).toBe(30);
    expect(o.peerWarmupSeconds).toBe(10);
  });
});

describe("--peer-parts", () => {
  it("runs every part by default and takes a subset", () => {
    expect(parseBenchOptions([]).peerParts).toEqual(["pinned", "shared", "cold"]);
    expect(parseBenchOptions(["--peer-parts", "shared"]).peerParts).toEqual(["shared"]);
  });

  it.each(["", "warm", "shared,hot"])("refuses %j", (raw) => {
    expect(() => parseBenchOptions(["--peer-parts", raw])).toThrow(/--peer-parts/);
  });
});

describe("--help", () => {
  it("names every case that the default run (--case all) leaves out", async () => {
    const { CASES } = await import("../../bench/cases/index.js");
    const caseLine = USAGE.slice(USAGE.indexOf("--case"), USAGE.indexOf("--duration"));
    for (const c of CASES.filter((x) => !x.inDefaultRun)) expect(caseLine, c.name).toMatch(new RegExp(`[\\s,]${c.name}[\\s,]`));
  });
});
