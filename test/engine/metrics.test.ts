import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { Engine } from "../../src/engine/engine.js";
import { EngineMetrics, engineMetricsFor } from "../../src/engine/metrics.js";
import { MemoryStore } from "../../src/store/memory/index.js";

const web = { name: "web", namespace: "apps", issuer_name: "ca", issuer_kind: "ClusterIssuer", issuer_group: "cert-manager.io" };
const at = (s: number) => s * 1000 + 999;

describe("EngineMetrics", () => {
  it("exposes cert-manager's gauges with its label order and whole seconds", async () => {
    const registry = new Registry();
    const m = new EngineMetrics(registry);
    m.observe(web, { ready: "True", notBeforeMs: at(100), notAfterMs: at(200), renewalTimeMs: at(150) });
    const text = await registry.metrics();
    const l = 'name="web",namespace="apps",issuer_name="ca",issuer_kind="ClusterIssuer",issuer_group="cert-manager.io"';
    for (const line of [
      `certmanager_certificate_ready_status{${l},condition="True"} 1`,
      `certmanager_certificate_ready_status{${l},condition="False"} 0`,
      `certmanager_certificate_ready_status{${l},condition="Unknown"} 0`,
      `certmanager_certificate_expiration_timestamp_seconds{${l}} 200`,
      `certmanager_certificate_not_after_timestamp_seconds{${l}} 200`,
      `certmanager_certificate_not_before_timestamp_seconds{${l}} 100`,
      `certmanager_certificate_renewal_timestamp_seconds{${l}} 150`,
      "# TYPE certmanager_certificate_ready_status gauge",
    ]) {
      expect(text).toContain(line);
    }
  });

  it("replaces a Certificate's series when its issuer changes, and drops them when it is forgotten", async () => {
    const registry = new Registry();
    const m = new EngineMetrics(registry);
    m.observe(web, { ready: "False" });
    m.observe({ ...web, issuer_name: "other" }, { ready: "True", notAfterMs: at(7) });
    const text = await registry.metrics();
    expect(text).not.toContain('issuer_name="ca"');
    expect(text).toContain('certmanager_certificate_not_after_timestamp_seconds{name="web",namespace="apps",issuer_name="other",issuer_kind="ClusterIssuer",issuer_group="cert-manager.io"} 7');
    m.forget("apps", "web");
    expect(await registry.metrics()).not.toContain('name="web"');
  });

  it("answers JSON scrapes and survives a registry reset with its state", async () => {
    const registry = new Registry();
    const m = new EngineMetrics(registry);
    m.observe(web, { ready: "Unknown" });
    registry.resetMetrics();
    const json = await registry.getMetricsAsJSON();
    const ready = json.find((x) => x.name === "certmanager_certificate_ready_status");
    expect(ready?.values).toContainEqual({ labels: { ...web, condition: "Unknown" }, value: 1 });
  });
});

describe("EngineMetrics.trackAcme", () => {
  it("exposes every ACME state, a state it does not know too, and reads the counts at each scrape", async () => {
    const registry = new Registry();
    const m = new EngineMetrics(registry);
    let orders = new Map([["pending", 3]]);
    m.trackAcme(() => ({ orders, challenges: new Map([["surprising", 1]]) }));
    let text = await registry.metrics();
    expect(text).toContain('meshsign_acme_orders{state="pending"} 3');
    expect(text).toContain('meshsign_acme_orders{state="new"} 0');
    expect(text).toContain('meshsign_acme_orders{state="errored"} 0');
    expect(text).toContain('meshsign_acme_challenges{state="surprising"} 1');
    expect(text).toContain("# TYPE meshsign_acme_orders gauge");
    orders = new Map([["valid", 3]]);
    text = await registry.metrics();
    expect(text).toContain('meshsign_acme_orders{state="pending"} 0');
    expect(text).toContain('meshsign_acme_orders{state="valid"} 3');
  });
});

describe("engine metrics across engines in one process (Kubernetes mode: one engine per leader term)", () => {
  it("lets a second engine start on the same registry, which threw 'already registered' and failed every later leader term", () => {
    const registry = new Registry();
    const store = new MemoryStore();
    new Engine({ store, metricsRegistry: registry });
    expect(() => new Engine({ store, metricsRegistry: registry })).not.toThrow();
  });

  it("starts a later engine's Certificates empty and reads the ACME counts from the latest engine", async () => {
    const registry = new Registry();
    const first = engineMetricsFor(registry);
    first.observe(web, { ready: "True" });
    first.trackAcme(() => ({ orders: new Map([["pending", 7]]), challenges: new Map() }));
    const second = engineMetricsFor(registry);
    expect(second).toBe(first);
    second.trackAcme(() => ({ orders: new Map([["valid", 2]]), challenges: new Map() }));
    const text = await registry.metrics();
    expect(text).not.toContain('name="web"');
    expect(text).toContain('meshsign_acme_orders{state="pending"} 0');
    expect(text).toContain('meshsign_acme_orders{state="valid"} 2');
  });
});
