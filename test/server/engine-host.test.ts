/**
 * The engine as `meshsign serve` starts it (src/server/engine-host.ts), over the in-memory Store:
 * which Certificates it takes as its own follows --certificate-selector, in Kubernetes' full label
 * selector syntax, and --certificate-issuer-groups.
 */
import { pino } from "pino";
import { Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { CERTIFICATES, type Certificate } from "../../src/api/types.js";
import { loadConfig } from "../../src/server/config.js";
import { type EngineHost, startEngine } from "../../src/server/engine-host.js";
import { MemoryStore } from "../../src/store/memory/index.js";

const running: EngineHost[] = [];
afterEach(async () => {
  for (const host of running.splice(0)) await host.stop();
});

function certificate(name: string, labels: Record<string, string>, group = "cert-manager.io"): Certificate {
  return {
    apiVersion: "cert-manager.io/v1",
    kind: "Certificate",
    metadata: { name, namespace: "apps", labels },
    spec: {
      secretName: `${name}-tls`,
      dnsNames: [`${name}.example.com`],
      issuerRef: { name: "none", kind: "Issuer", group },
    },
  } as Certificate;
}

async function managed(flags: Record<string, string>): Promise<string[]> {
  const store = new MemoryStore();
  for (const c of [
    certificate("mesh", { team: "mesh" }),
    certificate("platform", { team: "platform" }),
    certificate("legacy-mesh", { team: "mesh", legacy: "true" }),
    certificate("unlabelled", {}),
    certificate("ours", { "app.kubernetes.io/managed-by": "meshsign" }),
    certificate("vault-mesh", { team: "mesh" }, "vault.example.com"),
  ]) {
    await store.create(CERTIFICATES, c);
  }
  const config = loadConfig({ env: {}, flags: { certificateShims: "", ...flags } });
  const host = await startEngine({ config, store, log: pino({ level: "silent" }), metrics: new Registry() });
  running.push(host);
  return (await host.control.list("apps")).map((c) => (c as { name: string }).name);
}

describe("the engine meshsign serve starts", () => {
  it("takes every Certificate without --certificate-selector", async () => {
    expect(await managed({})).toEqual([
      "legacy-mesh",
      "mesh",
      "ours",
      "platform",
      "unlabelled",
      "vault-mesh",
    ]);
  });

  it("takes only the Certificates a set-based --certificate-selector selects, and its own", async () => {
    expect(await managed({ certificateSelector: "team in (mesh, security), !legacy" })).toEqual([
      "mesh",
      "ours",
      "vault-mesh",
    ]);
    expect(await managed({ certificateSelector: "team notin (mesh)" })).toEqual([
      "ours",
      "platform",
      "unlabelled",
    ]);
  });

  it("ands the selector with --certificate-issuer-groups", async () => {
    expect(
      await managed({ certificateSelector: "team", certificateIssuerGroups: "cert-manager.io" }),
    ).toEqual(["legacy-mesh", "mesh", "ours", "platform"]);
  });
});

describe("the engines of successive leader terms in one process", () => {
  it("starts an engine again on the process's metrics registry after the first stopped, and it reports its Certificates", async () => {
    const store = new MemoryStore();
    await store.create(CERTIFICATES, certificate("mesh", { team: "mesh" }));
    const config = loadConfig({ env: {}, flags: { certificateShims: "" } });
    const metrics = new Registry();
    const log = pino({ level: "silent" });
    const first = await startEngine({ config, store, log, metrics });
    await first.stop();
    // What a replica does when it wins the Lease back: this threw "already registered" before.
    const second = await startEngine({ config, store, log, metrics });
    running.push(second);
    expect((await second.control.list("apps")).map((c) => (c as { name: string }).name)).toEqual(["mesh"]);
    const reported = async () =>
      (await metrics.getMetricsAsJSON())
        .find((m) => m.name === "certmanager_certificate_ready_status")
        ?.values.some((v) => v.labels.name === "mesh") === true;
    const deadline = Date.now() + 10_000;
    while (!(await reported()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(await reported()).toBe(true);
  });
});
