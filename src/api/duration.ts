import { MeshsignError } from "../errors/index.js";

/**
 * Go `time.Duration` strings, as cert-manager's API uses them (`duration: 2160h`,
 * `renewBefore: 1h30m`). Grammar of Go's `time.ParseDuration`: an optional sign,
 * then one or more decimal numbers each with a unit (`ns`, `us`/`µs`/`μs`, `ms`,
 * `s`, `m`, `h`); the lone string "0" is zero. Values are returned in
 * milliseconds (fractions allowed, so "1500us" is 1.5).
 */

/** Nanoseconds per unit; arithmetic is exact in integer nanoseconds, as in Go. */
const UNIT_NS: Readonly<Record<string, bigint>> = {
  ns: 1n,
  us: 1000n,
  "µs": 1000n, // U+00B5 micro sign
  "μs": 1000n, // U+03BC Greek mu
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};

const TERM = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;

/** Go's int64 nanosecond limit (about 2562047h). */
const MAX_NS = 9_223_372_036_854_775_807n;

/** Parses a Go duration string to milliseconds, or returns undefined when it is not one. */
export function tryParseGoDuration(text: string): number | undefined {
  if (typeof text !== "string" || text.length === 0 || text.length > 64) return undefined;
  let i = 0;
  let sign = 1;
  if (text[0] === "-" || text[0] === "+") {
    sign = text[0] === "-" ? -1 : 1;
    i = 1;
  }
  const rest = text.slice(i);
  if (rest === "0") return 0;
  if (rest.length === 0) return undefined;
  let total = 0n;
  let pos = 0;
  while (pos < rest.length) {
    TERM.lastIndex = pos;
    const m = TERM.exec(rest);
    if (m === null || m.index !== pos) return undefined;
    const [whole, num, unit] = m;
    if (num === undefined || unit === undefined) return undefined;
    const factor = UNIT_NS[unit];
    if (factor === undefined) return undefined;
    const [int = "", frac = ""] = num.split(".");
    // Go keeps at most the precision an int64 can carry; digits beyond nanoseconds are dropped.
    const fracDigits = frac.slice(0, 18);
    const scale = 10n ** BigInt(fracDigits.length);
    total += BigInt(int === "" ? "0" : int) * factor + (BigInt(fracDigits === "" ? "0" : fracDigits) * factor) / scale;
    if (total > MAX_NS) return undefined;
    pos += whole.length;
  }
  return sign * (Number(total / 1_000_000n) + Number(total % 1_000_000n) / 1e6);
}

/** Parses a Go duration string to milliseconds; throws ERR_DURATION_INVALID naming the value. */
export function parseGoDuration(text: string): number {
  const ms = tryParseGoDuration(text);
  if (ms === undefined) {
    throw new MeshsignError("ERR_DURATION_INVALID", `invalid duration ${JSON.stringify(String(text).slice(0, 64))}: expected a Go duration such as "2160h" or "1h30m"`);
  }
  return ms;
}

/**
 * Formats milliseconds the way Go's `Duration.String()` does ("2160h0m0s",
 * "1m30s", "1.5s", "250ms"), which is what cert-manager prints in messages and
 * sends to Vault as `ttl`.
 */
export function formatGoDuration(ms: number): string {
  if (!Number.isFinite(ms)) throw new MeshsignError("ERR_DURATION_INVALID", "duration is not finite");
  if (ms === 0) return "0s";
  const neg = ms < 0;
  // Work in integer nanoseconds, as Go does, to avoid float artefacts.
  const abs = Math.abs(ms);
  const whole = Math.trunc(abs);
  let ns = BigInt(whole) * 1_000_000n + BigInt(Math.round((abs - whole) * 1e6));
  let out: string;
  if (ns < 1_000_000_000n) {
    if (ns < 1000n) out = `${ns}ns`;
    else if (ns < 1_000_000n) out = `${fraction(ns, 1000n)}µs`;
    else out = `${fraction(ns, 1_000_000n)}ms`;
  } else {
    const h = ns / 3_600_000_000_000n;
    ns -= h * 3_600_000_000_000n;
    const m = ns / 60_000_000_000n;
    ns -= m * 60_000_000_000n;
    const s = `${fraction(ns, 1_000_000_000n)}s`;
    out = h > 0n ? `${h}h${m}m${s}` : m > 0n ? `${m}m${s}` : s;
  }
  return neg ? `-${out}` : out;
}

/** `value / unit` in decimal with trailing zeros trimmed, like Go's fmtFrac. */
function fraction(value: bigint, unit: bigint): string {
  const whole = value / unit;
  const rem = value % unit;
  if (rem === 0n) return `${whole}`;
  const digits = unit.toString().length - 1;
  const frac = rem.toString().padStart(digits, "0").replace(/0+$/, "");
  return `${whole}.${frac}`;
}
