/**
 * Two meshsign leader electors on one real API server, sharing a
 * coordination.k8s.io/v1 Lease through the Kubernetes Store.
 */
import { CoordinationV1Api, KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LeaderElector } from "../../src/server/leader-election.js";
import { KubeStore } from "../../src/store/kube/index.js";
import { type KubeApiServer, startKubeApiServer } from "./harness.js";
import { eventually } from "./lib/eventually.js";

let api: KubeApiServer;
let kc: KubeConfig;
const stores: KubeStore[] = [];
const NS = "meshsign-system";
// Short, valid timings (lease > renew > 1.2 * retry) so failover fits a test.
const TIMING = { leaseDurationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 300 };

beforeAll(async () => {
  api = await startKubeApiServer();
  kc = new KubeConfig();
  kc.loadFromFile(api.kubeconfigPath);
  const store = new KubeStore({ kubeConfig: kc });
  stores.push(store);
  await store.create(
    { group: "", version: "v1", kind: "Namespace", plural: "namespaces", namespaced: false },
    {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: NS },
    },
  );
});

afterAll(async () => {
  for (const s of stores) await s.close();
  await api?.stop();
});

function replica(lease: string, identity: string, log: string[]): LeaderElector {
  // Each replica has its own store (its own connection), as separate pods would.
  const store = new KubeStore({ kubeConfig: kc });
  stores.push(store);
  return new LeaderElector({
    store,
    namespace: NS,
    name: lease,
    identity,
    ...TIMING,
    onStartedLeading: () => log.push(`${identity} started`),
    onStoppedLeading: () => log.push(`${identity} stopped`),
  });
}

async function leaseHolder(name: string): Promise<{ holder?: string; transitions?: number }> {
  const lease = await kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ name, namespace: NS });
  return { holder: lease.spec?.holderIdentity, transitions: lease.spec?.leaseTransitions };
}

describe("leader election on a real API server", () => {
  it("elects one of two replicas and hands over on release without waiting for expiry", async () => {
    const log: string[] = [];
    const a = replica("release", "a", log);
    const b = replica("release", "b", log);
    a.start();
    await eventually(async () => (a.isLeader() ? true : undefined), 30_000);
    b.start();
    await eventually(async () => (b.leader() === "a" ? true : undefined), 30_000);
    expect(b.isLeader()).toBe(false);
    expect(await leaseHolder("release")).toEqual({ holder: "a", transitions: 0 });

    await a.stop();
    await eventually(async () => (b.isLeader() ? true : undefined), 30_000);
    expect(log).toEqual(["a started", "a stopped", "b started"]);
    expect(await leaseHolder("release")).toEqual({ holder: "b", transitions: 1 });
    await b.stop();
  });

  it("fails over to the survivor after the lease expires when the leader dies without releasing", async () => {
    const log: string[] = [];
    const a = replica("crash", "a", log);
    const b = replica("crash", "b", log);
    a.start();
    await eventually(async () => (a.isLeader() ? true : undefined), 30_000);
    b.start();
    await eventually(async () => (b.leader() === "a" ? true : undefined), 30_000);
    // A crash: renewals stop, the Lease still names a.
    await a.stop({ release: false });
    expect((await leaseHolder("crash")).holder).toBe("a");
    await eventually(async () => (b.isLeader() ? true : undefined), 30_000);
    expect((await leaseHolder("crash")).holder).toBe("b");
    expect(log.filter((l) => l.endsWith("started"))).toEqual(["a started", "b started"]);
    await b.stop();
  });
});
