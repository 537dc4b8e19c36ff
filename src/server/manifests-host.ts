import type { Logger } from "pino";
import { ManifestLoader, type ManifestReport } from "../store/index.js";
import type { Store } from "../store/types.js";

/**
 * `--manifests DIR`: applies every manifest in DIR to the store and follows
 * changes. Each pass is logged: invalid documents with their field paths (the
 * previous good version stays), objects deleted because their file went away,
 * and kinds meshsign does not act on.
 */
export async function watchManifests(dir: string, store: Store, log: Logger): Promise<() => Promise<void>> {
  const loader = new ManifestLoader({ dir, store, onReport: (r) => report(r, dir, log) });
  await loader.start();
  return () => loader.stop();
}

function report(r: ManifestReport, dir: string, log: Logger): void {
  const counts: Record<string, number> = {};
  for (const d of r.documents) {
    counts[d.outcome] = (counts[d.outcome] ?? 0) + 1;
    if (d.outcome === "invalid" || d.outcome === "failed") log.warn({ document: d.document, problem: d.message }, "manifest not applied");
    else if (d.outcome === "ignored") log.debug({ document: d.document, reason: d.message }, "manifest ignored");
  }
  for (const f of r.unreadable) log.warn({ file: f }, "manifest file unreadable; its objects are kept");
  log.info({ dir, ...counts, deleted: r.deleted.length }, "manifests applied");
}
