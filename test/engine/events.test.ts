import { describe, expect, it } from "vitest";
import { Engine } from "../../src/engine/engine.js";
import { MemoryEventRecorder, StoreEventRecorder } from "../../src/engine/events.js";
import { CERTIFICATES, CLUSTER_ISSUERS } from "../../src/engine/lib/api.js";
import { certificate, clusterIssuer } from "./lib/builders.js";
import { EVENTS, type EventResource } from "../../src/engine/lib/api.js";
import { MemoryStore } from "../../src/store/memory/memory-store.js";
import type { KubeObject } from "../../src/store/types.js";
import { FakeClock } from "./lib/fake-clock.js";

const T0 = Date.parse("2026-03-01T00:00:00Z");
const MIN = 60_000;

const cert = (name: string): KubeObject => ({ apiVersion: "cert-manager.io/v1", kind: "Certificate", metadata: { name, namespace: "apps", uid: `uid-${name}` } });

async function events(store: MemoryStore): Promise<EventResource[]> {
  return (await store.list<EventResource>(EVENTS, { namespace: "apps" })).sort((a, b) => a.involvedObject.name.localeCompare(b.involvedObject.name) || a.reason.localeCompare(b.reason));
}

describe("StoreEventRecorder", () => {
  it("with expire off (Kubernetes mode) never lists or deletes Events: the API server expires them", async () => {
    const store = new MemoryStore();
    const clock = new FakeClock(T0);
    const calls: string[] = [];
    const watched = new Proxy(store, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver);
        if ((prop === "list" || prop === "delete") && typeof v === "function") {
          return (...args: unknown[]) => {
            calls.push(String(prop));
            return (v as (...a: unknown[]) => unknown).apply(target, args);
          };
        }
        return typeof v === "function" ? v.bind(target) : v;
      },
    });
    const recorder = new StoreEventRecorder({ store: watched, clock, expire: false, maxEvents: 1 });
    await recorder.start();
    recorder.record(cert("a"), "Normal", "Issuing", "one");
    recorder.record(cert("b"), "Normal", "Issuing", "two");
    await recorder.flush();
    clock.advance(3 * 60 * MIN);
    await recorder.sweep();
    await recorder.flush();
    expect(calls).toEqual([]);
    expect(await events(store)).toHaveLength(2);
  });

  it("with expire off (Kubernetes mode) still folds repeats of one event into its count", async () => {
    const store = new MemoryStore();
    const clock = new FakeClock(T0);
    const recorder = new StoreEventRecorder({ store, clock, expire: false });
    for (let i = 0; i < 3; i++) {
      recorder.record(cert("web"), "Normal", "Issuing", "Issuing certificate as Secret does not exist");
      await recorder.flush();
    }
    expect((await events(store)).map((e) => e.count)).toEqual([3]);
  });

  it("writes events of different objects concurrently and folds repeats of one event into its count", async () => {
    const store = new MemoryStore();
    const clock = new FakeClock(T0);
    const recorder = new StoreEventRecorder({ store, clock });
    for (let i = 0; i < 50; i++) recorder.record(cert(`c${i % 10}`), "Normal", "Issuing", "Issuing certificate as Secret does not exist");
    recorder.record(cert("c0"), "Warning", "Failed", "something else");
    await recorder.flush();
    const all = await events(store);
    expect(all).toHaveLength(11);
    expect(all.filter((e) => e.reason === "Issuing").map((e) => e.count)).toEqual(Array(10).fill(5));
    expect(all.find((e) => e.reason === "Failed")).toMatchObject({ type: "Warning", count: 1, involvedObject: { kind: "Certificate", name: "c0", uid: "uid-c0" } });
  });

  it.each([
    ["an event seen once", [0], 60, 0],
    ["an event repeated 50 minutes later", [0, 50], 60, 1],
    ["an event repeated 50 minutes later, once its own hour has passed", [0, 50], 111, 0],
  ])("keeps %s for the TTL after its last occurrence (kube-apiserver's --event-ttl)", async (_name, atMinutes, checkAtMinute, remaining) => {
    const store = new MemoryStore();
    const clock = new FakeClock(T0);
    const recorder = new StoreEventRecorder({ store, clock, ttlMs: 60 * MIN });
    await recorder.start();
    for (const m of atMinutes) {
      await clock.advanceTo(T0 + m * MIN, () => recorder.flush());
      recorder.record(cert("web"), "Normal", "Issuing", "The certificate has been successfully issued");
      await recorder.flush();
    }
    await clock.advanceTo(T0 + checkAtMinute * MIN, async () => {
      await recorder.sweep();
      await recorder.flush();
    });
    expect(await events(store)).toHaveLength(remaining);
    recorder.stop();
  });

  it("keeps at most maxEvents in the store, dropping the oldest first", async () => {
    const store = new MemoryStore();
    const clock = new FakeClock(T0);
    const recorder = new StoreEventRecorder({ store, clock, maxEvents: 5 });
    for (let i = 0; i < 12; i++) {
      await clock.advance(1000);
      recorder.record(cert(`c${String(i).padStart(2, "0")}`), "Normal", "Issuing", "Issuing certificate as Secret does not exist");
      await recorder.flush();
    }
    expect((await events(store)).map((e) => e.involvedObject.name)).toEqual(["c07", "c08", "c09", "c10", "c11"]);
    // A repeat of an event that was dropped is written again rather than lost.
    recorder.record(cert("c00"), "Normal", "Issuing", "Issuing certificate as Secret does not exist");
    await recorder.flush();
    expect((await events(store)).map((e) => `${e.involvedObject.name}:${e.count}`)).toEqual(["c00:1", "c08:1", "c09:1", "c10:1", "c11:1"]);
    recorder.stop();
  });

  it("deletes expired events left by an earlier run when it starts, and the others when their hour is up", async () => {
    const store = new MemoryStore();
    const at = (minutes: number) => new Date(T0 + minutes * MIN).toISOString();
    for (const [name, last] of [["old", -90], ["recent", -10]] as const) {
      await store.create<EventResource>(EVENTS, {
        apiVersion: "v1",
        kind: "Event",
        metadata: { name: `web.${name}`, namespace: "apps" },
        involvedObject: { apiVersion: "cert-manager.io/v1", kind: "Certificate", name: "web", namespace: "apps" },
        reason: "Issuing",
        message: name,
        type: "Normal",
        count: 1,
        firstTimestamp: at(last),
        lastTimestamp: at(last),
        source: { component: "meshsign-engine" },
      });
    }
    const clock = new FakeClock(T0);
    const recorder = new StoreEventRecorder({ store, clock });
    await recorder.start();
    expect((await events(store)).map((e) => e.message)).toEqual(["recent"]);
    await clock.advanceTo(T0 + 49 * MIN, () => recorder.flush());
    expect(await events(store)).toHaveLength(1);
    await clock.advanceTo(T0 + 51 * MIN, async () => {
      await new Promise((r) => setImmediate(r));
      await recorder.flush();
    });
    expect(await events(store)).toHaveLength(0);
    recorder.stop();
  });
});

describe("MemoryEventRecorder", () => {
  it("folds repeats into a count, keeps at most maxEvents (oldest occurrence first) and forgets events after the TTL", async () => {
    const clock = new FakeClock(T0);
    const recorder = new MemoryEventRecorder({ clock, maxEvents: 3, ttlMs: 60 * MIN });
    recorder.record(cert("a"), "Normal", "Issuing", "m");
    await clock.advance(MIN);
    recorder.record(cert("b"), "Normal", "Issuing", "m");
    await clock.advance(MIN);
    recorder.record(cert("a"), "Normal", "Issuing", "m");
    recorder.record(cert("c"), "Warning", "Failed", "x");
    recorder.record(cert("d"), "Normal", "Issuing", "m");
    expect(recorder.list("apps").map((e) => `${e.involvedObject.name}:${e.count}`)).toEqual(["a:2", "c:1", "d:1"]);
    expect(recorder.list("other")).toEqual([]);
    await clock.advance(59 * MIN);
    expect(recorder.list("apps")).toHaveLength(3);
    await clock.advance(2 * MIN);
    expect(recorder.list("apps")).toEqual([]);
  });

  it("lists each Event with all its fields, under the same name every time, and a repeat keeps the first time", async () => {
    const clock = new FakeClock(T0);
    const recorder = new MemoryEventRecorder({ clock, component: "c" });
    const request: KubeObject = { apiVersion: "cert-manager.io/v1", kind: "CertificateRequest", metadata: { name: "web-1", namespace: "apps" } };
    recorder.record(request, "Warning", "Failed", "bad\u0000 news");
    const [first] = recorder.list("apps");
    await clock.advance(MIN);
    recorder.record(request, "Warning", "Failed", "bad\u0000 news");
    const [again] = recorder.list("apps");
    expect(first?.metadata.name).toMatch(/^web-1\.[0-9a-f]{16}$/);
    expect(again).toEqual({
      apiVersion: "v1",
      kind: "Event",
      metadata: { name: first?.metadata.name, namespace: "apps", creationTimestamp: "2026-03-01T00:00:00.000Z" },
      involvedObject: { apiVersion: "cert-manager.io/v1", kind: "CertificateRequest", name: "web-1", namespace: "apps" },
      reason: "Failed",
      message: "bad news",
      type: "Warning",
      count: 2,
      firstTimestamp: "2026-03-01T00:00:00.000Z",
      lastTimestamp: "2026-03-01T00:01:00.000Z",
      source: { component: "c" },
    });
  });

  it("is where the engine's describe reads a Certificate's events, and nothing is written to the store", async () => {
    const clock = new FakeClock(T0);
    const store = new MemoryStore({ now: () => clock.now() });
    await store.create(CLUSTER_ISSUERS, clusterIssuer("selfsigned", { selfSigned: {} }));
    await store.create(CERTIFICATES, certificate("web", "apps", { privateKey: { algorithm: "ECDSA", size: 256 } }));
    const engine = new Engine({ store, clock, events: new MemoryEventRecorder({ clock }) });
    await engine.start();
    await engine.idle();
    const d = await engine.describe("apps", "web");
    expect(d.events.map((e) => `${e.object}:${e.reason}`)).toEqual(
      expect.arrayContaining(["Certificate/web:Issuing", "Certificate/web:Generated", "Certificate/web:Requested", "CertificateRequest/web-1:CertificateIssued"]),
    );
    expect(await store.list(EVENTS, {})).toEqual([]);
    await engine.stop();
  });
});

describe("both recorders correlate Events as client-go does", () => {
  const recorders = {
    memory: (clock: FakeClock) => {
      const r = new MemoryEventRecorder({ clock });
      return { record: r.record.bind(r), list: async () => r.list("apps") };
    },
    store: (clock: FakeClock) => {
      const store = new MemoryStore();
      const r = new StoreEventRecorder({ store, clock });
      return {
        record: r.record.bind(r),
        list: async () => {
          await r.flush();
          return store.list<EventResource>(EVENTS, { namespace: "apps" });
        },
      };
    },
  };

  for (const [kind, make] of Object.entries(recorders)) {
    it(`${kind}: folds an eleventh different message of one reason within 10 minutes into one combined Event`, async () => {
      const clock = new FakeClock(T0);
      const r = make(clock);
      for (let i = 0; i < 14; i++) r.record(cert("a"), "Warning", "Failed", `attempt ${i}: request id ${i * 7919}`);
      const all = await r.list();
      expect(all).toHaveLength(11);
      const combined = all.filter((e) => e.message.startsWith("(combined from similar events): "));
      expect(combined).toHaveLength(1);
      expect(combined[0]).toMatchObject({ count: 4, message: "(combined from similar events): attempt 13: request id 102947" });
      // Another reason of the same object is not folded in.
      r.record(cert("a"), "Normal", "Issuing", "attempt 14");
      expect((await r.list()).filter((e) => e.reason === "Issuing")).toHaveLength(1);
    });

    it(`${kind}: lets an object make 25 Events at once, then one every 5 minutes`, async () => {
      const clock = new FakeClock(T0);
      const r = make(clock);
      for (let i = 0; i < 40; i++) r.record(cert("b"), "Normal", "Issuing", "same message");
      r.record(cert("c"), "Normal", "Issuing", "another object has its own budget");
      expect((await r.list()).map((e) => [e.involvedObject.name, e.count])).toEqual([
        ["b", 25],
        ["c", 1],
      ]);
      await clock.advance(5 * MIN);
      for (let i = 0; i < 3; i++) r.record(cert("b"), "Normal", "Issuing", "same message");
      expect((await r.list()).find((e) => e.involvedObject.name === "b")?.count).toBe(26);
    });
  }
});
