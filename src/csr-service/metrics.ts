import { Counter, Gauge, Histogram, type Registry } from "prom-client";

/**
 * Metrics of the CreateCertificate service. Gauges that every worker reports
 * alike (CA expiry) aggregate with max across cluster workers; counters and
 * histograms sum.
 */
export class CsrMetrics {
  readonly requests: Counter<"outcome" | "grpc_code">;
  readonly latency: Histogram<"outcome">;
  readonly authnFailures: Counter<"reason">;
  readonly issued: Counter<"key_algorithm">;
  readonly caExpiry: Gauge;
  readonly issuedRefused: Counter<"check">;

  constructor(registry: Registry) {
    this.requests = new Counter({
      name: "meshsign_csr_requests_total",
      help: "CreateCertificate requests by outcome and gRPC status code.",
      labelNames: ["outcome", "grpc_code"],
      registers: [registry],
    });
    this.latency = new Histogram({
      name: "meshsign_csr_request_duration_seconds",
      help: "Server-side latency of CreateCertificate, from request to response.",
      labelNames: ["outcome"],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    });
    this.authnFailures = new Counter({
      name: "meshsign_authentication_failures_total",
      help: "Refused CreateCertificate callers by reason (error code).",
      labelNames: ["reason"],
      registers: [registry],
    });
    this.issued = new Counter({
      name: "meshsign_certificates_issued_total",
      help: "Workload certificates issued through CreateCertificate.",
      labelNames: ["key_algorithm"],
      registers: [registry],
    });
    this.caExpiry = new Gauge({
      name: "meshsign_ca_expiry_timestamp_seconds",
      help: "notAfter of the signing CA certificate, seconds since the epoch.",
      registers: [registry],
      aggregator: "max",
    });
    this.issuedRefused = new Counter({
      name: "meshsign_csr_issuer_certificates_refused_total",
      help: "Certificates a remote issuer (Vault) signed that meshsign refused to return, by the check that failed.",
      labelNames: ["check"],
      registers: [registry],
    });
  }
}
