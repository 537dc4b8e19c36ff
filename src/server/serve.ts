import cluster from "node:cluster";
import { type ConfigSources, loadConfig } from "./config.js";
import { checkListenAddresses } from "./port-check.js";

/**
 * `meshsign serve`. The primary process owns the data dir, the serving
 * certificate, the engine, health, metrics and the admin API; the
 * CreateCertificate port runs in `workers` cluster processes sharing one
 * listening socket (or in the primary itself when workers = 1). Workers start
 * from their own entry point (worker-main.ts, chosen by bin/meshsign.js) and
 * get the configuration and CA material from the primary, so the hot path
 * never crosses a process boundary; workers only report issuances and
 * readiness upward and receive serving-certificate renewals downward.
 *
 * Start-up order: configuration, then the listen addresses (each bound and
 * released), then the data dir; so a mistake in either leaves nothing behind.
 *
 * SIGTERM/SIGINT: readiness fails at once, listeners stop accepting, in-flight
 * calls get the grace period, then the process exits 0.
 */
export async function runServe(sources: ConfigSources): Promise<void> {
  // bin/meshsign.js starts workers at worker-main.ts; one reached through the command line instead
  // (`node dist/cli/main.js serve`) is still a worker, never a second primary.
  if (cluster.isWorker) return (await import("./worker.js")).runWorker();
  const config = loadConfig(sources);
  // Ports first: a busy port names its flag before the data dir, the CA or the store is created.
  await checkListenAddresses(config);
  return (await import("./primary.js")).runPrimary(config);
}
