import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

/**
 * The go-spiffe test client that test/spiffe/setup.sh built and recorded
 * (MESHSIGN_SPIFFE_CLIENT in the environment or in <cache>/bin/harness.env).
 * Missing, the suite fails saying how to build it: it is never skipped.
 */
export function spiffeClientPath(): string {
  if (process.env.MESHSIGN_SPIFFE_CLIENT) return process.env.MESHSIGN_SPIFFE_CLIENT;
  const cache = process.env.MESHSIGN_CACHE ?? path.join(os.homedir(), ".cache", "meshsign");
  const file = path.join(cache, "bin", "harness.env");
  const line = existsSync(file) ? readFileSync(file, "utf8").split("\n").find((l) => l.startsWith("MESHSIGN_SPIFFE_CLIENT=")) : undefined;
  const bin = line?.slice("MESHSIGN_SPIFFE_CLIENT=".length);
  if (!bin || !existsSync(bin)) throw new Error("the go-spiffe test client is not built: run `bash test/spiffe/setup.sh` (or `npm run test:spiffe`)");
  return bin;
}

/** What the client prints on success. */
export interface SpiffeClientResult {
  readonly trustDomain: string;
  readonly x509AuthoritySubjects: string[];
  readonly sequenceNumber: number | null;
  readonly refreshHintSeconds: number | null;
  readonly svidId?: string;
  readonly svidChains?: number;
}

/** Runs the client; resolves with its JSON, or rejects with go-spiffe's error message. */
export function runSpiffeClient(args: readonly string[]): Promise<SpiffeClientResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(spiffeClientPath(), args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0) resolve(JSON.parse(stdout) as SpiffeClientResult);
      else reject(new Error(stderr.trim() || `spiffe-client exited ${code}`));
    });
  });
}
