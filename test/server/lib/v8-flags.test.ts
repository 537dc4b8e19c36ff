import { describe, expect, it } from "vitest";
import { flagsNotGivenByUser } from "../../../src/server/lib/v8-flags.js";

const DEFAULTS = ["--heap-growing-percent=50", "--compact-on-every-full-gc", "--max-semi-space-size=4"];

describe("flagsNotGivenByUser", () => {
  it.each<[string, string[], string[]]>([
    ["keeps every default when the user gave nothing", [], DEFAULTS],
    ["drops a default the user set to another value", ["--heap-growing-percent=30"], DEFAULTS.slice(1)],
    ["drops a boolean default the user turned off", ["--no-compact-on-every-full-gc"], [DEFAULTS[0] as string, DEFAULTS[2] as string]],
    ["reads V8's underscore spelling", ["--max_semi_space_size=16"], DEFAULTS.slice(0, 2)],
    ["ignores arguments that are not options and unrelated flags", ["--import", "tsx", "--max-old-space-size=64", ""], DEFAULTS],
    ["does not mistake a flag for another that starts the same way", ["--heap-growing-percent-extra=1"], DEFAULTS],
  ])("%s", (_name, given, want) => {
    expect(flagsNotGivenByUser(DEFAULTS, given)).toEqual(want);
  });
});
