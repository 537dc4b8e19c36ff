import type { Logger } from "pino";
import type { Registry } from "prom-client";
import type { CertificateControl } from "./admin.js";
import type { Config } from "./config.js";
import type { DataDirPaths } from "./data-dir.js";

/** The Certificate engine as the server process hosts it. */
export interface EngineHost {
  readonly control: CertificateControl;
  ready(): boolean;
  registerMetrics(registry: Registry): void;
  stop(): Promise<void>;
}

/**
 * Standalone: the embedded store under the data dir, manifests from
 * `--manifests`, Secrets also written as files under `--output-dir`.
 */
export async function startStandaloneEngine(_config: Config, _paths: DataDirPaths, _log: Logger): Promise<EngineHost | undefined> {
  return undefined;
}
