import cluster from "node:cluster";
import { loadConfig, type ConfigSources } from "./config.js";

/**
 * `meshsign serve`. The primary process owns the data dir, the serving
 * certificate, the engine, health, metrics and the admin API; the
 * CreateCertificate port runs in `workers` cluster processes sharing one
 * listening socket (or in the primary itself when workers = 1). Each worker
 * builds the same CSR stack from the data dir, so the hot path never crosses
 * a process boundary; workers only report issuances and readiness upward and
 * receive serving-certificate renewals downward.
 *
 * SIGTERM/SIGINT: readiness fails at once, listeners stop accepting, in-flight
 * calls get the grace period, then the process exits 0.
 */
export async function runServe(sources: ConfigSources): Promise<void> {
  const config = loadConfig(sources);
  // Each role loads only its own modules: a worker never pays for the engine, store or admin API.
  if (cluster.isWorker) return (await import("./worker.js")).runWorker(config);
  return (await import("./primary.js")).runPrimary(config);
}
