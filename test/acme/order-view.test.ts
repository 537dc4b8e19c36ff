import { beforeEach, describe, expect, it } from "vitest";
import { describeSolver, inspectOrder, orderOfRequest } from "../../src/acme/index.js";
import type { AcmeSolver, Challenge, Order } from "../../src/api/types.js";
import { CERTIFICATE_REQUESTS, CHALLENGES, ORDERS } from "../../src/api/types.js";
import { isMeshsignError } from "../../src/errors/index.js";
import { MemoryStore } from "../../src/store/memory/index.js";
import type { KubeObject, OwnerReference } from "../../src/store/types.js";

const NS = "shop";
let store: MemoryStore;
let clock = Date.parse("2026-12-06T20:00:00Z");

beforeEach(() => {
  clock = Date.parse("2026-12-06T20:00:00Z");
  store = new MemoryStore({ now: () => clock });
});

const owner = (o: KubeObject): OwnerReference => ({
  apiVersion: o.apiVersion,
  kind: o.kind,
  name: o.metadata.name ?? "",
  uid: o.metadata.uid ?? "",
  controller: true,
});

async function request(name: string): Promise<KubeObject> {
  return store.create(CERTIFICATE_REQUESTS, {
    apiVersion: "cert-manager.io/v1",
    kind: "CertificateRequest",
    metadata: { name, namespace: NS },
  });
}

async function order(name: string, cr: KubeObject, status?: Order["status"]): Promise<Order> {
  clock += 1000;
  const created = await store.create<Order>(ORDERS, {
    apiVersion: "acme.cert-manager.io/v1",
    kind: "Order",
    metadata: { name, namespace: NS, ownerReferences: [owner(cr)] },
    spec: {
      request: "LS0tLS1CRUdJTi0tLS0t",
      issuerRef: { name: "letsencrypt", kind: "ClusterIssuer", group: "cert-manager.io" },
      dnsNames: ["shop.example.com", "*.shop.example.com"],
      profile: "shortlived",
    },
  });
  return status === undefined ? created : store.updateStatus(ORDERS, { ...created, status });
}

async function challenge(
  name: string,
  o: Order,
  solver: AcmeSolver,
  extra: { wildcard?: boolean; status?: Challenge["status"] } = {},
): Promise<Challenge> {
  const created = await store.create<Challenge>(CHALLENGES, {
    apiVersion: "acme.cert-manager.io/v1",
    kind: "Challenge",
    metadata: { name, namespace: NS, ownerReferences: [owner(o)] },
    spec: {
      url: `https://acme.example/chall/${name}`,
      authorizationURL: `https://acme.example/authz/${name}`,
      dnsName: "shop.example.com",
      ...(extra.wildcard === undefined ? {} : { wildcard: extra.wildcard }),
      type: solver.dns01 !== undefined ? "DNS-01" : "HTTP-01",
      token: "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA",
      key: "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.thumbprint",
      solver,
      issuerRef: { name: "letsencrypt", kind: "ClusterIssuer" },
    },
  });
  return extra.status === undefined
    ? created
    : store.updateStatus(CHALLENGES, { ...created, status: extra.status });
}

const http: AcmeSolver = { http01: { ingress: { ingressClassName: "nginx" } } };
const dns: AcmeSolver = { dns01: { rfc2136: { nameserver: "10.0.0.53" } } };

describe("orderOfRequest", () => {
  it("is undefined for a request without an Order (not an ACME issuer)", async () => {
    await request("shop-1");
    expect(await orderOfRequest(store, NS, "shop-1")).toBeUndefined();
  });

  it("gives the request's newest Order and only that Order's Challenges", async () => {
    const cr = await request("shop-1");
    const other = await request("other-1");
    const old = await order("shop-1-111", cr, { state: "errored", reason: "rate limited" });
    const current = await order("shop-1-222", cr, { state: "pending", url: "https://acme.example/order/2" });
    const foreign = await order("other-1-333", other);
    await challenge("shop-1-111-0", old, http);
    await challenge("shop-1-222-1", current, dns, {
      wildcard: true,
      status: {
        state: "pending",
        presented: true,
        processing: true,
        reason: "Waiting for DNS-01 challenge propagation",
      },
    });
    await challenge("shop-1-222-0", current, http, { status: { state: "pending", presented: false } });
    await challenge("other-1-333-0", foreign, http);

    expect(await orderOfRequest(store, NS, "shop-1")).toEqual({
      order: { name: "shop-1-222", state: "pending", url: "https://acme.example/order/2" },
      challenges: [
        {
          name: "shop-1-222-0",
          type: "HTTP-01",
          dnsName: "shop.example.com",
          wildcard: false,
          solver: "http01.ingress (class nginx)",
          state: "pending",
          presented: false,
        },
        {
          name: "shop-1-222-1",
          type: "DNS-01",
          dnsName: "shop.example.com",
          wildcard: true,
          solver: "dns01.rfc2136",
          state: "pending",
          presented: true,
          processing: true,
          reason: "Waiting for DNS-01 challenge propagation",
        },
      ],
    });
  });
});

describe("inspectOrder", () => {
  it("describes the Order, its authorizations and Challenges, but never the chain or key authorizations", async () => {
    const cr = await request("shop-1");
    const o = await order("shop-1-222", cr, {
      state: "valid",
      url: "https://acme.example/order/2",
      finalizeURL: "https://acme.example/order/2/finalize",
      certificate: "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t",
      authorizations: [
        {
          url: "https://acme.example/authz/1",
          identifier: "shop.example.com",
          wildcard: true,
          initialState: "pending",
          challenges: [
            { url: "u1", token: "t1", type: "dns-01" },
            { url: "u2", token: "t2", type: "http-01" },
          ],
        },
      ],
    });
    await challenge("shop-1-222-0", o, dns, { wildcard: true, status: { state: "valid", presented: false } });
    const view = await inspectOrder(store, NS, "shop-1-222");
    expect(view).toEqual({
      namespace: NS,
      name: "shop-1-222",
      state: "valid",
      url: "https://acme.example/order/2",
      creationTimestamp: "2026-12-06T20:00:01Z",
      request: "shop-1",
      issuer: "ClusterIssuer/letsencrypt",
      dnsNames: ["shop.example.com", "*.shop.example.com"],
      ipAddresses: [],
      profile: "shortlived",
      hasCertificate: true,
      authorizations: [
        {
          identifier: "shop.example.com",
          wildcard: true,
          initialState: "pending",
          challengeTypes: ["dns-01", "http-01"],
        },
      ],
      challenges: [
        {
          name: "shop-1-222-0",
          type: "DNS-01",
          dnsName: "shop.example.com",
          wildcard: true,
          solver: "dns01.rfc2136",
          state: "valid",
          presented: false,
        },
      ],
    });
    expect(JSON.stringify(view)).not.toMatch(/thumbprint|LS0tLS1CRUdJTiBDRVJU/);
  });

  it("says which Order does not exist", async () => {
    const err = await inspectOrder(store, NS, "absent").catch((e: unknown) => e);
    expect(isMeshsignError(err, "ERR_NOT_FOUND")).toBe(true);
    expect((err as Error).message).toBe("Order shop/absent not found");
  });
});

describe("describeSolver", () => {
  const cases: Record<string, [AcmeSolver, string]> = {
    "an Ingress solver by class name": [http, "http01.ingress (class nginx)"],
    "an Ingress solver by class annotation": [
      { http01: { ingress: { class: "traefik" } } },
      "http01.ingress (class traefik)",
    ],
    "an Ingress edited in place": [
      { http01: { ingress: { name: "web" } } },
      "http01.ingress (edits Ingress web)",
    ],
    "an Ingress solver of the default class": [{ http01: { ingress: {} } }, "http01.ingress"],
    "an HTTPRoute solver with its parents": [
      {
        http01: {
          gatewayHTTPRoute: {
            parentRefs: [{ name: "public", namespace: "istio-ingress" }, { name: "internal" }],
          },
        },
      },
      "http01.gatewayHTTPRoute (istio-ingress/public, internal)",
    ],
    "a DNS-01 provider": [
      { dns01: { cnameStrategy: "Follow", webhook: { groupName: "g", solverName: "s" } } },
      "dns01.webhook",
    ],
  };
  for (const [name, [solver, want]] of Object.entries(cases)) {
    it(`names ${name}`, () => expect(describeSolver(solver)).toBe(want));
  }
});
