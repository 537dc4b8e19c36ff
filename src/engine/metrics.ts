/**
 * Prometheus metrics with cert-manager's names and labels (so existing
 * dashboards and expiry alerts keep working), plus what cert-manager lacks:
 * an issuance latency histogram and a failures-by-reason counter.
 */
import { Counter, Gauge, Histogram, type Registry } from "prom-client";

export interface CertificateMetricLabels {
  readonly name: string;
  readonly namespace: string;
  readonly issuer_name: string;
  readonly issuer_kind: string;
  readonly issuer_group: string;
}

export interface CertificateMetricValues {
  readonly ready: "True" | "False" | "Unknown";
  readonly notBeforeMs?: number | undefined;
  readonly notAfterMs?: number | undefined;
  readonly renewalTimeMs?: number | undefined;
}

const LABELS = ["name", "namespace", "issuer_name", "issuer_kind", "issuer_group"] as const;
const CONDITIONS = ["True", "False", "Unknown"] as const;

export class EngineMetrics {
  readonly #ready: Gauge<string>;
  readonly #expiration: Gauge<string>;
  readonly #notAfter: Gauge<string>;
  readonly #notBefore: Gauge<string>;
  readonly #renewal: Gauge<string>;
  readonly #latency: Histogram<string>;
  readonly #failures: Counter<string>;
  /** Last labels per certificate, so a changed issuerRef does not leave stale series. */
  readonly #labels = new Map<string, CertificateMetricLabels>();

  constructor(registry: Registry) {
    const registers = [registry];
    this.#ready = new Gauge({ name: "certmanager_certificate_ready_status", help: "The ready status of the certificate.", labelNames: [...LABELS, "condition"], registers });
    this.#expiration = new Gauge({ name: "certmanager_certificate_expiration_timestamp_seconds", help: "The date after which the certificate expires. Expressed as a Unix Epoch Time.", labelNames: LABELS, registers });
    this.#notAfter = new Gauge({ name: "certmanager_certificate_not_after_timestamp_seconds", help: "The timestamp after which the certificate is invalid, expressed as a Unix Epoch Time.", labelNames: LABELS, registers });
    this.#notBefore = new Gauge({ name: "certmanager_certificate_not_before_timestamp_seconds", help: "The timestamp before which the certificate is invalid, expressed as a Unix Epoch Time.", labelNames: LABELS, registers });
    this.#renewal = new Gauge({ name: "certmanager_certificate_renewal_timestamp_seconds", help: "The number of seconds before expiration time the certificate should renew.", labelNames: LABELS, registers });
    this.#latency = new Histogram({
      name: "meshsign_certificate_issuance_duration_seconds",
      help: "Time from a Certificate entering Issuing to its Secret being written.",
      labelNames: ["issuer_kind"],
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120, 600, 3600],
      registers,
    });
    this.#failures = new Counter({ name: "meshsign_certificate_issuance_failures_total", help: "Failed issuance attempts by reason.", labelNames: ["reason", "issuer_kind"], registers });
  }

  /** Publishes the current state of one Certificate. */
  observe(labels: CertificateMetricLabels, values: CertificateMetricValues): void {
    const key = `${labels.namespace}/${labels.name}`;
    const prev = this.#labels.get(key);
    if (prev !== undefined && (prev.issuer_name !== labels.issuer_name || prev.issuer_kind !== labels.issuer_kind || prev.issuer_group !== labels.issuer_group)) {
      this.#removeSeries(prev);
    }
    this.#labels.set(key, labels);
    for (const c of CONDITIONS) this.#ready.set({ ...labels, condition: c }, c === values.ready ? 1 : 0);
    const seconds = (ms: number | undefined): number => (ms === undefined ? 0 : Math.floor(ms / 1000));
    this.#expiration.set({ ...labels }, seconds(values.notAfterMs));
    this.#notAfter.set({ ...labels }, seconds(values.notAfterMs));
    this.#notBefore.set({ ...labels }, seconds(values.notBeforeMs));
    this.#renewal.set({ ...labels }, seconds(values.renewalTimeMs));
  }

  /** Drops every series of a deleted Certificate. */
  forget(namespace: string, name: string): void {
    const key = `${namespace}/${name}`;
    const prev = this.#labels.get(key);
    if (prev === undefined) return;
    this.#labels.delete(key);
    this.#removeSeries(prev);
  }

  observeIssuance(issuerKind: string, seconds: number): void {
    this.#latency.observe({ issuer_kind: issuerKind }, Math.max(0, seconds));
  }

  countFailure(reason: string, issuerKind: string): void {
    this.#failures.inc({ reason, issuer_kind: issuerKind });
  }

  #removeSeries(labels: CertificateMetricLabels): void {
    for (const c of CONDITIONS) this.#ready.remove({ ...labels, condition: c });
    this.#expiration.remove({ ...labels });
    this.#notAfter.remove({ ...labels });
    this.#notBefore.remove({ ...labels });
    this.#renewal.remove({ ...labels });
  }
}
