import type { Logger } from "pino";
import { writeFileAtomic } from "../fsutil/index.js";
import { ManifestLoader, type ManifestReport } from "../store/index.js";
import type { Store } from "../store/types.js";

/**
 * `--manifests DIR`: applies every manifest in DIR to the store and follows
 * changes. Each pass is logged: invalid documents with their field paths (the
 * previous good version stays), unknown fields, objects deleted because their
 * file went away, and (on the first pass, or when they change) the documents
 * meshsign does not act on, by kind and file.
 *
 * The problems of the last pass are also written to `reportFile` (the data
 * dir's manifests-report.json), so `meshsign status` shows them next to the
 * Certificates instead of leaving them in the logs.
 */
export async function watchManifests(
  dir: string,
  store: Store,
  log: Logger,
  options: { strictFields?: boolean; reportFile?: string } = {},
): Promise<() => Promise<void>> {
  let lastIgnored = "";
  // Writes in pass order, so an older report never lands over a newer one.
  let writing: Promise<void> = Promise.resolve();
  const onReport = (r: ManifestReport) => {
    const ignored = r.documents.filter((d) => d.outcome === "ignored").map((d) => d.document);
    // Named once at info, and again only when the set changes: a reload of an unchanged folder stays quiet.
    const key = ignored.join("\n");
    report(r, dir, log, key !== lastIgnored ? ignored : []);
    lastIgnored = key;
    const file = options.reportFile;
    if (file !== undefined) writing = writing.then(() => writeReport(file, dir, r, log));
  };
  const loader = new ManifestLoader({ dir, store, strictFields: options.strictFields ?? false, onReport });
  await loader.start();
  return async () => {
    await loader.stop();
    await writing;
  };
}

/** The shape `meshsign status` reads from manifests-report.json. */
export interface ManifestProblemsFile {
  readonly dir: string;
  readonly at: string;
  readonly problems: readonly { document: string; outcome: string; problem: string }[];
}

async function writeReport(file: string, dir: string, r: ManifestReport, log: Logger): Promise<void> {
  const problems = r.documents.flatMap((d) => [
    ...(d.outcome === "invalid" || d.outcome === "failed" ? [{ document: d.document, outcome: d.outcome, problem: d.message ?? "" }] : []),
    ...(d.warnings ?? []).map((w) => ({ document: d.document, outcome: "warning", problem: w })),
  ]);
  problems.push(...r.unreadable.map((f) => ({ document: f, outcome: "unreadable", problem: "cannot be read; its objects are kept" })));
  const body: ManifestProblemsFile = { dir, at: new Date().toISOString(), problems };
  try {
    await writeFileAtomic(file, `${JSON.stringify(body, null, 2)}\n`, { mode: 0o600, fsync: false });
  } catch (err) {
    log.warn({ file, err }, "could not write the manifests report for meshsign status");
  }
}

function report(r: ManifestReport, dir: string, log: Logger, newlyIgnored: readonly string[]): void {
  const counts: Record<string, number> = {};
  for (const d of r.documents) {
    counts[d.outcome] = (counts[d.outcome] ?? 0) + 1;
    for (const w of d.warnings ?? []) log.warn({ document: d.document, problem: w }, "manifest has an unknown field (ignored; --strict-manifests refuses it)");
    if (d.outcome === "invalid" || d.outcome === "failed") log.warn({ document: d.document, problem: d.message }, "manifest not applied");
  }
  if (newlyIgnored.length > 0) log.info({ documents: newlyIgnored }, "manifests ignored: kinds meshsign does not act on (kept next to Certificates, never an error)");
  for (const f of r.unreadable) log.warn({ file: f }, "manifest file unreadable; its objects are kept");
  log.info({ dir, ...counts, deleted: r.deleted.length }, "manifests applied");
}
