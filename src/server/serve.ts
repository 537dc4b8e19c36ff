import cluster from "node:cluster";
import { loadConfig, type ConfigSources } from "./config.js";
import { checkListenAddresses } from "./port-check.js";

/**
 * `meshsign serve`. The primary process owns the data dir, the serving
 * certificate, the engine, health, metrics and the admin API; the
 * CreateCertificate port runs in `workers` cluster processes sharing one
 * listening socket (or in the primary itself when workers = 1). Each worker
 * builds the same CSR stack from the data dir, so the hot path never crosses
 * a process boundary; workers only report issuances and readiness upward and
 * receive serving-certificate renewals downward.
 *
 * Start-up order: configuration, then the listen addresses (each bound and
 * released), then the data dir; so a mistake in either leaves nothing behind.
 *
 * SIGTERM/SIGINT: readiness fails at once, listeners stop accepting, in-flight
 * calls get the grace period, then the process exits 0.
 */
export async function runServe(sources: ConfigSources): Promise<void> {
  const config = loadConfig(sources);
  // Each role loads only its own modules: a worker never pays for the engine, store or admin API.
  if (cluster.isWorker) return (await import("./worker.js")).runWorker(config);
  // Ports first: a busy port names its flag before the data dir, the CA or the store is created.
  await checkListenAddresses(config);
  return (await import("./primary.js")).runPrimary(config);
}
