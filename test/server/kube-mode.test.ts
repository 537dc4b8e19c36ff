/**
 * Kubernetes mode's leader wiring with its collaborators replaced: the elector is driven by hand
 * and each engine start answers when the test says, so the order of leadership changes and slow
 * starts can be chosen exactly (the real elector and engine run in test/kube).
 */
import type { Logger } from "pino";
import { Registry } from "prom-client";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { EVERYTHING } from "../../src/api/label-selector.js";
import type { Config } from "../../src/server/config.js";

interface FakeEngine {
  readonly id: number;
  stopped: boolean;
}

const h = vi.hoisted(() => ({
  elector: undefined as
    | { onStartedLeading: (signal: AbortSignal) => void; onStoppedLeading: () => void }
    | undefined,
  engineStarts: [] as { resolve: (e: unknown) => void }[],
  engines: [] as { id: number; stopped: boolean }[],
}));

vi.mock("../../src/server/kube-config.js", () => ({ loadKubeConfig: async () => ({}) }));
vi.mock("../../src/store/kube/index.js", () => ({
  KubeStore: class {
    async close(): Promise<void> {}
  },
}));
vi.mock("../../src/server/mesh-ca-issuer.js", () => ({
  controlPlaneIssuerRef: () => ({ name: "ca", kind: "ClusterIssuer", group: "cert-manager.io" }),
  createIfAbsent: async () => {},
  ensureMeshCaIssuer: async () => {},
}));
vi.mock("../../src/trust/index.js", () => ({
  RootsBroadcaster: class {
    set(): void {}
  },
  RootConfigMapDistributor: class {
    async start(): Promise<void> {}
    stop(): void {}
  },
}));
vi.mock("../../src/server/engine-host.js", () => ({
  startEngine: () =>
    new Promise((resolve) => {
      const engine = { id: h.engines.length + 1, stopped: false };
      h.engines.push(engine);
      h.engineStarts.push({
        resolve: () =>
          resolve({
            control: { list: async () => [engine.id] },
            stop: async () => {
              engine.stopped = true;
            },
          }),
      });
    }),
}));
vi.mock("../../src/server/leader-election.js", () => ({
  DEFAULT_RETRY_PERIOD_MS: 2_000,
  LeaderElector: class {
    constructor(options: NonNullable<typeof h.elector>) {
      h.elector = options;
    }
    start(): void {}
    async stop(): Promise<void> {}
  },
}));

const { startKubernetesControllers } = await import("../../src/server/kube-mode.js");

const silent = { info: () => {}, warn: () => {}, error: () => {}, debug: () => {} } as unknown as Logger;
const config = {
  issuerName: "ca",
  configmapNamespaceSelector: EVERYTHING,
  istiodCertificateEnable: false,
  leaderElectionNamespace: "meshsign-system",
  acmeHttp01SolverAddress: "",
} as unknown as Config;

const settle = () => new Promise((r) => setTimeout(r, 20));

beforeEach(() => {
  h.elector = undefined;
  h.engineStarts.length = 0;
  h.engines.length = 0;
});

describe("Kubernetes mode's leader wiring", () => {
  it("runs only the engine of the current term when leadership is lost and won again while an engine starts", async () => {
    const controllers = await startKubernetesControllers({ config, rootsPem: undefined, log: silent, metrics: new Registry() });
    const elector = h.elector;
    if (elector === undefined) throw new Error("no elector");
    const first = new AbortController();
    elector.onStartedLeading(first.signal);
    await settle();
    // The Lease is lost (API server unreachable for the renew deadline) while the engine starts...
    first.abort();
    elector.onStoppedLeading();
    // ...and won again as soon as the API server answers.
    elector.onStartedLeading(new AbortController().signal);
    await settle();
    for (const s of h.engineStarts) s.resolve(undefined);
    await settle();
    expect(h.engines.map((e: FakeEngine) => [e.id, e.stopped])).toEqual([
      [1, true],
      [2, false],
    ]);
    expect(await controllers.control.list("")).toEqual([2]);
  });
});
