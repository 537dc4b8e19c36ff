import { spawnSync } from "node:child_process";
import { TempDir } from "./temp-dir.js";

/** Runs the openssl CLI; returns exit status and combined output (never throws). */
export function openssl(
  args: readonly string[],
  input?: string,
  cwd?: string,
): { status: number; output: string } {
  const r = spawnSync("openssl", args, { input, encoding: "utf8", ...(cwd ? { cwd } : {}) });
  return { status: r.status ?? 1, output: `${r.stdout ?? ""}${r.stderr ?? ""}` };
}

/**
 * `openssl verify -CAfile <roots> [-untrusted <intermediates>] <leaf>` on PEM
 * strings: an independent check that a chain meshsign returned verifies.
 */
export function opensslVerify(
  rootsPem: string,
  leafPem: string,
  intermediatesPem: readonly string[] = [],
): { ok: boolean; output: string } {
  const tmp = new TempDir("meshsign-openssl-");
  try {
    const args = ["verify", "-CAfile", tmp.write("roots.pem", rootsPem)];
    if (intermediatesPem.length > 0)
      args.push("-untrusted", tmp.write("intermediates.pem", intermediatesPem.join("\n")));
    args.push(tmp.write("leaf.pem", leafPem));
    const r = openssl(args);
    return { ok: r.status === 0 && /: OK\s*$/.test(r.output), output: r.output };
  } finally {
    tmp.remove();
  }
}
