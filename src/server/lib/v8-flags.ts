/**
 * V8 flags meshsign sets by default, minus the ones the user already gave
 * (on node's command line or in NODE_OPTIONS, in any of V8's spellings:
 * `--flag`, `--no-flag`, `--flag=value`, underscores for dashes). A user's
 * choice always wins.
 */
export function flagsNotGivenByUser(defaults: readonly string[], given: readonly string[]): string[] {
  const taken = new Set(given.map(flagName).filter((n) => n !== ""));
  return defaults.filter((f) => !taken.has(flagName(f)));
}

/** The options node was started with: its own command line, then NODE_OPTIONS. */
export function nodeOptionsGiven(): string[] {
  return [...process.execArgv, ...(process.env.NODE_OPTIONS ?? "").split(/\s+/)];
}

/** "--No_Compact-on=1" -> "compact-on"; "" for anything that is not an option. */
function flagName(arg: string): string {
  if (!arg.startsWith("--")) return "";
  const eq = arg.indexOf("=");
  const name = (eq < 0 ? arg.slice(2) : arg.slice(2, eq)).replaceAll("_", "-").toLowerCase();
  return name.startsWith("no-") ? name.slice(3) : name;
}
