/**
 * Go-built benchmark tools (bench/peer/setup.sh): built once from the go.mod/go.sum committed beside
 * them into ${MESHSIGN_CACHE:-~/.cache/meshsign}/bin and recorded in bin/harness.env, the way the
 * integration suites find their Go-built servers. MESHSIGN_<NAME> in the environment overrides it.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import path from "node:path";

/** Runs `bash <setupScript> <names...>` (seconds when cached, minutes for a first build); throws when it fails. */
export function buildGoTools(setupScript: string, names: readonly string[]): void {
  const r = spawnSync("bash", [setupScript, ...names], { stdio: ["ignore", "inherit", "inherit"] });
  if (r.status !== 0)
    throw new Error(
      `${setupScript} ${names.join(" ")} failed (exit ${r.status ?? r.signal}); see its output above`,
    );
}

/** The path of a built tool: MESHSIGN_<NAME>, else its line in bin/harness.env. */
export function goToolPath(name: string): string {
  const key = `MESHSIGN_${name.toUpperCase().replaceAll("-", "_")}`;
  const fromEnv = process.env[key];
  if (fromEnv) return fromEnv;
  const envFile = path.join(
    process.env.MESHSIGN_CACHE ?? path.join(homedir(), ".cache/meshsign"),
    "bin/harness.env",
  );
  if (existsSync(envFile)) {
    for (const line of readFileSync(envFile, "utf8").split("\n")) {
      if (!line.startsWith(`${key}=`)) continue;
      const p = line.slice(key.length + 1);
      if (existsSync(p)) return p;
    }
  }
  throw new Error(`${name} not found: run \`bash bench/peer/setup.sh\` (needs Go) or set ${key}`);
}
