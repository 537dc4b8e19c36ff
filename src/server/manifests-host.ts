import type { Logger } from "pino";
import type { Store } from "../store/types.js";

/** Applies `--manifests DIR` to the store and re-applies on change; resolves to a stop function. */
export async function watchManifests(_dir: string, _store: Store, _log: Logger): Promise<() => Promise<void>> {
  throw new Error("--manifests: the manifest loader is not wired yet");
}
