/**
 * The ACME Order and Challenge state machines on the engine, against an
 * in-memory ACME server (fake-acme.ts): issuance, an invalid authorization,
 * the CA going down mid-order, an Order past its deadline, a renewal whose
 * `replaces` the CA refuses, and a deleted Challenge cleaned up.
 */
import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import {
  CERTIFICATES,
  CHALLENGES,
  type Challenge,
  CLUSTER_ISSUERS,
  EVENTS,
  INGRESSES,
  ORDERS,
  type Order,
  SECRETS,
} from "../../../src/api/types.js";
import type { AcmeOptions } from "../../../src/engine/acme/index.js";
import { computeName } from "../../../src/engine/acme/lib/names.js";
import { Engine } from "../../../src/engine/engine.js";
import { watchHttp01Tokens } from "../../../src/server/acme-solver.js";
import type { Certificate, IssuerResource, Secret } from "../../../src/engine/lib/api.js";
import { MeshsignError } from "../../../src/errors/index.js";
import { createAcmeIssuerFactory } from "../../../src/issuers/acme/index.js";
import { createDefaultIssuerRegistry } from "../../../src/issuers/registry.js";
import { MemoryStore } from "../../../src/store/memory/index.js";
import type { KubeObject, ResourceType, Store } from "../../../src/store/types.js";
import { untilStore } from "../../acme/until-store.js";
import { FakeAcme } from "./fake-acme.js";

const engines: Engine[] = [];
afterEach(async () => {
  for (const e of engines.splice(0)) await e.stop();
});

const NS = "istio-ingress";
const WATCHED: ResourceType[] = [CERTIFICATES, ORDERS, CHALLENGES, CLUSTER_ISSUERS];
const cond = (
  o:
    | { status?: { conditions?: { type: string; status: string; reason?: string; message?: string }[] } }
    | undefined,
  type: string,
) => o?.status?.conditions?.find((c) => c.type === type);

async function setup(
  acme: FakeAcme,
  solver: Record<string, unknown> = { waitInsteadOfSelfCheck: "0s", http01: { ingress: {} } },
  acmeOptions: AcmeOptions = {},
  /** Wraps the store the engine uses (a store that refuses some writes). */
  wrap: (s: Store) => Store = (s) => s,
) {
  const store = wrap(new MemoryStore());
  await store.create(CLUSTER_ISSUERS, {
    apiVersion: "cert-manager.io/v1",
    kind: "ClusterIssuer",
    metadata: { name: "fake" },
    spec: {
      acme: {
        server: acme.directoryUrl,
        email: "ops@example.com",
        privateKeySecretRef: { name: "fake-account" },
        solvers: [solver],
      },
    },
  } satisfies IssuerResource);
  await store.create(CERTIFICATES, {
    apiVersion: "cert-manager.io/v1",
    kind: "Certificate",
    metadata: { name: "shop", namespace: NS },
    spec: {
      secretName: "shop-tls",
      dnsNames: ["shop.example.com", "www.shop.example.com"],
      issuerRef: { name: "fake", kind: "ClusterIssuer" },
    },
  } satisfies Certificate);
  const registry = createDefaultIssuerRegistry().register(
    "acme",
    createAcmeIssuerFactory({ transport: acme.transport }),
  );
  const metrics = new Registry();
  const engine = new Engine({ store, registry, metricsRegistry: metrics, acme: acmeOptions });
  engines.push(engine);
  return { store, engine, metrics };
}

/** The engine's `meshsign_acme_<kind>` gauge by state, as scraped. */
async function acmeGauge(metrics: Registry, kind: "orders" | "challenges"): Promise<Record<string, number>> {
  const m = (await metrics.getMetricsAsJSON()).find((x) => x.name === `meshsign_acme_${kind}`);
  return Object.fromEntries((m?.values ?? []).map((v) => [String(v.labels.state), v.value]));
}

const certOf = (store: Store) => store.get<Certificate>(CERTIFICATES, NS, "shop");
const until = <T>(store: Store, check: () => Promise<T | undefined>, what: string) =>
  untilStore(store, WATCHED, check, what, 60_000);

/** A Certificate issued once through a CA offering ARI; `readyAt(n)` waits for revision n to be Ready. */
async function issuedWithAri(configure: (acme: FakeAcme) => void = () => {}) {
  const acme = new FakeAcme();
  acme.offerAri = true;
  configure(acme);
  const { store, engine } = await setup(acme);
  await engine.start();
  const readyAt = (revision: number) => async () => {
    const c = await certOf(store);
    return cond(c, "Ready")?.status === "True" && c?.status?.revision === revision ? c : undefined;
  };
  await until(store, readyAt(1), "the first issuance");
  return { acme, store, engine, readyAt };
}

/**
 * A Certificate issued once through a CA offering ARI, then renewed; the CA stops answering once
 * the renewal's order is placed (its URL written), so that order stays in flight.
 */
async function renewalInFlight() {
  const { acme, store, engine, readyAt } = await issuedWithAri();
  const w = store.watch<Order>(ORDERS, (e) => {
    if (e.object.spec.replaces !== undefined && e.object.status?.url !== undefined) acme.down = true;
  });
  await engine.renew(NS, "shop");
  await until(store, async () => (acme.down ? true : undefined), "the renewal's order to be placed");
  w.stop();
  return { acme, store, engine, readyAt };
}

describe("ACME Orders and Challenges on the engine (in-memory ACME server)", () => {
  it("issues through one Order and a Challenge per name, then removes the Challenges (their finalizer released)", async () => {
    const acme = new FakeAcme();
    const { store, engine, metrics } = await setup(acme);
    const seen: Challenge[] = [];
    const w = store.watch<Challenge>(CHALLENGES, (e) => {
      if (e.type === "ADDED") seen.push(e.object);
    });
    await engine.start();
    await until(
      store,
      async () => (cond(await certOf(store), "Ready")?.status === "True" ? true : undefined),
      "Ready",
    );
    w.stop();
    const secret = await store.get<Secret>(SECRETS, NS, "shop-tls");
    expect(Buffer.from(secret?.data?.["tls.crt"] ?? "", "base64").toString()).toContain("BEGIN CERTIFICATE");
    expect(acme.counts.get("newOrder")).toBe(1);
    expect(acme.counts.get("finalize")).toBe(1);
    // The Order reads each authorization once; a Challenge's first pass accepts without reading it
    // again and polls it at most once after accepting (this CA validates at once; the Order may be
    // done before the second poll).
    expect(acme.counts.get("authorization")).toBeLessThanOrEqual(4);
    const orders = await store.list<Order>(ORDERS, { namespace: NS });
    expect(orders).toHaveLength(1);
    expect(orders[0]?.metadata.ownerReferences?.[0]).toMatchObject({
      kind: "CertificateRequest",
      controller: true,
    });
    expect(orders[0]?.status).toMatchObject({ state: "valid", url: "https://acme.test/order/1" });
    expect(seen.map((c) => [c.spec.dnsName, c.spec.type, c.metadata.finalizers])).toEqual(
      expect.arrayContaining([
        ["shop.example.com", "HTTP-01", ["finalizer.acme.cert-manager.io"]],
        ["www.shop.example.com", "HTTP-01", ["finalizer.acme.cert-manager.io"]],
      ]),
    );
    await until(
      store,
      async () => ((await store.list(CHALLENGES)).length === 0 ? true : undefined),
      "the Challenges to be gone",
    );
    expect(await acmeGauge(metrics, "orders")).toEqual({ new: 0, pending: 0, ready: 0, processing: 0, valid: 1, invalid: 0, expired: 0, errored: 0 });
    expect(Object.values(await acmeGauge(metrics, "challenges")).every((n) => n === 0)).toBe(true);
    const issuer = await store.get<IssuerResource>(CLUSTER_ISSUERS, undefined, "fake");
    expect(issuer?.status?.acme).toMatchObject({
      uri: "https://acme.test/account/1",
      lastRegisteredEmail: "ops@example.com",
    });
  });

  it("reads an authorization once the CA has fetched the HTTP-01 answer from meshsign's listener, not before", async () => {
    const acme = new FakeAcme();
    const { store, engine } = await setup(acme, undefined, { http01ServedSignals: true });
    // The VA fetches 1.2 s after each accept: later than the fixed first look (0.5 s) would come.
    // What `meshsign serve` wires: the solver listener's lookup from the store, which tells the engine what it served.
    const tokens = watchHttp01Tokens(store, (token) => engine.noteHttp01Served(token));
    acme.va = { delayMs: 1_200, fetch: tokens.lookup };
    await engine.start();
    await until(store, async () => (cond(await certOf(store), "Ready")?.status === "True" ? true : undefined), "Ready");
    tokens.stop();
    // Two names: the Order reads each authorization once to make its Challenge, and each
    // Challenge reads its own once, after the VA's fetch; a look before it found it pending.
    expect(acme.counts.get("authorization")).toBe(4);
    expect(acme.counts.get("accept")).toBe(2);
  });

  it("says on the Challenge that the HTTP-01 self-check got no complete answer from a server that stalls, and accepts nothing at the CA", async () => {
    const responses: ServerResponse[] = [];
    let requests = 0;
    const staller = createServer((_req, res) => {
      requests++;
      res.writeHead(200, { "content-length": "100" });
      res.write("evaGx");
      responses.push(res);
    });
    await new Promise<void>((resolve) => staller.listen(0, "127.0.0.1", resolve));
    try {
      const acme = new FakeAcme();
      const { store, engine } = await setup(
        acme,
        { http01: { ingress: {} } },
        { http01SelfCheck: { port: (staller.address() as AddressInfo).port, connectAddress: "127.0.0.1", timeoutMs: 200 } },
      );
      await engine.start();
      const reasons = await until(
        store,
        async () => {
          const rs = (await store.list<Challenge>(CHALLENGES)).map((c) => c.status?.reason ?? "");
          return rs.length === 2 && rs.every((r) => r.includes("no complete answer")) ? rs.sort() : undefined;
        },
        "both Challenges to report the self-check failure",
      );
      expect(reasons).toEqual([
        "Waiting for HTTP-01 challenge propagation: self check of http-01 for shop.example.com failed: no complete answer within 200 ms (connect, headers and body)",
        "Waiting for HTTP-01 challenge propagation: self check of http-01 for www.shop.example.com failed: no complete answer within 200 ms (connect, headers and body)",
      ]);
      expect(requests).toBeGreaterThanOrEqual(2);
      // Nothing was accepted at the CA while the self-check failed.
      expect(acme.counts.get("accept") ?? 0).toBe(0);
    } finally {
      for (const res of responses) res.destroy();
      staller.closeAllConnections();
      await new Promise((resolve) => staller.close(resolve));
    }
  });

  it("reads the order and finalizes again when the CA answers orderNotReady to a finalize sent because every Challenge is valid", async () => {
    const acme = new FakeAcme();
    acme.readyOnlyOnceRead = true;
    const { store, engine } = await setup(acme);
    // One name: the Order is woken once, by its only Challenge going valid, and finalizes on its word.
    const cert = (await certOf(store)) as Certificate;
    await store.update(CERTIFICATES, { ...cert, spec: { ...cert.spec, dnsNames: ["shop.example.com"] } });
    await engine.start();
    await until(
      store,
      async () => (cond(await certOf(store), "Ready")?.status === "True" ? true : undefined),
      "Ready",
    );
    // Refused on the Challenge's word, then finalized again after reading the order.
    expect(acme.counts.get("finalize")).toBe(2);
    expect(acme.counts.get("order")).toBeGreaterThanOrEqual(1);
    const orders = await store.list<Order>(ORDERS, { namespace: NS });
    expect(orders.map((o) => o.status?.state)).toEqual(["valid"]);
  });

  it("finishes a Challenge whose authorization was deactivated after the Order read it, from the authorization, when the CA refuses the accept", async () => {
    const acme = new FakeAcme();
    acme.deactivateAfterRead.add("www.shop.example.com");
    const { store, engine } = await setup(acme);
    await engine.start();
    const order = await until(
      store,
      async () => {
        const o = (await store.list<Order>(ORDERS, { namespace: NS }))[0];
        return o?.status?.state === "invalid" ? o : undefined;
      },
      "the Order to fail",
    );
    // Whichever looks first says it: the Challenge (with its type) or the Order, which re-reads
    // its authorizations once the other name's Challenge is valid (at once, on this CA).
    expect(order.status?.reason).toMatch(
      /ACME server did not validate www\.shop\.example\.com( \(http-01\))?: the authorization is deactivated/,
    );
  });

  it("fails the Order on an invalid authorization, puts the CA's detail on the Certificate, and does not order again by itself", async () => {
    const acme = new FakeAcme();
    acme.refuse.add("www.shop.example.com");
    const { store, engine, metrics } = await setup(acme);
    expect(await acmeGauge(metrics, "orders")).toMatchObject({ new: 0, invalid: 0 });
    await engine.start();
    const cert = await until(
      store,
      async () => {
        const c = await certOf(store);
        return cond(c, "Issuing")?.status === "False" ? c : undefined;
      },
      "the failure",
    );
    expect(cond(cert, "Issuing")?.message).toMatch(
      /ACME server did not validate www\.shop\.example\.com \(http-01\): connection: dial tcp 192\.0\.2\.1:80: connection refused/,
    );
    expect(cert.status?.failedIssuanceAttempts).toBe(1);
    await engine.idle();
    expect(acme.counts.get("newOrder")).toBe(1);
    expect((await store.list<Order>(ORDERS, { namespace: NS })).map((o) => o.status?.state)).toEqual([
      "invalid",
    ]);
    expect(await acmeGauge(metrics, "orders")).toMatchObject({ pending: 0, invalid: 1 });
    // A failed Order's Challenges are removed, as cert-manager removes them.
    await until(store, async () => ((await store.list(CHALLENGES)).length === 0 ? true : undefined), "the Challenges to be gone");
    expect(Object.values(await acmeGauge(metrics, "challenges")).every((n) => n === 0)).toBe(true);
  });

  it.each([
    {
      failure: "its Order failed (an invalid authorization)",
      reason: "OrderFailed",
      set: async (acme: FakeAcme) => {
        acme.refuse.add("www.shop.example.com");
      },
      message: /order is in "invalid" state: ACME server did not validate www\.shop\.example\.com/,
    },
    {
      failure: "its common name is not among its DNS names",
      reason: "InvalidOrder",
      set: async (_acme: FakeAcme, store: Store) => {
        const cert = (await certOf(store)) as Certificate;
        await store.update(CERTIFICATES, { ...cert, spec: { ...cert.spec, commonName: "cn.example.com" } });
      },
      message: /commonName "cn\.example\.com" is not one of its dnsNames or ipAddresses/,
    },
  ])("fails the request with cert-manager's Warning reason $reason when $failure", async (c) => {
    const acme = new FakeAcme();
    const { store, engine } = await setup(acme);
    await c.set(acme, store);
    await engine.start();
    await until(
      store,
      async () => (cond(await certOf(store), "Issuing")?.status === "False" ? true : undefined),
      "the failure",
    );
    const events = await store.list<
      KubeObject & { reason?: string; message?: string; involvedObject?: { kind?: string } }
    >(EVENTS, { namespace: NS });
    const warning = events.find(
      (e) => e.involvedObject?.kind === "CertificateRequest" && e.reason === c.reason,
    );
    expect(warning?.message).toMatch(c.message);
  });

  it.each([
    {
      what: "a certificate whose names differ from the order",
      set: (acme: FakeAcme) => {
        acme.extraName = "extra.example.com";
      },
      message: /its names differ from the order.*extra\.example\.com/,
    },
    {
      what: "a chain whose next certificate did not issue the leaf",
      set: (acme: FakeAcme) => {
        acme.chainTail = new FakeAcme().rootPem;
      },
      message: /chain does not link: certificate 2 \(CN=Fake ACME Root\) did not issue certificate 1/,
    },
    {
      what: "a certificate whose extended key usage allows client auth only (a Gateway cannot serve TLS with it)",
      set: (acme: FakeAcme) => {
        acme.leafUsages = { keyUsage: ["digitalSignature"], extKeyUsage: ["clientAuth"] };
      },
      message: /unusable: it cannot serve TLS: its extended key usages \[clientAuth\] do not allow serverAuth/,
    },
    {
      what: "a certificate whose key usage lacks digitalSignature",
      set: (acme: FakeAcme) => {
        acme.leafUsages = { keyUsage: ["keyAgreement"], extKeyUsage: ["serverAuth"] };
      },
      message: /unusable: it cannot serve TLS: its key usages \[keyAgreement\] do not allow digitalSignature/,
    },
  ])("fails the request, without ordering again, when the CA issues $what", async ({ set, message }) => {
    const acme = new FakeAcme();
    set(acme);
    const { store, engine } = await setup(acme);
    await engine.start();
    // Either the failure on the Certificate or the CA asked for a third order for the same request.
    const cert = await until(
      store,
      async () => {
        const c = await certOf(store);
        return cond(c, "Issuing")?.status === "False" || (acme.counts.get("newOrder") ?? 0) >= 3
          ? c
          : undefined;
      },
      "the failure or the orders placed again",
    );
    expect(acme.counts.get("newOrder")).toBe(1);
    expect(cond(cert, "Issuing")?.message).toMatch(message);
    await engine.idle();
    expect(acme.counts.get("newOrder")).toBe(1);
  });

  it("waits for a certificate valid from a moment ahead (the CA's clock is ahead) instead of ordering again", async () => {
    const acme = new FakeAcme();
    acme.notBeforeAheadMs = 1_500;
    const { store, engine } = await setup(acme);
    await engine.start();
    await until(
      store,
      async () => (cond(await certOf(store), "Ready")?.status === "True" ? true : undefined),
      "Ready",
    );
    expect(acme.counts.get("newOrder")).toBe(1);
    expect((await store.list<Order>(ORDERS, { namespace: NS })).map((o) => o.status?.state)).toEqual([
      "valid",
    ]);
  });

  it("asks the CA for the Certificate's duration (notAfter) when the issuer enables the duration feature", async () => {
    const acme = new FakeAcme();
    const { store, engine } = await setup(acme);
    const issuer = (await store.get<IssuerResource>(CLUSTER_ISSUERS, undefined, "fake")) as IssuerResource;
    await store.update(CLUSTER_ISSUERS, {
      ...issuer,
      spec: { acme: { ...issuer.spec.acme, enableDurationFeature: true } },
    } as IssuerResource);
    const cert = (await certOf(store)) as Certificate;
    await store.update(CERTIFICATES, { ...cert, spec: { ...cert.spec, duration: "48h" } });
    const before = Date.now();
    await engine.start();
    await until(
      store,
      async () => (cond(await certOf(store), "Ready")?.status === "True" ? true : undefined),
      "Ready",
    );
    const [order] = await store.list<Order>(ORDERS, { namespace: NS });
    expect(order?.spec.duration).toBe("48h0m0s");
    // RFC 8555 §7.4 notAfter, an RFC 3339 date: the time of the order plus the duration, as cert-manager sends it.
    const notAfter = acme.orderNotAfter[0] ?? "";
    expect(notAfter).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const at = Date.parse(notAfter) - 48 * 3_600_000;
    expect(at).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    expect(at).toBeLessThanOrEqual(Date.now());
  });

  it("keeps the Order and says the CA is unreachable while it is down, then finishes the same order when it is back", async () => {
    const acme = new FakeAcme();
    const { store, engine } = await setup(acme, { waitInsteadOfSelfCheck: "0s", http01: { ingress: {} } });
    // The CA goes down right after the order is placed.
    const w = store.watch<Order>(ORDERS, (e) => {
      if (e.object.status?.url !== undefined && acme.counts.get("accept") === undefined) acme.down = true;
    });
    await engine.start();
    const waiting = await until(
      store,
      async () => {
        const c = await certOf(store);
        return /unreachable/.test(cond(c, "Issuing")?.message ?? "") ? c : undefined;
      },
      "the unreachable CA on the Certificate",
    );
    w.stop();
    expect(cond(waiting, "Issuing")?.status).toBe("True");
    // Nothing failed: the Order's transient back-off (5 s doubling) tries again.
    acme.down = false;
    await until(
      store,
      async () => (cond(await certOf(store), "Ready")?.status === "True" ? true : undefined),
      "Ready after the CA returned",
    );
    expect(acme.counts.get("newOrder")).toBe(1);
  }, 90_000);

  it("errors an Order still pending at its deadline with a message naming the deadline and the last reason", async () => {
    const acme = new FakeAcme();
    // A short deadline so the test does not wait an hour; the CA goes down as the Order appears.
    const { store, engine } = await setup(
      acme,
      { waitInsteadOfSelfCheck: "0s", http01: { ingress: {} } },
      { orderTimeoutMs: 5_000 },
    );
    const w = store.watch<Order>(ORDERS, () => {
      acme.down = true;
    });
    await engine.start();
    const order = await until(
      store,
      async () =>
        (await store.list<Order>(ORDERS, { namespace: NS })).find((o) => o.status?.state === "errored"),
      "the Order to be errored at its deadline",
    );
    w.stop();
    expect(order.status?.reason).toMatch(
      /^the order did not complete within its deadline of 5s from creation; last: .*unreachable/,
    );
    const cert = await until(
      store,
      async () => {
        const c = await certOf(store);
        return cond(c, "Issuing")?.status === "False" ? c : undefined;
      },
      "the failure on the Certificate",
    );
    expect(cond(cert, "Issuing")?.message).toContain("deadline of 5s");
  });

  it.each([
    {
      refusal: "alreadyReplaced (the certificate has a replacement order already)",
      status: 409,
      type: "urn:ietf:params:acme:error:alreadyReplaced",
      detail: "certificate with serial 01 already has a replacement order",
    },
    {
      refusal: "malformed (a certificate identifier the CA does not know)",
      status: 400,
      type: "urn:ietf:params:acme:error:malformed",
      detail: "parsing ARI CertID failed",
    },
  ])("renews with a plain order when the CA refuses the renewal's replaces: $refusal", async (refusal) => {
    const { acme, store, engine, readyAt } = await issuedWithAri();
    acme.refuseReplaces = { status: refusal.status, type: refusal.type, detail: refusal.detail };
    await engine.renew(NS, "shop");
    await until(store, readyAt(2), "the renewal");
    // The renewal named the certificate it replaces, was refused, and was placed once more without it.
    expect(acme.orderReplaces).toHaveLength(3);
    expect(acme.orderReplaces[0]).toBeUndefined();
    expect(acme.orderReplaces[1]).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    expect(acme.orderReplaces[2]).toBeUndefined();
    const orders = await store.list<Order>(ORDERS, { namespace: NS });
    expect(orders.map((o) => o.status?.state)).toEqual(["valid", "valid"]);
    expect(orders.map((o) => o.spec.replaces).filter((r) => r !== undefined)).toEqual([
      acme.orderReplaces[1],
    ]);
    const events = await store.list<KubeObject & { reason?: string; message?: string }>(EVENTS, {
      namespace: NS,
    });
    expect(events.find((e) => e.reason === "Replaces")?.message).toContain(
      `The ACME server refused replaces ${acme.orderReplaces[1]}`,
    );
  });

  it("keeps a renewal's replaces and retries when the CA fails the order for a passing reason (serverInternal)", async () => {
    const { acme, store, engine, readyAt } = await issuedWithAri();
    acme.refuseReplaces = {
      status: 500,
      type: "urn:ietf:params:acme:error:serverInternal",
      detail: "the database is unavailable",
    };
    await engine.renew(NS, "shop");
    // The Order says why it waits (or, wrongly, the renewal went through without replaces).
    await until(
      store,
      async () => {
        const orders = await store.list<Order>(ORDERS, { namespace: NS });
        return orders.some((o) => /serverInternal/.test(o.status?.reason ?? "")) ||
          (await readyAt(2)()) !== undefined
          ? true
          : undefined;
      },
      "the renewal's Order to say the CA failed",
    );
    acme.refuseReplaces = undefined;
    await until(store, readyAt(2), "the renewal");
    // Every attempt of the renewal named the certificate it replaces; none went without it.
    expect(acme.orderReplaces[0]).toBeUndefined();
    expect(acme.orderReplaces.length).toBeGreaterThanOrEqual(3);
    expect(acme.orderReplaces.slice(1).every((r) => r !== undefined)).toBe(true);
    const events = await store.list<KubeObject & { reason?: string }>(EVENTS, { namespace: NS });
    expect(events.filter((e) => e.reason === "Replaces")).toEqual([]);
  });

  it("starts a Challenge whose start could not be written once the store takes writes again", async () => {
    const acme = new FakeAcme();
    let refused = 0;
    // The store refuses the first write that starts a Challenge, as a full disk would, once.
    const refuseFirstStart = (inner: Store): Store =>
      new Proxy(inner, {
        get(target, prop) {
          const v = Reflect.get(target, prop, target) as unknown;
          if (typeof v !== "function") return v;
          if (prop !== "updateStatus") return v.bind(target);
          return async (type: ResourceType, object: KubeObject & { status?: { processing?: boolean } }) => {
            if (type === CHALLENGES && object.status?.processing === true && refused === 0) {
              refused++;
              throw new MeshsignError("ERR_STORE_UNAVAILABLE", "store write refused: ENOSPC", {
                retry: "transient",
              });
            }
            return target.updateStatus(type, object);
          };
        },
      });
    const { store, engine } = await setup(acme, undefined, {}, refuseFirstStart);
    // One name, so one Challenge: no other Challenge's change comes to start it.
    const cert = (await certOf(store)) as Certificate;
    await store.update(CERTIFICATES, { ...cert, spec: { ...cert.spec, dnsNames: ["shop.example.com"] } });
    await engine.start();
    await untilStore(
      store,
      WATCHED,
      async () => (cond(await certOf(store), "Ready")?.status === "True" ? true : undefined),
      "Ready",
      20_000,
    );
    expect(refused).toBe(1);
  });

  it("asks for the ARI window again after the CA's Retry-After, and renews when the CA moves it to now", async () => {
    const { acme, store, engine, readyAt } = await issuedWithAri((a) => {
      a.renewalInfoRetryAfter = "1"; // read as the shortest interval meshsign keeps, a minute
    });
    await engine.idle();
    const asked = acme.counts.get("renewalInfo") ?? 0;
    expect(asked).toBeGreaterThanOrEqual(1);
    // The CA now wants the certificate replaced at once (a revocation event, say).
    acme.renewalWindow = [Date.now() - 3_600_000, Date.now() - 60_000];
    await untilStore(store, WATCHED, readyAt(2), "the renewal the CA asked for", 80_000);
    expect(acme.counts.get("renewalInfo")).toBeGreaterThan(asked);
  }, 90_000);

  it("keeps one ACME order for a renewal's request when the Secret it replaces is deleted while the order is in flight", async () => {
    const { acme, store, engine, readyAt } = await renewalInFlight();
    await store.delete(SECRETS, NS, "shop-tls");
    acme.down = false;
    await until(store, readyAt(2), "the renewal");
    await engine.idle();
    // One Order for the renewal's request (the first request's went with it), and one ACME order each.
    const orders = await store.list<Order>(ORDERS, { namespace: NS });
    expect(orders.map((o) => o.spec.replaces === undefined)).toEqual([false]);
    expect(acme.counts.get("newOrder")).toBe(2);
  });

  it("resumes a renewal's order placed under the name an earlier meshsign gave it (replaces hashed in)", async () => {
    const { acme, store, engine, readyAt } = await renewalInFlight();
    await engine.stop();
    // The in-flight Order as the earlier meshsign named it: its spec's hash with replaces in.
    const placed = (await store.list<Order>(ORDERS, { namespace: NS })).find((o) => o.spec.replaces);
    if (placed === undefined) throw new Error("no renewal Order");
    const crName = placed.metadata.ownerReferences?.[0]?.name ?? "";
    const earlier = computeName(crName, { ...placed.spec, request: undefined });
    expect(earlier).not.toBe(placed.metadata.name);
    await store.delete(ORDERS, NS, placed.metadata.name ?? "");
    const moved = await store.create<Order>(ORDERS, {
      ...placed,
      metadata: {
        name: earlier,
        namespace: NS,
        ownerReferences: placed.metadata.ownerReferences,
        annotations: placed.metadata.annotations,
        labels: placed.metadata.labels,
      },
    });
    await store.updateStatus<Order>(ORDERS, { ...moved, status: placed.status });
    acme.down = false;
    const next = new Engine({
      store,
      registry: createDefaultIssuerRegistry().register(
        "acme",
        createAcmeIssuerFactory({ transport: acme.transport }),
      ),
      metricsRegistry: new Registry(),
    });
    engines.push(next);
    await next.start();
    await until(store, readyAt(2), "the renewal");
    await next.idle();
    // The renewal finished on the order already placed: no third ACME order.
    expect(acme.counts.get("newOrder")).toBe(2);
    const orders = await store.list<Order>(ORDERS, { namespace: NS });
    expect(orders.map((o) => o.metadata.name)).toEqual([earlier]);
  });

  it("in Kubernetes mode routes each HTTP-01 Challenge to meshsign's Service with an Ingress, removed once validated", async () => {
    const acme = new FakeAcme();
    const { store, engine } = await setup(
      acme,
      { waitInsteadOfSelfCheck: "0s", http01: { ingress: { ingressClassName: "nginx" } } },
      { http01Routes: { service: { name: "meshsign", namespace: "meshsign-system", port: 8089 } } },
    );
    const added: KubeObject[] = [];
    const w = store.watch<KubeObject>(INGRESSES, (e) => {
      if (e.type === "ADDED") added.push(e.object);
    });
    await engine.start();
    await until(
      store,
      async () => (cond(await certOf(store), "Ready")?.status === "True" ? true : undefined),
      "Ready",
    );
    await until(
      store,
      async () => ((await store.list(INGRESSES)).length === 0 ? true : undefined),
      "the Ingresses to be removed",
    );
    w.stop();
    const rules = added.map(
      (i) =>
        (
          i as unknown as {
            spec: {
              ingressClassName?: string;
              rules: { host: string; http: { paths: { path: string }[] } }[];
            };
          }
        ).spec,
    );
    expect(rules.map((r) => [r.ingressClassName, r.rules[0]?.host]).sort()).toEqual([
      ["nginx", "shop.example.com"],
      ["nginx", "www.shop.example.com"],
    ]);
    expect(rules[0]?.rules[0]?.http.paths[0]?.path).toMatch(/^\/\.well-known\/acme-challenge\/token/);
  });
});
