/**
 * The ACME issuer on meshsign's engine, end to end against Pebble: an ACME
 * ClusterIssuer and a Certificate reach Ready through Orders, Challenges and
 * HTTP-01 served by meshsign's own solver listener (answering from the
 * Challenges in the store).
 */
import { Registry } from "prom-client";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createHttp01Solver, type Http01Solver } from "../../../src/acme/index.js";
import type { Order } from "../../../src/api/types.js";
import { CERTIFICATES, CHALLENGES, CLUSTER_ISSUERS, ORDERS, SECRETS } from "../../../src/api/types.js";
import { Engine } from "../../../src/engine/engine.js";
import type { Certificate, IssuerResource, Secret } from "../../../src/engine/lib/api.js";
import { createDefaultIssuerRegistry } from "../../../src/issuers/registry.js";
import { decodePemAll } from "../../../src/pki/index.js";
import { MemoryStore } from "../../../src/store/memory/index.js";
import type { Store } from "../../../src/store/types.js";
import { freePort, type Pebble, startPebble } from "../harness.js";
import { untilStore } from "../until-store.js";
import { verifiesWithNodeCrypto } from "./flow.js";

let pebble: Pebble;
let solverPort: number;
let solver: Http01Solver | undefined;
let lookup: (token: string, host: string | undefined) => string | undefined = () => undefined;

beforeAll(async () => {
  solverPort = await freePort();
  solver = createHttp01Solver({ lookup: (t, h) => lookup(t, h) });
  await solver.listen(solverPort, "127.0.0.1");
  pebble = await startPebble({ httpPort: solverPort });
});

afterAll(async () => {
  await solver?.close();
  await pebble?.stop();
});

const engines: Engine[] = [];
afterEach(async () => {
  for (const e of engines.splice(0)) await e.stop();
});

function acmeIssuer(name: string, extra: Record<string, unknown> = {}): IssuerResource {
  return {
    apiVersion: "cert-manager.io/v1",
    kind: "ClusterIssuer",
    metadata: { name },
    spec: {
      acme: {
        server: pebble.directoryUrl,
        email: "ops@example.com",
        caBundle: Buffer.from(pebble.tlsCaPem).toString("base64"),
        privateKeySecretRef: { name: `${name}-account` },
        solvers: [{ http01: { ingress: {} } }],
        ...extra,
      },
    },
  };
}

function startEngine(store: Store): Engine {
  const engine = new Engine({
    store,
    metricsRegistry: new Registry(),
    registry: createDefaultIssuerRegistry(),
    acme: { http01SelfCheck: { port: solverPort, connectAddress: "127.0.0.1" } },
  });
  lookup = engine.http01Lookup;
  engines.push(engine);
  return engine;
}

const cond = (
  o:
    | { status?: { conditions?: { type: string; status: string; reason?: string; message?: string }[] } }
    | undefined,
  type: string,
) => o?.status?.conditions?.find((c) => c.type === type);

const WATCHED = [CERTIFICATES, ORDERS, CHALLENGES, CLUSTER_ISSUERS, SECRETS];
const until = <T>(store: Store, check: () => Promise<T | undefined>, what: string) =>
  untilStore(store, WATCHED, check, what);

describe("ACME issuer on the engine (Pebble)", () => {
  it("registers the account, writes status.acme as cert-manager does, and issues a Certificate for two DNS names whose chain verifies to Pebble's root", async () => {
    const store = new MemoryStore();
    await store.create(CLUSTER_ISSUERS, acmeIssuer("pebble"));
    await store.create(CERTIFICATES, {
      apiVersion: "cert-manager.io/v1",
      kind: "Certificate",
      metadata: { name: "shop", namespace: "istio-ingress" },
      spec: {
        secretName: "shop-tls",
        dnsNames: ["shop.example.com", "www.shop.example.com"],
        issuerRef: { name: "pebble", kind: "ClusterIssuer" },
      },
    } satisfies Certificate);
    const engine = startEngine(store);
    await engine.start();
    const cert = await until(
      store,
      async () => {
        const c = await store.get<Certificate>(CERTIFICATES, "istio-ingress", "shop");
        return cond(c, "Ready")?.status === "True" ? c : undefined;
      },
      "the Certificate to be Ready",
    );
    expect(cond(cert, "Ready")?.reason).toBe("Ready");
    const issuer = await store.get<IssuerResource>(CLUSTER_ISSUERS, undefined, "pebble");
    expect(cond(issuer, "Ready")).toMatchObject({ status: "True", reason: "ACMEAccountRegistered" });
    expect(issuer?.status?.acme?.uri).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/my-account\//);
    expect(issuer?.status?.acme?.lastRegisteredEmail).toBe("ops@example.com");
    expect(issuer?.status?.acme?.lastPrivateKeyHash).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    const account = await store.get<Secret>(SECRETS, "meshsign-system", "pebble-account");
    expect(Buffer.from(account?.data?.["tls.key"] ?? "", "base64").toString()).toMatch(
      /^-----BEGIN RSA PRIVATE KEY-----/,
    );
    const secret = await store.get<Secret>(SECRETS, "istio-ingress", "shop-tls");
    const chain = Buffer.from(secret?.data?.["tls.crt"] ?? "", "base64").toString();
    expect(decodePemAll(chain, "CERTIFICATE").length).toBeGreaterThanOrEqual(2);
    expect(verifiesWithNodeCrypto(chain, await pebble.root(0))).toBe(true);
    const orders = await store.list<Order>(ORDERS, { namespace: "istio-ingress" });
    expect(orders).toHaveLength(1);
    expect(orders[0]?.status?.state).toBe("valid");
    // Challenges are removed once the Order is valid.
    await until(
      store,
      async () => ((await store.list(CHALLENGES)).length === 0 ? true : undefined),
      "the Challenges to be removed",
    );
  });
});
