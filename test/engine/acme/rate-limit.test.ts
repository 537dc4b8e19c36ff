/**
 * An ACME CA that answers a new order with `rateLimited` and a Retry-After
 * is not asked again before that time: not by the same Order at its
 * deadline (which used to error it, so that the Certificate ordered again
 * after its generic back-off, an hour, while the CA had said three), and not
 * after a restart. The same for a Challenge whose authorization or accept the
 * CA refuses so. The Order and Challenge controllers alone, on a frozen clock.
 */
import { describe, expect, it } from "vitest";
import { CHALLENGES, type Challenge, ORDERS, type Order } from "../../../src/api/types.js";
import { ChallengeController, DEFAULT_ORDER_TIMEOUT_MS, OrderController } from "../../../src/engine/acme/index.js";
import { noopEventRecorder } from "../../../src/engine/events.js";
import { createAcmeIssuerFactory } from "../../../src/issuers/acme/index.js";
import { IssuerRegistry, issuerKey } from "../../../src/issuers/registry.js";
import { buildCsr, generateKeySync } from "../../../src/pki/index.js";
import { MemoryStore } from "../../../src/store/memory/index.js";
import { FakeClock } from "../lib/fake-clock.js";
import { FakeAcme } from "./fake-acme.js";

const NS = "istio-ingress";
const HOUR = 3_600_000;
/** When the Order was created (the store stamps it), and the frozen clock's start. */
let T0 = 0;

async function setup(acme: FakeAcme) {
  const store = new MemoryStore();
  const registry = new IssuerRegistry();
  const spec = {
    server: acme.directoryUrl,
    privateKeySecretRef: { name: "fake-account" },
    solvers: [{ waitInsteadOfSelfCheck: "0s", http01: { ingress: {} } }],
  };
  const secrets = new Map<string, Record<string, string>>();
  const built = await createAcmeIssuerFactory({ transport: acme.transport })(spec, {
    secretNamespace: "meshsign-system",
    readSecret: async (name) => secrets.get(name),
    createSecret: async (name, data) => {
      secrets.set(name, { ...data });
    },
  });
  expect(built.issuer.status().ready).toBe(true);
  registry.set(issuerKey("ClusterIssuer", undefined, "fake"), built.issuer);
  const csr = buildCsr(generateKeySync({ type: "ec", curve: "P-256" }), { dnsNames: ["shop.example.com"] });
  await store.create<Order>(ORDERS, {
    apiVersion: "acme.cert-manager.io/v1",
    kind: "Order",
    metadata: { name: "shop-1-123", namespace: NS },
    spec: {
      request: Buffer.from(csr).toString("base64"),
      issuerRef: { name: "fake", kind: "ClusterIssuer", group: "cert-manager.io" },
      dnsNames: ["shop.example.com"],
    },
  });
  T0 = Date.parse((await store.get<Order>(ORDERS, NS, "shop-1-123"))?.metadata.creationTimestamp ?? "");
  const clock = new FakeClock(T0);
  const controller = () => new OrderController({ store, clock, registry, events: noopEventRecorder });
  const challenges = () => new ChallengeController({ store, clock, registry, events: noopEventRecorder });
  const order = async () => (await store.get<Order>(ORDERS, NS, "shop-1-123")) as Order;
  return { store, clock, controller, challenges, order };
}

describe("an ACME CA's rateLimited Retry-After on a new order", () => {
  it("is waited out by the Order past its deadline, and the CA is asked again at that time, not before", async () => {
    const acme = new FakeAcme();
    // Three hours: past the Order's one-hour deadline.
    acme.rateLimitOrders = String((3 * HOUR) / 1000);
    const { clock, controller, order } = await setup(acme);
    const orders = controller();
    let wake = await orders.reconcile(NS, "shop-1-123");
    expect(acme.counts.get("newOrder")).toBe(1);
    expect((await order()).status?.reason).toMatch(/rateLimited: too many certificates/);
    expect(wake).toBeGreaterThanOrEqual(T0 + 3 * HOUR);
    // Woken early (a watch event, the deadline), the Order neither errors nor asks the CA.
    for (const at of [T0 + 30 * 60_000, T0 + DEFAULT_ORDER_TIMEOUT_MS, T0 + 2 * HOUR]) {
      clock.jumpTo(at);
      wake = await orders.reconcile(NS, "shop-1-123");
      expect((await order()).status?.state).toBeUndefined();
      expect(acme.counts.get("newOrder")).toBe(1);
      expect(wake).toBeGreaterThanOrEqual(T0 + 3 * HOUR);
    }
    // At the CA's time it is asked again; the limit has passed, so the order is placed.
    acme.rateLimitOrders = undefined;
    clock.jumpTo(T0 + 3 * HOUR);
    await orders.reconcile(NS, "shop-1-123");
    expect(acme.counts.get("newOrder")).toBe(2);
    expect((await order()).status?.url).toMatch(/^https:\/\/acme\.test\/order\//);
  });

  it("is still waited out after a restart (another controller, nothing in memory)", async () => {
    const acme = new FakeAcme();
    acme.rateLimitOrders = String((3 * HOUR) / 1000);
    const { clock, controller, order } = await setup(acme);
    await controller().reconcile(NS, "shop-1-123");
    expect(acme.counts.get("newOrder")).toBe(1);
    clock.jumpTo(T0 + 10 * 60_000);
    const wake = await controller().reconcile(NS, "shop-1-123");
    expect(acme.counts.get("newOrder")).toBe(1);
    expect(wake).toBeGreaterThanOrEqual(T0 + 3 * HOUR);
    expect((await order()).status?.reason).toMatch(/rateLimited/);
  });

  it("does not hold an Order past its deadline for a CA that named no time (it errors at the deadline as before)", async () => {
    const acme = new FakeAcme();
    acme.rateLimitOrders = "";
    const { clock, controller, order } = await setup(acme);
    const orders = controller();
    let wake = await orders.reconcile(NS, "shop-1-123");
    for (let i = 0; i < 50 && wake !== undefined && (await order()).status?.state !== "errored"; i++) {
      clock.jumpTo(wake);
      wake = await orders.reconcile(NS, "shop-1-123");
    }
    expect((await order()).status?.state).toBe("errored");
    expect(clock.now()).toBe(T0 + DEFAULT_ORDER_TIMEOUT_MS);
  });

  it("keeps backing off when the CA asks for a retry after a second, every time", async () => {
    const acme = new FakeAcme();
    acme.rateLimitOrders = "1";
    const { clock, controller } = await setup(acme);
    const orders = controller();
    let wake = await orders.reconcile(NS, "shop-1-123");
    // Ten minutes of a CA saying "Retry-After: 1": the Order asks again with a growing back-off
    // (5 s doubling to 5 min: 8 passes), not every second (600). The ACME client's own retries of
    // each request are not counted here.
    let passes = 1;
    while (wake !== undefined && wake < T0 + 10 * 60_000 && passes <= 20) {
      clock.jumpTo(wake);
      wake = await orders.reconcile(NS, "shop-1-123");
      passes++;
    }
    expect(passes).toBeLessThanOrEqual(10);
  }, 60_000);
});

describe("an ACME CA's rateLimited Retry-After on a Challenge", () => {
  it("is kept on the Challenge, so after a restart the CA is not asked again before it", async () => {
    const acme = new FakeAcme();
    const { store, clock, controller, challenges } = await setup(acme);
    await controller().reconcile(NS, "shop-1-123");
    const [made] = await store.list<Challenge>(CHALLENGES, { namespace: NS });
    if (made === undefined) throw new Error("the Order made no Challenge");
    const name = made.metadata.name ?? "";
    // Started, as the scheduler starts it.
    await store.updateStatus<Challenge>(CHALLENGES, { ...made, status: { ...made.status, processing: true } });
    acme.rateLimitChallenges = String((3 * HOUR) / 1000);
    const askedBefore = () => (acme.counts.get("accept") ?? 0) + (acme.counts.get("authorization") ?? 0);

    let wake = await challenges().reconcile(NS, name);
    const asked = askedBefore();
    expect(asked).toBeGreaterThan(0);
    expect(wake).toBeGreaterThanOrEqual(T0 + 3 * HOUR);
    const held = await store.get<Challenge>(CHALLENGES, NS, name);
    expect(Date.parse(held?.metadata.annotations?.["acme.meshsign.io/retry-after"] ?? "")).toBe(wake);
    expect(held?.status?.reason).toMatch(/rateLimited: too many failed authorizations recently \(the ACME server asks to retry after /);

    // A restart ten minutes later: another controller, nothing in memory.
    clock.jumpTo(T0 + 10 * 60_000);
    wake = await challenges().reconcile(NS, name);
    expect(askedBefore()).toBe(asked);
    expect(wake).toBeGreaterThanOrEqual(T0 + 3 * HOUR);

    // At the CA's time it is asked again.
    acme.rateLimitChallenges = undefined;
    clock.jumpTo(T0 + 3 * HOUR);
    await challenges().reconcile(NS, name);
    expect(askedBefore()).toBeGreaterThan(asked);
  });

  it("is held no shorter than the back-off when the CA asks for a retry after a second", async () => {
    const acme = new FakeAcme();
    const { store, controller, challenges } = await setup(acme);
    await controller().reconcile(NS, "shop-1-123");
    const [made] = await store.list<Challenge>(CHALLENGES, { namespace: NS });
    if (made === undefined) throw new Error("the Order made no Challenge");
    await store.updateStatus<Challenge>(CHALLENGES, { ...made, status: { ...made.status, processing: true } });
    acme.rateLimitChallenges = "1";
    const wake = await challenges().reconcile(NS, made.metadata.name ?? "");
    // The first transient failure backs off 5 s (whole seconds up), not the CA's one second.
    expect(wake).toBeGreaterThanOrEqual(T0 + 5_000);
    const held = await store.get<Challenge>(CHALLENGES, NS, made.metadata.name ?? "");
    expect(Date.parse(held?.metadata.annotations?.["acme.meshsign.io/retry-after"] ?? "")).toBe(wake);
  });
});
