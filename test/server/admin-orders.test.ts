import { type Client, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inspectOrder, listLeftoverDns01Records } from "../../src/acme/index.js";
import { CHALLENGES, ORDERS } from "../../src/api/types.js";
import { AdminService } from "../../src/gen/meshsign/admin/v1/admin_pb.js";
import { type CertificateControl, startAdminServer } from "../../src/server/admin.js";
import { createRootCa } from "../../src/server/data-dir.js";
import { MemoryStore } from "../../src/store/memory/index.js";

/*
 * The admin API's InspectOrder: the Order view reaches a Connect client as a
 * Struct, and an unknown Order is NOT_FOUND with its name.
 */

const TOKEN = "admin-token-for-the-orders-test-0123456789";
let admin: Awaited<ReturnType<typeof startAdminServer>>;
let client: Client<typeof AdminService>;

beforeAll(async () => {
  const store = new MemoryStore();
  await store.create(ORDERS, {
    apiVersion: "acme.cert-manager.io/v1",
    kind: "Order",
    metadata: { name: "shop-1-222", namespace: "shop" },
    spec: {
      request: "LS0t",
      issuerRef: { name: "letsencrypt", kind: "ClusterIssuer" },
      dnsNames: ["shop.example.com"],
    },
  });
  const never = (): never => {
    throw new Error("not in this test");
  };
  const certificates: CertificateControl = {
    list: never,
    listIssuers: never,
    describe: never,
    renew: never,
    inspectSecret: never,
    inspectOrder: (ns, name) => inspectOrder(store, ns, name),
    listLeftoverDns01Records: (ns) => listLeftoverDns01Records(store, ns),
  };
  const challenge = (name: string, status: Record<string, unknown>) => ({
    apiVersion: "acme.cert-manager.io/v1" as const,
    kind: "Challenge" as const,
    metadata: {
      name,
      namespace: "shop",
      ownerReferences: [
        { apiVersion: "acme.cert-manager.io/v1", kind: "Order", name: "shop-1-222", uid: "u" },
      ],
    },
    spec: {
      url: `https://ca/chall/${name}`,
      authorizationURL: "https://ca/authz/1",
      dnsName: "shop.example.com",
      wildcard: name.endsWith("w"),
      type: "DNS-01" as const,
      token: "t",
      key: "secret-key-authorization-digest",
      solver: { dns01: { rfc2136: { nameserver: "192.0.2.53" } } },
      issuerRef: { name: "letsencrypt", kind: "ClusterIssuer" },
    },
    status,
  });
  // Left behind (clean-up failed), still pending (not a leftover), and cleaned up (not a leftover).
  for (const c of [
    challenge("shop-1-222-w", {
      state: "valid",
      presented: true,
      dns01Fqdn: "_acme-challenge.shop.example.com.",
      cleanUpSince: "2026-12-06T19:50:00Z",
      cleanUpError: "rfc2136: NOTAUTH",
    }),
    challenge("shop-1-222-a", { state: "pending", presented: true }),
    challenge("shop-1-222-x", { state: "valid", presented: false }),
  ])
    await store.updateStatus(CHALLENGES, { ...(await store.create(CHALLENGES, c)), status: c.status });
  const ca = await createRootCa({
    algorithm: "ecdsa-p256",
    durationMs: 3_600_000,
    trustDomain: "cluster.local",
  });
  admin = await startAdminServer({
    host: "127.0.0.1",
    port: 0,
    token: TOKEN,
    serving: { certificateChainPem: ca.certificatePem, privateKeyPem: ca.keyPem },
    sources: {
      version: "test",
      mode: "standalone",
      trustDomain: "cluster.local",
      roots: () => ca.certificatePem,
      checks: () => [],
      issuances: { recent: () => [] } as never,
      certificates,
    },
  });
  client = createClient(
    AdminService,
    createConnectTransport({
      baseUrl: `https://127.0.0.1:${admin.port}`,
      httpVersion: "1.1",
      nodeOptions: { rejectUnauthorized: false },
      interceptors: [
        (next) => (req) => {
          req.header.set("authorization", `Bearer ${TOKEN}`);
          return next(req);
        },
      ],
    }),
  );
});

afterAll(async () => {
  await admin?.close();
});

describe("InspectOrder", () => {
  it("returns the Order view", async () => {
    const { order } = await client.inspectOrder({ order: { namespace: "shop", name: "shop-1-222" } });
    expect(order).toMatchObject({
      namespace: "shop",
      name: "shop-1-222",
      issuer: "ClusterIssuer/letsencrypt",
      dnsNames: ["shop.example.com"],
      hasCertificate: false,
      challenges: [],
    });
  });

  it("answers NOT_FOUND naming the Order", async () => {
    await expect(client.inspectOrder({ order: { namespace: "shop", name: "absent" } })).rejects.toThrow(
      "Order shop/absent not found",
    );
  });

  it("needs a namespace and a name", async () => {
    await expect(client.inspectOrder({})).rejects.toThrow("namespace and name are required");
  });
});

describe("ListLeftoverDns01Records", () => {
  it("lists the presented DNS-01 values of final or deleted Challenges, never the key authorization", async () => {
    const { records } = await client.listLeftoverDns01Records({});
    expect(records).toEqual([
      {
        namespace: "shop",
        challenge: "shop-1-222-w",
        order: "shop-1-222",
        dnsName: "*.shop.example.com",
        fqdn: "_acme-challenge.shop.example.com.",
        provider: "dns01.rfc2136",
        since: "2026-12-06T19:50:00Z",
        lastError: "rfc2136: NOTAUTH",
        state: "valid",
        deleting: false,
      },
    ]);
    expect(JSON.stringify(records)).not.toContain("secret-key-authorization-digest");
    expect((await client.listLeftoverDns01Records({ namespace: "other" })).records).toEqual([]);
  });
});
