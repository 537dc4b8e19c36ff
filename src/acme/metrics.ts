/**
 * The ACME client's request metrics with cert-manager's names, labels and
 * types, so dashboards and alerts written for cert-manager keep working:
 *
 * - `certmanager_http_acme_client_request_count` (counter)
 * - `certmanager_http_acme_client_request_duration_seconds` (summary, median,
 *   p90 and p99 over a sliding 10-minute window, as client_golang's default)
 *
 * both labelled `scheme, host, path, method, status`. Fed by the transport's
 * `observe` hook, so every request is counted, including badNonce retries.
 *
 * The path is collapsed as cert-manager does (only its first two segments:
 * `/acme/order/123/456` -> `/acme/order`), and one step further: a kept
 * segment that is an opaque identifier (all digits, lower-case hex, or a
 * mixed-case base64url token of 16+ characters) becomes `{id}`. Servers with
 * short paths (Pebble's `/my-order/<id>`) would otherwise add a series per
 * order, which is how cert-manager's metric grows without bound against them.
 * A request that got no HTTP status is `status="999"`, as in cert-manager.
 */
import { Counter, type Registry, Summary } from "prom-client";
import type { AcmeRequestObservation } from "./transport.js";

const LABELS = ["scheme", "host", "path", "method", "status"] as const;

/** cert-manager's status label for a request that failed before any response. */
const NO_RESPONSE_STATUS = "999";

export class AcmeClientMetrics {
  readonly #count: Counter<(typeof LABELS)[number]>;
  readonly #duration: Summary<(typeof LABELS)[number]>;

  constructor(registry: Registry) {
    this.#count = new Counter({
      name: "certmanager_http_acme_client_request_count",
      help: "The number of requests made by the ACME client.",
      labelNames: LABELS,
      registers: [registry],
    });
    this.#duration = new Summary({
      name: "certmanager_http_acme_client_request_duration_seconds",
      help: "The HTTP request latencies in seconds for the ACME client.",
      labelNames: LABELS,
      percentiles: [0.5, 0.9, 0.99],
      maxAgeSeconds: 600,
      ageBuckets: 5,
      registers: [registry],
    });
  }

  /** The transport's `observe` hook; bound, so it can be passed as is. */
  readonly observe = (o: AcmeRequestObservation): void => {
    const labels = {
      scheme: o.scheme,
      host: o.host,
      path: acmeMetricPath(o.path),
      method: o.method,
      status: /^\d{3}$/.test(o.status) ? o.status : NO_RESPONSE_STATUS,
    };
    this.#count.inc(labels);
    this.#duration.observe(labels, o.durationSeconds);
  };
}

/** The `path` label for a request path: its first two segments, opaque identifiers as `{id}`. */
export function acmeMetricPath(path: string): string {
  return path
    .split("/")
    .slice(0, 3)
    .map((segment) => (isOpaqueId(segment) ? "{id}" : segment))
    .join("/");
}

function isOpaqueId(segment: string): boolean {
  return (
    /^\d+$/.test(segment) ||
    /^[0-9a-f]{16,}$/.test(segment) ||
    (/^[A-Za-z0-9_-]{16,}$/.test(segment) && /[A-Z]/.test(segment) && /\d/.test(segment))
  );
}
