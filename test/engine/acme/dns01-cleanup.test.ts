/**
 * DNS-01 clean-up on the engine, against the in-memory ACME server and an
 * in-memory DNS-01 provider registered under `rfc2136` for this file: the
 * wildcard and apex values of one Order are present together and both removed,
 * a valid value waits for its open sibling across a restart (never for a
 * deleted one), a failed Order
 * removes every value at once, and a failed clean-up is listed as a leftover
 * record and retried until it succeeds.
 */
import { Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { listLeftoverDns01Records } from "../../../src/acme/index.js";
import { registerDns01Provider } from "../../../src/acme/solvers/dns01/index.js";
import {
  CERTIFICATES,
  CHALLENGES,
  type Challenge,
  CLUSTER_ISSUERS,
  ORDERS,
  type Order,
} from "../../../src/api/types.js";
import type { Dns01Propagation } from "../../../src/engine/acme/index.js";
import { Engine } from "../../../src/engine/engine.js";
import type { Certificate, IssuerResource } from "../../../src/engine/lib/api.js";
import { MeshsignError } from "../../../src/errors/index.js";
import { createAcmeIssuerFactory } from "../../../src/issuers/acme/index.js";
import { createDefaultIssuerRegistry } from "../../../src/issuers/registry.js";
import { MemoryStore } from "../../../src/store/memory/index.js";
import type { Store } from "../../../src/store/types.js";
import { untilStore } from "../../acme/until-store.js";
import { FakeAcme } from "./fake-acme.js";

const NS = "istio-ingress";
const FQDN = "_acme-challenge.shop.example.com.";
const WATCHED = [CERTIFICATES, ORDERS, CHALLENGES, CLUSTER_ISSUERS];

/** TXT values by record name, the most seen at once, and switches for failures. */
class FakeDns {
  readonly txt = new Map<string, Set<string>>();
  readonly peak = new Map<string, number>();
  /** While set, clean-up fails with this message. */
  failCleanUp: string | undefined;
  /** Values whose propagation check says "not yet". */
  readonly notPropagated = new Set<string>();
  values(fqdn: string): string[] {
    return [...(this.txt.get(fqdn) ?? [])].sort();
  }
}
const dns = new FakeDns();
registerDns01Provider("rfc2136", async () => ({
  name: "rfc2136",
  async present(r) {
    const values = dns.txt.get(r.fqdn) ?? new Set<string>();
    values.add(r.value);
    dns.txt.set(r.fqdn, values);
    dns.peak.set(r.fqdn, Math.max(dns.peak.get(r.fqdn) ?? 0, values.size));
  },
  async cleanUp(r) {
    if (dns.failCleanUp !== undefined)
      throw new MeshsignError("ERR_DNS01_REFUSED", dns.failCleanUp, { retry: "terminal" });
    dns.txt.get(r.fqdn)?.delete(r.value);
  },
}));
const propagation: Dns01Propagation = {
  resolveChallengeRecord: async (dnsName) => ({ fqdn: `_acme-challenge.${dnsName}.`, zone: "example.com." }),
  checkPropagation: async (record) =>
    dns.notPropagated.has(record.value)
      ? { propagated: false, reason: `${record.fqdn} does not hold the value yet` }
      : { propagated: true },
};

const engines: Engine[] = [];
afterEach(async () => {
  for (const e of engines.splice(0)) await e.stop();
  dns.txt.clear();
  dns.peak.clear();
  dns.notPropagated.clear();
  dns.failCleanUp = undefined;
});

async function setup(acme: FakeAcme): Promise<Store> {
  const store = new MemoryStore();
  await store.create(CLUSTER_ISSUERS, {
    apiVersion: "cert-manager.io/v1",
    kind: "ClusterIssuer",
    metadata: { name: "fake" },
    spec: {
      acme: {
        server: acme.directoryUrl,
        email: "ops@example.com",
        privateKeySecretRef: { name: "fake-account" },
        solvers: [{ dns01: { rfc2136: { nameserver: "192.0.2.53" } } }],
      },
    },
  } satisfies IssuerResource);
  await store.create(CERTIFICATES, {
    apiVersion: "cert-manager.io/v1",
    kind: "Certificate",
    metadata: { name: "shop", namespace: NS },
    spec: {
      secretName: "shop-tls",
      dnsNames: ["*.shop.example.com", "shop.example.com"],
      issuerRef: { name: "fake", kind: "ClusterIssuer" },
    },
  } satisfies Certificate);
  return store;
}

function startEngine(store: Store, acme: FakeAcme): Engine {
  const registry = createDefaultIssuerRegistry().register(
    "acme",
    createAcmeIssuerFactory({ transport: acme.transport }),
  );
  const engine = new Engine({
    store,
    registry,
    metricsRegistry: new Registry(),
    // Failed clean-ups retried within a second, not 5 s doubling.
    acme: { dns01Propagation: propagation, dns01CleanUpBackoff: { minMs: 200, maxMs: 1_000 } },
  });
  engines.push(engine);
  return engine;
}

const until = <T>(store: Store, check: () => Promise<T | undefined>, what: string) =>
  untilStore(store, WATCHED, check, what, 60_000);
const ready = (store: Store) =>
  until(
    store,
    async () => {
      const c = await store.get<Certificate>(CERTIFICATES, NS, "shop");
      return c?.status?.conditions?.some((x) => x.type === "Ready" && x.status === "True") ? c : undefined;
    },
    "the Certificate to be Ready",
  );
const noChallenges = (store: Store) =>
  until(
    store,
    async () => ((await store.list(CHALLENGES)).length === 0 ? true : undefined),
    "the Challenges to be removed",
  );
const challenges = (store: Store) => store.list<Challenge>(CHALLENGES, { namespace: NS });

describe("DNS-01 wildcard and apex values of one Order", () => {
  it("are present at _acme-challenge together, then both removed", async () => {
    const acme = new FakeAcme();
    const store = await setup(acme);
    await startEngine(store, acme).start();
    await ready(store);
    await noChallenges(store);
    expect(dns.peak.get(FQDN)).toBe(2);
    expect(dns.values(FQDN)).toEqual([]);
  });

  it("keep the valid value while its sibling is open, also across a restart, and remove both once it settles", async () => {
    const acme = new FakeAcme();
    const store = await setup(acme);
    // The apex's value does not propagate: the wildcard is validated first and must wait.
    const held = await (async () => {
      const engine = startEngine(store, acme);
      const w = store.watch<Challenge>(CHALLENGES, (e) => {
        if (e.type === "ADDED" && e.object.spec.wildcard !== true) dns.notPropagated.add(e.object.spec.key);
      });
      await engine.start();
      const found = await until(
        store,
        async () => {
          const all = await challenges(store);
          const wild = all.find((c) => c.spec.wildcard === true);
          const apex = all.find((c) => c.spec.wildcard !== true);
          return wild?.status?.state === "valid" &&
            wild.status.presented === true &&
            /propagation/.test(apex?.status?.reason ?? "")
            ? wild
            : undefined;
        },
        "the wildcard to be valid and the apex waiting for propagation",
      );
      w.stop();
      await engine.stop();
      engines.splice(engines.indexOf(engine), 1);
      return found;
    })();
    expect(held.status?.cleanUpSince).toEqual(expect.any(String));
    expect(held.status?.dns01Fqdn).toBe(FQDN);
    expect(dns.values(FQDN)).toHaveLength(2);

    // A new process reads the same from the store, and finishes once the apex propagates.
    const second = startEngine(store, acme);
    await second.start();
    await second.idle();
    expect(dns.values(FQDN)).toHaveLength(2);
    dns.notPropagated.clear();
    await ready(store);
    await noChallenges(store);
    expect(dns.values(FQDN)).toEqual([]);
    expect(acme.counts.get("newOrder")).toBe(1);
  });

  it("do not hold the valid value once its open sibling is deleted", async () => {
    const acme = new FakeAcme();
    const store = await setup(acme);
    const w = store.watch<Challenge>(CHALLENGES, (e) => {
      if (e.type === "ADDED" && e.object.spec.wildcard !== true) dns.notPropagated.add(e.object.spec.key);
    });
    await startEngine(store, acme).start();
    const [wild, apex] = await until(
      store,
      async () => {
        const all = await challenges(store);
        const wild = all.find((c) => c.spec.wildcard === true);
        const apex = all.find((c) => c.spec.wildcard !== true);
        return wild?.status?.state === "valid" &&
          wild.status.presented === true &&
          apex?.status?.presented === true
          ? [wild, apex]
          : undefined;
      },
      "the wildcard to be valid and kept for the apex",
    );
    w.stop();
    await store.delete(CHALLENGES, NS, apex?.metadata.name ?? "");
    await until(
      store,
      async () => (dns.values(FQDN).includes(wild?.spec.key ?? "") ? undefined : true),
      "the wildcard's value to be removed once its sibling is deleted",
    );
  });

  it("are removed at once when the Order fails", async () => {
    const acme = new FakeAcme();
    acme.refuse.add("*.shop.example.com");
    const store = await setup(acme);
    await startEngine(store, acme).start();
    await until(
      store,
      async () => {
        const [o] = await store.list<Order>(ORDERS, { namespace: NS });
        return o?.status?.state === "invalid" ? o : undefined;
      },
      "the Order to be invalid",
    );
    await noChallenges(store);
    expect(dns.values(FQDN)).toEqual([]);
  });

  it("whose clean-up keeps failing after the Order failed do not keep a later Order's Challenge for the name from starting", async () => {
    const acme = new FakeAcme();
    acme.refuse.add("*.shop.example.com");
    const store = await setup(acme);
    dns.failCleanUp = "rfc2136: removing TXT: the server refused the update: NOTAUTH";
    // The apex's value does not propagate: it is presented and open when the wildcard fails the Order.
    const w = store.watch<Challenge>(CHALLENGES, (e) => {
      if (e.type === "ADDED" && e.object.spec.wildcard !== true) dns.notPropagated.add(e.object.spec.key);
    });
    const engine = startEngine(store, acme);
    await engine.start();
    const left = await until(
      store,
      async () => {
        const l = await listLeftoverDns01Records(store);
        return l.length === 2 && l.every((r) => r.deleting && r.lastError !== undefined) ? l : undefined;
      },
      "both values of the failed Order to be left behind, their Challenges deleted",
    );
    expect(left.find((r) => r.dnsName === "shop.example.com")?.state).toBe("pending");
    w.stop();
    // The CA validates now and the new values propagate; the old values still cannot be removed.
    acme.refuse.clear();
    dns.notPropagated.clear();
    await engine.renew(NS, "shop");
    await untilStore(
      store,
      WATCHED,
      async () => {
        const c = await store.get<Certificate>(CERTIFICATES, NS, "shop");
        return c?.status?.conditions?.some((x) => x.type === "Ready" && x.status === "True") ? c : undefined;
      },
      "the renewal to be Ready while the old values' clean-up fails",
      20_000,
    );
    expect(acme.counts.get("newOrder")).toBe(2);
  });

  it("are listed as leftover records while their clean-up fails, and retried until it succeeds", async () => {
    const acme = new FakeAcme();
    const store = await setup(acme);
    dns.failCleanUp = "rfc2136: removing TXT: the server refused the update: NOTAUTH";
    await startEngine(store, acme).start();
    await ready(store);
    const leftovers = await until(
      store,
      async () => {
        const l = await listLeftoverDns01Records(store);
        return l.length === 2 && l.every((r) => r.deleting && r.lastError !== undefined) ? l : undefined;
      },
      "both values to be listed as left behind, their Challenges deleted",
    );
    expect(leftovers.map((r) => [r.dnsName, r.fqdn, r.provider, r.lastError]).sort()).toEqual([
      ["*.shop.example.com", FQDN, "dns01.rfc2136", dns.failCleanUp],
      ["shop.example.com", FQDN, "dns01.rfc2136", dns.failCleanUp],
    ]);
    expect(leftovers.every((r) => r.since !== undefined)).toBe(true);
    expect(dns.values(FQDN)).toHaveLength(2);
    dns.failCleanUp = undefined;
    await noChallenges(store);
    expect(await listLeftoverDns01Records(store)).toEqual([]);
    expect(dns.values(FQDN)).toEqual([]);
  });
});
