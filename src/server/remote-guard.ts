/**
 * The guard in front of a remote workload issuer (Vault) on the
 * CreateCertificate path, as every process that calls it builds it: bounded
 * in flight, a per-call deadline and a circuit breaker
 * ({@link GuardedIssuer}), with a log line per circuit change and the
 * `meshsign_workload_issuer_*` metrics.
 */
import type { Logger } from "pino";
import { Counter, Gauge, type Registry } from "prom-client";
import { type CircuitState, GuardedIssuer } from "../issuers/guarded-issuer.js";
import type { Issuer } from "../issuers/issuer.js";

const CIRCUIT_VALUE: Record<CircuitState, number> = { closed: 0, "half-open": 1, open: 2 };

/** Metrics of the guard, one set per registry (registered on first use). */
function guardMetrics(registry: Registry): { refused: Counter<"cause">; circuit: Gauge } {
  const existing = registry.getSingleMetric("meshsign_workload_issuer_refused_total") as
    | Counter<"cause">
    | undefined;
  const circuit = registry.getSingleMetric("meshsign_workload_issuer_circuit_state") as Gauge | undefined;
  if (existing !== undefined && circuit !== undefined) return { refused: existing, circuit };
  return {
    refused: new Counter({
      name: "meshsign_workload_issuer_refused_total",
      help: "CreateCertificate calls refused without reaching the remote issuer (circuit_open, in_flight_limit) or cut off by its deadline.",
      labelNames: ["cause"],
      registers: [registry],
    }),
    circuit: new Gauge({
      name: "meshsign_workload_issuer_circuit_state",
      help: "Circuit breaker in front of the remote workload issuer: 0 closed, 1 half-open, 2 open (with several workers, the most open of theirs).",
      registers: [registry],
      // Each worker has its own breaker; summed, 2 + 0 would read as "open" twice over.
      aggregator: "max",
    }),
  };
}

/** `inner` guarded; `where` names the issuer in log lines ("ClusterIssuer vault"). */
export function guardRemoteIssuer(
  inner: Issuer,
  options: { origin: string; where: string; log: Logger; metrics: Registry },
): GuardedIssuer {
  const m = guardMetrics(options.metrics);
  const issuer = new GuardedIssuer(inner, {
    describe: options.origin,
    onStateChange: (state, why) => {
      m.circuit.set(CIRCUIT_VALUE[state]);
      options.log[state === "closed" ? "info" : "warn"](
        { issuer: options.where, circuit: state, why },
        state === "open"
          ? "remote issuer failing: answering UNAVAILABLE without calling it"
          : `remote issuer circuit ${state}`,
      );
    },
    onRefused: (cause) => m.refused.inc({ cause }),
  });
  m.circuit.set(0);
  return issuer;
}
