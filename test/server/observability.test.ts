import { Counter, Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ObservabilityServers,
  registryMetrics,
  startObservability,
} from "../../src/server/observability.js";

/* /healthz, /readyz and /metrics on their own ports (0 here: any free port). */

const state = { ca: true, grpc: true, throws: false, metricsFail: false, store: undefined as string | undefined };
const registry = new Registry();
const counter = new Counter({ name: "meshsign_test_total", help: "test counter", registers: [registry] });
let servers: ObservabilityServers;

beforeAll(async () => {
  servers = await startObservability({
    host: "127.0.0.1",
    healthPort: 0,
    metricsPort: 0,
    checks: () => [
      { name: "ca", ready: () => state.ca },
      { name: "grpc_server", ready: () => state.grpc },
      { name: "store", ready: () => state.store === undefined, reason: () => state.store },
      {
        name: "engine",
        ready: () => {
          if (state.throws) throw new Error("boom");
          return true;
        },
      },
    ],
    metrics: async () => {
      if (state.metricsFail) throw new Error("registry broken");
      return registryMetrics(registry)();
    },
  });
});
afterAll(async () => {
  await servers?.close();
});

async function get(port: number, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: await res.text() };
}

describe("readiness", () => {
  it.each([
    {
      name: "every check passes",
      set: {},
      status: 200,
      lines: ["[+]ca ok", "[+]grpc_server ok", "[+]store ok", "[+]engine ok", "readyz check passed"],
    },
    {
      name: "the CA is not ready",
      set: { ca: false },
      status: 503,
      lines: ["[-]ca failed", "[+]grpc_server ok", "readyz check failed"],
    },
    { name: "the gRPC server is down", set: { grpc: false }, status: 503, lines: ["[-]grpc_server failed"] },
    { name: "a check throws", set: { throws: true }, status: 503, lines: ["[-]engine failed"] },
    {
      name: "the store refuses writes",
      set: { store: "no space left on device (ENOSPC) writing the journal\nunder /data" },
      status: 503,
      lines: ["[-]store failed: no space left on device (ENOSPC) writing the journal under /data\n", "[+]engine ok"],
    },
  ])("answers $status when $name, listing each check", async ({ set, status, lines }) => {
    Object.assign(state, { ca: true, grpc: true, throws: false, store: undefined }, set);
    const r = await get(servers.healthPort, "/readyz");
    expect(r.status).toBe(status);
    for (const line of lines) expect(r.body).toContain(line);
  });

  it("keeps /healthz (liveness) at 200 while not ready", async () => {
    Object.assign(state, { ca: false });
    expect(await get(servers.healthPort, "/healthz")).toEqual({ status: 200, body: "ok\n" });
    Object.assign(state, { ca: true });
  });

  it("answers 404 for anything else", async () => {
    expect((await get(servers.healthPort, "/metrics")).status).toBe(404);
    expect((await get(servers.metricsPort, "/readyz")).status).toBe(404);
  });
});

describe("metrics", () => {
  it("serves the registry in the Prometheus text format", async () => {
    counter.inc(3);
    const res = await fetch(`http://127.0.0.1:${servers.metricsPort}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/plain");
    expect(await res.text()).toMatch(/^meshsign_test_total 3$/m);
  });

  it("answers 500 without internals when the metrics cannot be gathered", async () => {
    state.metricsFail = true;
    try {
      const r = await get(servers.metricsPort, "/metrics");
      expect(r.status).toBe(500);
      expect(r.body).not.toContain("registry broken");
    } finally {
      state.metricsFail = false;
    }
  });
});
