import { randomBytes } from "node:crypto";
import { basename, dirname, join } from "node:path";

/**
 * The temporary file for an atomic write of `target`: always in the target's
 * own directory (rename and link only work within one filesystem), named
 * `.<name>.<12 hex>.tmp` unless the caller names it with `tempName`.
 */
export function tempPathFor(target: string, tempName?: (name: string) => string): string {
  const name = basename(target);
  if (tempName === undefined) return join(dirname(target), `.${name}.${randomBytes(6).toString("hex")}.tmp`);
  const chosen = tempName(name);
  // A programming error, not an I/O failure: the temp file must sit next to the target and differ from it.
  if (chosen === "" || chosen === "." || chosen === ".." || chosen.includes("/") || chosen === name) {
    throw new TypeError(
      `tempName returned ${JSON.stringify(chosen)} for ${JSON.stringify(name)}: not a sibling file name`,
    );
  }
  return join(dirname(target), chosen);
}

export function toBytes(data: string | Uint8Array): Uint8Array {
  return typeof data === "string" ? Buffer.from(data, "utf8") : data;
}
