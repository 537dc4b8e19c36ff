import { createServer, type Server } from "node:http";
import type { Registry } from "prom-client";

export interface ReadinessCheck {
  readonly name: string;
  ready(): boolean;
  /** Why the check fails, shown after it on /readyz (`[-]store failed: no space left on device (ENOSPC) ...`). Never secrets. */
  reason?(): string | undefined;
}

export interface ObservabilityServers {
  close(): Promise<void>;
  readonly healthPort: number;
  readonly metricsPort: number;
}

/**
 * `/readyz` and `/healthz` on the readiness port, Prometheus `/metrics` on the
 * metrics port, both on all interfaces (probes and scrapers come from outside
 * the pod). Readiness lists each named check; liveness answers while the event
 * loop runs.
 */
export async function startObservability(options: {
  host?: string;
  healthPort: number;
  metricsPort: number;
  checks: () => readonly ReadinessCheck[];
  metrics: () => Promise<{ contentType: string; body: string }>;
}): Promise<ObservabilityServers> {
  const health = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/healthz" || path === "/livez") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
      return;
    }
    if (path === "/readyz") {
      const results = options.checks().map((c) => {
        const ok = safe(() => c.ready());
        return { name: c.name, ok, reason: ok ? undefined : reasonOf(c) };
      });
      const ok = results.every((r) => r.ok);
      const line = (r: (typeof results)[number]) => `[${r.ok ? "+" : "-"}]${r.name} ${r.ok ? "ok" : r.reason === undefined ? "failed" : `failed: ${r.reason}`}`;
      const body = `${results.map(line).join("\n")}\n${ok ? "readyz check passed" : "readyz check failed"}\n`;
      res.writeHead(ok ? 200 : 503, { "content-type": "text/plain" }).end(body);
      return;
    }
    res.writeHead(404).end();
  });
  const metrics = createServer((req, res) => {
    if ((req.url ?? "/").split("?")[0] !== "/metrics") {
      res.writeHead(404).end();
      return;
    }
    options.metrics().then(
      ({ contentType, body }) => res.writeHead(200, { "content-type": contentType }).end(body),
      () => res.writeHead(500).end("metrics unavailable\n"),
    );
  });
  const host = options.host ?? "0.0.0.0";
  const healthPort = await listen(health, host, options.healthPort);
  const metricsPort = await listen(metrics, host, options.metricsPort);
  return {
    healthPort,
    metricsPort,
    close: async () => {
      await Promise.all([close(health), close(metrics)]);
    },
  };
}

export function registryMetrics(registry: Registry): () => Promise<{ contentType: string; body: string }> {
  return async () => ({ contentType: registry.contentType, body: await registry.metrics() });
}

function reasonOf(c: ReadinessCheck): string | undefined {
  try {
    // One line: a probe body is read line by line.
    return c.reason?.()?.replace(/[\r\n]+/g, " ");
  } catch {
    return undefined;
  }
}

function safe(f: () => boolean): boolean {
  try {
    return f();
  } catch {
    return false;
  }
}

function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      const addr = server.address();
      resolve(typeof addr === "object" && addr ? addr.port : port);
    });
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections?.();
    server.close(() => resolve());
  });
}
