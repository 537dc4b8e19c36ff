import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { MeshsignError } from "../errors/index.js";
import { loadConfig } from "../server/config.js";
import { checkStore, recoverStore, type RecoverResult, type StoreCheckReport } from "../store/embedded/index.js";

/**
 * `meshsign store check` and `meshsign store recover`: the operator's way out
 * of a damaged standalone store (meshsign refuses to start on one). `check`
 * only reads and exits 1 when the store is damaged; `recover` quarantines
 * damaged files and rebuilds the objects from every surviving copy, with
 * meshsign stopped.
 */

interface StoreOpts {
  /** Absent: MESHSIGN_DATA_DIR, else serve's default. */
  dataDir?: string;
  output: string;
  acceptLoss?: boolean;
}

/**
 * The data dir, when it holds a store: a mistyped --data-dir must not be reported "ok" (an empty
 * folder has nothing damaged) while the real store waits, damaged, elsewhere.
 */
function storeDataDir(dataDir: string | undefined): string {
  const dir = resolve(dataDir ?? loadConfig({ env: process.env }, { purpose: "client" }).dataDir);
  if (!existsSync(join(dir, "store"))) {
    throw new MeshsignError("ERR_CONFIG_INVALID", `no store at ${join(dir, "store")}: is ${dir} meshsign's data dir (--data-dir)?`);
  }
  return dir;
}

export async function runStoreCheck(opts: StoreOpts): Promise<void> {
  const report = await checkStore(storeDataDir(opts.dataDir));
  process.stdout.write(opts.output === "json" ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
  if (report.damaged) process.exitCode = 1;
}

export async function runStoreRecover(opts: StoreOpts): Promise<void> {
  const dataDir = storeDataDir(opts.dataDir);
  const result = await recoverStore(dataDir, { acceptLoss: opts.acceptLoss === true });
  process.stdout.write(opts.output === "json" ? `${JSON.stringify(result, null, 2)}\n` : formatRecovery(result));
}

export function formatReport(r: StoreCheckReport, next = true): string {
  const lines = [
    `store ${r.store}: ${r.damaged ? "DAMAGED" : "ok"}`,
    `  object files: ${r.objectFiles} readable, ${r.damagedObjects.length} damaged`,
    `  journal: ${r.journalSegments} segment(s), ${r.journalRecords} valid record(s), ${r.journalBytes} bytes, ${r.journalDamage.length} problem(s)`,
  ];
  if (r.metaProblem !== undefined) lines.push(`  ${r.metaProblem}`);
  for (const d of r.damagedObjects) {
    const copy = d.deletedLater
      ? "the journal records its deletion later: nothing to restore"
      : d.survivingResourceVersion === undefined
        ? "NO surviving copy: lost unless restored from a backup"
        : `recoverable from the journal (resourceVersion ${d.survivingResourceVersion})`;
    lines.push(`  damaged object file ${d.path}: ${d.reason}, ${d.bytes} bytes; ${copy}`);
  }
  for (const d of r.journalDamage) lines.push(`  ${d.message}`);
  if (r.tornTail !== undefined) lines.push(`  torn last record in ${r.tornTail.path} at offset ${r.tornTail.offset} (${r.tornTail.bytes} bytes): never acknowledged; cut off at the next start`);
  if (r.tempFiles > 0) lines.push(`  ${r.tempFiles} temporary file(s) of interrupted writes: removed at the next start`);
  if (r.damaged) {
    lines.push(`  acknowledged versions in no surviving copy (superseded later by their object's next version, or lost): ${r.missingVersions}`);
    lines.push(`  objects whose every copy is gone: ${r.lostObjects.length === 0 ? "none" : r.lostObjects.join(", ")}`);
    if (next) lines.push("  next: stop meshsign, then `meshsign store recover` (damaged files are moved to the store's quarantine/ folder, never deleted)");
  }
  return `${lines.join("\n")}\n`;
}

function formatRecovery(r: RecoverResult): string {
  if (r.quarantine === undefined) return `${formatReport(r)}nothing to recover\n`;
  return `${formatReport(r, false)}recovered: ${r.rebuilt} object file(s) rebuilt from surviving copies; ${r.quarantined.length} file(s) moved to ${r.quarantine}\n`;
}
