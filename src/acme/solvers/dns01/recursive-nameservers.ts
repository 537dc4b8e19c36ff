/**
 * Reads `--dns01-recursive-nameservers` as cert-manager's controller takes it:
 * a comma-separated list of `host:port` (`[v6]:port`; port 53 when absent) or
 * DNS-over-HTTPS `https://` URLs. Validated once at start-up so a typo stops
 * the process with the flag named, instead of failing every propagation check.
 */
import { MeshsignError } from "../../../errors/index.js";
import { parseNameserver } from "./lib/nameserver.js";

/** The list in `value` (empty for an empty flag); throws ERR_CONFIG_INVALID naming `flag` and the bad entry. */
export function parseRecursiveNameservers(value: string, flag = "--dns01-recursive-nameservers"): string[] {
  const entries = value
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  for (const entry of entries) {
    try {
      parseNameserver(entry, { allowDoh: true });
    } catch (err) {
      throw new MeshsignError("ERR_CONFIG_INVALID", `${flag}: ${(err as Error).message}`, {
        retry: "terminal",
        cause: err,
      });
    }
  }
  return entries;
}
