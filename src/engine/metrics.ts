/**
 * Prometheus metrics with cert-manager's names and labels (so existing
 * dashboards and expiry alerts keep working), plus what cert-manager lacks:
 * an issuance latency histogram and a failures-by-reason counter.
 */
import { Counter, Histogram, type Metric, type Registry } from "prom-client";

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

const CONDITIONS = ["True", "False", "Unknown"] as const;

/** cert-manager's ACME states, always exposed (a 0 is an answer too); "new" is an Order not yet placed at the CA. */
const ACME_STATES = ["new", "pending", "ready", "processing", "valid", "invalid", "expired", "errored"] as const;

/** How many ACME Orders and Challenges the engine holds, by `status.state` ("new" when it has none). */
export interface AcmeStateCounts {
  readonly orders: ReadonlyMap<string, number>;
  readonly challenges: ReadonlyMap<string, number>;
}

/** One Certificate's published state: one small row where prom-client kept seven series (about 1.7 KB). */
interface Row {
  readonly labels: CertificateMetricLabels;
  readonly ready: CertificateMetricValues["ready"];
  readonly notBefore: number;
  readonly notAfter: number;
  readonly renewal: number;
}

interface Sample {
  readonly labels: (CertificateMetricLabels & { readonly condition?: string }) | { readonly state: string };
  readonly value: number;
}

/**
 * A gauge whose samples are computed from the engine's state when scraped, in the shape
 * prom-client's Registry reads (`get()`), instead of one stored series per
 * label set: with 10,000 Certificates the five cert-manager gauges held
 * 70,000 series (about 17 MB) between scrapes.
 */
class ComputedGauge {
  readonly type = "gauge";
  readonly aggregator = "sum";
  readonly name: string;
  readonly help: string;
  readonly #samples: () => Sample[];

  constructor(name: string, help: string, samples: () => Sample[], registry: Registry) {
    this.name = name;
    this.help = help;
    this.#samples = samples;
    registry.registerMetric(this as unknown as Metric);
  }

  async get(): Promise<{ name: string; help: string; type: "gauge"; aggregator: "sum"; values: Sample[] }> {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: this.#samples() };
  }

  /** The rows are the engine's state, not the metric's: a registry reset leaves them. */
  reset(): void {}
}

const NO_ACME: AcmeStateCounts = { orders: new Map(), challenges: new Map() };

/** The engine metrics of each registry: one set per process, whichever engine reports into it. */
const byRegistry = new WeakMap<Registry, EngineMetrics>();

/**
 * The engine metrics registered in `registry`, made on first use. A later engine in the same
 * process (Kubernetes mode starts one per leader term) reports into the same metrics: registering
 * them again would throw, which made every leader term after the first fail to start. Its
 * Certificates' rows start empty (the new engine observes each of them again); the counters and
 * the histogram keep counting.
 */
export function engineMetricsFor(registry: Registry): EngineMetrics {
  const existing = byRegistry.get(registry);
  if (existing !== undefined) {
    existing.forgetAll();
    return existing;
  }
  const created = new EngineMetrics(registry);
  byRegistry.set(registry, created);
  return created;
}

export class EngineMetrics {
  readonly #latency: Histogram<string>;
  readonly #failures: Counter<string>;
  /** "<ns>/<name>" -> the Certificate's labels and values. */
  readonly #rows = new Map<string, Row>();
  readonly #registry: Registry;
  #acmeCounts: (() => AcmeStateCounts) | undefined;

  constructor(registry: Registry) {
    this.#registry = registry;
    const registers = [registry];
    const rows = this.#rows;
    const perRow = (samples: (row: Row) => Sample[]) => (): Sample[] => {
      const values: Sample[] = [];
      for (const row of rows.values()) values.push(...samples(row));
      return values;
    };
    const rowGauge = (name: string, help: string, samples: (row: Row) => Sample[]) => new ComputedGauge(name, help, perRow(samples), registry);
    rowGauge("certmanager_certificate_ready_status", "The ready status of the certificate.", (r) => CONDITIONS.map((c) => ({ labels: { ...r.labels, condition: c }, value: c === r.ready ? 1 : 0 })));
    rowGauge("certmanager_certificate_expiration_timestamp_seconds", "The date after which the certificate expires. Expressed as a Unix Epoch Time.", (r) => [{ labels: r.labels, value: r.notAfter }]);
    rowGauge("certmanager_certificate_not_after_timestamp_seconds", "The timestamp after which the certificate is invalid, expressed as a Unix Epoch Time.", (r) => [{ labels: r.labels, value: r.notAfter }]);
    rowGauge("certmanager_certificate_not_before_timestamp_seconds", "The timestamp before which the certificate is invalid, expressed as a Unix Epoch Time.", (r) => [{ labels: r.labels, value: r.notBefore }]);
    rowGauge("certmanager_certificate_renewal_timestamp_seconds", "The number of seconds before expiration time the certificate should renew.", (r) => [{ labels: r.labels, value: r.renewal }]);
    this.#latency = new Histogram({
      name: "meshsign_certificate_issuance_duration_seconds",
      help: "Time from a Certificate entering Issuing to its Secret being written.",
      labelNames: ["issuer_kind"],
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120, 600, 3600],
      registers,
    });
    this.#failures = new Counter({ name: "meshsign_certificate_issuance_failures_total", help: "Failed issuance attempts by reason.", labelNames: ["reason", "issuer_kind"], registers });
  }

  /**
   * Exposes the engine's ACME Orders and Challenges by state, read when
   * scraped: how many are in flight, and how many a CA has refused.
   */
  trackAcme(counts: () => AcmeStateCounts): void {
    const registered = this.#acmeCounts !== undefined;
    this.#acmeCounts = counts;
    if (registered) return;
    const byState = (pick: (c: AcmeStateCounts) => ReadonlyMap<string, number>) => (): Sample[] => {
      const m = pick(this.#acmeCounts?.() ?? NO_ACME);
      const extra = [...m.keys()].filter((s) => !(ACME_STATES as readonly string[]).includes(s));
      return [...ACME_STATES, ...extra].map((state) => ({ labels: { state }, value: m.get(state) ?? 0 }));
    };
    new ComputedGauge("meshsign_acme_orders", "ACME Orders by state (new: not yet placed at the CA).", byState((c) => c.orders), this.#registry);
    new ComputedGauge("meshsign_acme_challenges", "ACME Challenges by state (new: not yet started).", byState((c) => c.challenges), this.#registry);
  }

  /** Publishes the current state of one Certificate (a changed issuerRef replaces its series). */
  observe(labels: CertificateMetricLabels, values: CertificateMetricValues): void {
    const seconds = (ms: number | undefined): number => (ms === undefined ? 0 : Math.floor(ms / 1000));
    // Label order is the exposition order: cert-manager's (name, namespace, issuer_name, issuer_kind, issuer_group).
    const ordered: CertificateMetricLabels = { name: labels.name, namespace: labels.namespace, issuer_name: labels.issuer_name, issuer_kind: labels.issuer_kind, issuer_group: labels.issuer_group };
    this.#rows.set(`${labels.namespace}/${labels.name}`, { labels: ordered, ready: values.ready, notBefore: seconds(values.notBeforeMs), notAfter: seconds(values.notAfterMs), renewal: seconds(values.renewalTimeMs) });
  }

  /** Drops every Certificate's series (a new engine reports them again). */
  forgetAll(): void {
    this.#rows.clear();
  }

  /** Drops every series of a deleted Certificate. */
  forget(namespace: string, name: string): void {
    this.#rows.delete(`${namespace}/${name}`);
  }

  observeIssuance(issuerKind: string, seconds: number): void {
    this.#latency.observe({ issuer_kind: issuerKind }, Math.max(0, seconds));
  }

  countFailure(reason: string, issuerKind: string): void {
    this.#failures.inc({ reason, issuer_kind: issuerKind });
  }
}
