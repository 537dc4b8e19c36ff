/**
 * Leader election rules over a tiny in-memory Lease store with short real
 * timings (the same elector runs against a real API server in
 * test/kube/leader-election.test.ts).
 */
import { afterEach, describe, expect, it } from "vitest";
import { MeshsignError } from "../../src/errors/index.js";
import { LeaderElector, microTime } from "../../src/server/leader-election.js";
import type { KubeObject, ResourceType, Store, Watch } from "../../src/store/types.js";

/** Just enough of a Store for Leases: get/create/update with resourceVersion conflicts. */
class LeaseStore implements Store {
  readonly objects = new Map<string, KubeObject>();
  failWrites = false;
  /** Writes that get no answer until unhang() (an API server that accepted the call and went silent). */
  hangWrites = false;
  #hung: (() => void)[] = [];
  /** Answers every hung write with a timeout error. */
  unhang(): void {
    this.hangWrites = false;
    for (const fail of this.#hung.splice(0)) fail();
  }
  #rv = 0;
  #key(ns: string | undefined, name: string | undefined): string {
    return `${ns}/${name}`;
  }
  async get<T extends KubeObject>(
    _t: ResourceType,
    ns: string | undefined,
    name: string,
  ): Promise<T | undefined> {
    const o = this.objects.get(this.#key(ns, name));
    return o ? (structuredClone(o) as T) : undefined;
  }
  async create<T extends KubeObject>(_t: ResourceType, o: T): Promise<T> {
    if (this.failWrites) throw new MeshsignError("ERR_STORE_UNAVAILABLE", "down", { retry: "transient" });
    const key = this.#key(o.metadata.namespace, o.metadata.name);
    if (this.objects.has(key)) throw new MeshsignError("ERR_ALREADY_EXISTS", "exists");
    const stored = {
      ...structuredClone(o),
      metadata: { ...o.metadata, resourceVersion: String(++this.#rv) },
    };
    this.objects.set(key, stored);
    return structuredClone(stored) as T;
  }
  async update<T extends KubeObject>(_t: ResourceType, o: T): Promise<T> {
    if (this.hangWrites) {
      await new Promise<void>((resolve) => this.#hung.push(resolve));
      throw new MeshsignError("ERR_STORE_UNAVAILABLE", "timed out", { retry: "transient" });
    }
    if (this.failWrites) throw new MeshsignError("ERR_STORE_UNAVAILABLE", "down", { retry: "transient" });
    const key = this.#key(o.metadata.namespace, o.metadata.name);
    const cur = this.objects.get(key);
    if (!cur) throw new MeshsignError("ERR_NOT_FOUND", "missing");
    if (o.metadata.resourceVersion !== cur.metadata.resourceVersion)
      throw new MeshsignError("ERR_CONFLICT", "stale");
    const stored = {
      ...structuredClone(o),
      metadata: { ...o.metadata, resourceVersion: String(++this.#rv) },
    };
    this.objects.set(key, stored);
    return structuredClone(stored) as T;
  }
  list(): Promise<never[]> {
    throw new Error("unused");
  }
  watch(): Watch {
    throw new Error("unused");
  }
  updateStatus<T extends KubeObject>(): Promise<T> {
    throw new Error("unused");
  }
  async delete(): Promise<void> {}
  async close(): Promise<void> {}
}

const FAST = { leaseDurationMs: 600, renewDeadlineMs: 400, retryPeriodMs: 100 };
const electors: LeaderElector[] = [];

afterEach(async () => {
  for (const e of electors.splice(0)) await e.stop({ release: false });
});

function candidate(store: Store, identity: string, log: string[]): LeaderElector {
  const e = new LeaderElector({
    store,
    namespace: "meshsign-system",
    name: "meshsign-leader",
    identity,
    ...FAST,
    onStartedLeading: () => log.push(`${identity} started`),
    onStoppedLeading: () => log.push(`${identity} stopped`),
  });
  electors.push(e);
  return e;
}

async function until(cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("condition not met");
    await new Promise((r) => setTimeout(r, 20));
  }
}

function transitions(store: LeaseStore): number | undefined {
  const lease = store.objects.get("meshsign-system/meshsign-leader") as
    | { spec?: { leaseTransitions?: number } }
    | undefined;
  return lease?.spec?.leaseTransitions;
}

function holder(store: LeaseStore): string | undefined {
  const lease = store.objects.get("meshsign-system/meshsign-leader") as
    | { spec?: { holderIdentity?: string } }
    | undefined;
  return lease?.spec?.holderIdentity;
}

describe("LeaderElector", () => {
  it("elects exactly one of two candidates and records it as the Lease holder", async () => {
    const store = new LeaseStore();
    const log: string[] = [];
    const a = candidate(store, "a", log);
    const b = candidate(store, "b", log);
    a.start();
    b.start();
    await until(() => a.isLeader() || b.isLeader());
    // Several retry periods later there is still exactly one leader.
    await new Promise((r) => setTimeout(r, 400));
    expect([a.isLeader(), b.isLeader()].filter(Boolean)).toHaveLength(1);
    const leader = a.isLeader() ? "a" : "b";
    expect(holder(store)).toBe(leader);
    expect(log).toEqual([`${leader} started`]);
    expect(b.leader()).toBe(leader);
  });

  it("hands over to the other candidate when the leader stops and releases", async () => {
    const store = new LeaseStore();
    const log: string[] = [];
    const a = candidate(store, "a", log);
    a.start();
    await until(() => a.isLeader());
    const b = candidate(store, "b", log);
    b.start();
    await a.stop();
    expect(log).toEqual(["a started", "a stopped"]);
    await until(() => b.isLeader());
    expect(holder(store)).toBe("b");
    expect(transitions(store)).toBe(1);
  });

  it("takes over from a leader that vanished without releasing once its lease expired", async () => {
    const store = new LeaseStore();
    const now = Date.now();
    // A record renewed "just now" by a replica that will never renew again.
    store.objects.set("meshsign-system/meshsign-leader", {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { name: "meshsign-leader", namespace: "meshsign-system", resourceVersion: "100" },
      spec: {
        holderIdentity: "ghost",
        leaseDurationSeconds: 1,
        renewTime: microTime(now),
        leaseTransitions: 3,
      },
    } as KubeObject);
    const log: string[] = [];
    const b = candidate(store, "b", log);
    b.start();
    await new Promise((r) => setTimeout(r, 300));
    expect(b.isLeader()).toBe(false);
    await until(() => b.isLeader());
    expect(transitions(store)).toBe(4);
  });

  it("steps down when it cannot renew within the renew deadline", async () => {
    const store = new LeaseStore();
    const log: string[] = [];
    const a = candidate(store, "a", log);
    a.start();
    await until(() => a.isLeader());
    store.failWrites = true;
    await until(() => !a.isLeader());
    expect(log).toEqual(["a started", "a stopped"]);
  });

  it("steps down within the renew deadline while a renewal hangs without an answer", async () => {
    const store = new LeaseStore();
    const log: string[] = [];
    const a = candidate(store, "a", log);
    a.start();
    await until(() => a.isLeader());
    store.hangWrites = true;
    const hungAt = Date.now();
    // Others may take the Lease leaseDuration (600 ms) after its last renewal: the leader must be
    // gone by then, not whenever the request times out (30 s by default).
    await until(() => !a.isLeader(), 2_000);
    expect(Date.now() - hungAt).toBeLessThan(600);
    expect(log).toEqual(["a started", "a stopped"]);
    store.unhang();
  });

  it("campaigns again when started after a stop", async () => {
    const store = new LeaseStore();
    const log: string[] = [];
    const a = candidate(store, "a", log);
    a.start();
    await until(() => a.isLeader());
    await a.stop();
    a.start();
    await until(() => a.isLeader(), 2_000);
    expect(log).toEqual(["a started", "a stopped", "a started"]);
  });

  it("steps down at once when another replica took the Lease", async () => {
    const store = new LeaseStore();
    const log: string[] = [];
    const a = candidate(store, "a", log);
    a.start();
    await until(() => a.isLeader());
    const lease = store.objects.get("meshsign-system/meshsign-leader") as KubeObject & {
      spec: Record<string, unknown>;
    };
    store.objects.set("meshsign-system/meshsign-leader", {
      ...lease,
      metadata: { ...lease.metadata, resourceVersion: "999" },
      spec: { ...lease.spec, holderIdentity: "usurper", renewTime: microTime(Date.now()) },
    } as KubeObject);
    await until(() => !a.isLeader());
    expect(a.leader()).toBe("usurper");
  });

  it.each([
    [
      "a lease not longer than the renew deadline",
      { leaseDurationMs: 1000, renewDeadlineMs: 1000, retryPeriodMs: 100 },
    ],
    [
      "a renew deadline within retry jitter",
      { leaseDurationMs: 2000, renewDeadlineMs: 110, retryPeriodMs: 100 },
    ],
  ])("refuses %s", (_label, timing) => {
    expect(
      () =>
        new LeaderElector({
          store: new LeaseStore(),
          namespace: "n",
          name: "l",
          identity: "a",
          ...timing,
          onStartedLeading: () => {},
          onStoppedLeading: () => {},
        }),
    ).toThrow(RangeError);
  });

  it("writes MicroTime with exactly six fractional digits", () => {
    expect(microTime(Date.UTC(2026, 0, 2, 3, 4, 5, 678))).toBe("2026-01-02T03:04:05.678000Z");
  });
});
