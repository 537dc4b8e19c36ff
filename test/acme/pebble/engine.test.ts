/**
 * The ACME issuer on meshsign's engine, end to end against Pebble: an ACME
 * ClusterIssuer and a Certificate reach Ready through Orders, Challenges and
 * HTTP-01 served by meshsign's own solver listener (answering from the
 * Challenges in the store).
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import { Registry } from "prom-client";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  AcmeClient,
  ariCertId,
  createHttp01Solver,
  getRenewalInfo,
  type Http01Solver,
  newOrder,
  registerAccount,
} from "../../../src/acme/index.js";
import type { Order } from "../../../src/api/types.js";
import {
  CERTIFICATES,
  CHALLENGES,
  CLUSTER_ISSUERS,
  EVENTS,
  ORDERS,
  SECRETS,
} from "../../../src/api/types.js";
import { Engine } from "../../../src/engine/engine.js";
import { type Http01Tokens, watchHttp01Tokens } from "../../../src/server/acme-solver.js";
import type { Certificate, IssuerResource, Secret } from "../../../src/engine/lib/api.js";
import { createDefaultIssuerRegistry } from "../../../src/issuers/registry.js";
import { decodePemAll, generateKeySync } from "../../../src/pki/index.js";
import { MemoryStore } from "../../../src/store/memory/index.js";
import type { KubeObject, Store } from "../../../src/store/types.js";
import { freePort } from "../../lib/ports.js";
import { type Pebble, SHORTLIVED_SECONDS, startPebble } from "../harness.js";
import { untilStore } from "../until-store.js";
import { issue, lookupChallenge, verifiesWithNodeCrypto } from "./flow.js";

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
const tokenWatches: Http01Tokens[] = [];
afterEach(async () => {
  for (const t of tokenWatches.splice(0)) t.stop();
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

/**
 * ACME requests the CA accepted (2xx), by path, counted by the registry's request hook (Pebble's
 * newOrder is /order-plz). Refused ones are left out: Pebble rejects 5% of nonces on purpose, and the
 * client's retry of a newOrder refused for its nonce creates no second order.
 */
const requests = new Map<string, number>();
const newOrders = (): number => requests.get("/order-plz") ?? 0;

function startEngine(store: Store, acmeRequestTimeoutMs?: number): Engine {
  const engine = new Engine({
    store,
    metricsRegistry: new Registry(),
    registry: createDefaultIssuerRegistry({
      observeAcmeRequest: (o) => {
        if (o.method === "POST" && o.status.startsWith("2"))
          requests.set(o.path, (requests.get(o.path) ?? 0) + 1);
      },
      ...(acmeRequestTimeoutMs !== undefined ? { acmeRequestTimeoutMs } : {}),
    }),
    acme: { http01SelfCheck: { port: solverPort, connectAddress: "127.0.0.1" } },
  });
  // What `meshsign serve` wires: the solver listener's lookup from the store, which tells the engine what it served.
  const tokens = watchHttp01Tokens(store, (token) => engine.noteHttp01Served(token));
  tokenWatches.push(tokens);
  lookup = tokens.lookup;
  engines.push(engine);
  return engine;
}

const cond = (
  o:
    | { status?: { conditions?: { type: string; status: string; reason?: string; message?: string }[] } }
    | undefined,
  type: string,
) => o?.status?.conditions?.find((c) => c.type === type);

function acmeCertificate(
  name: string,
  dnsNames: string[],
  issuer = "pebble",
  extra: Partial<Certificate["spec"]> = {},
): Certificate {
  return {
    apiVersion: "cert-manager.io/v1",
    kind: "Certificate",
    metadata: { name, namespace: "istio-ingress" },
    spec: {
      secretName: `${name}-tls`,
      dnsNames,
      issuerRef: { name: issuer, kind: "ClusterIssuer" },
      ...extra,
    },
  };
}

const getCert = (store: Store, name: string) => store.get<Certificate>(CERTIFICATES, "istio-ingress", name);
const leafOf = async (store: Store, secretName: string): Promise<X509Certificate> => {
  const secret = await store.get<Secret>(SECRETS, "istio-ingress", secretName);
  return new X509Certificate(Buffer.from(secret?.data?.["tls.crt"] ?? "", "base64").toString());
};
const topOf = async (store: Store, secretName: string): Promise<X509Certificate> => {
  const secret = await store.get<Secret>(SECRETS, "istio-ingress", secretName);
  const ders = decodePemAll(Buffer.from(secret?.data?.["tls.crt"] ?? "", "base64").toString(), "CERTIFICATE");
  return new X509Certificate(ders[ders.length - 1] as Uint8Array);
};
const commonNameOf = (x: X509Certificate | string): string =>
  /CN=([^\n,]+)/.exec(typeof x === "string" ? new X509Certificate(x).subject : x.issuer)?.[1] ?? "";

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

  it("issues again on renewal with the same account, and keeps one Order per request", async () => {
    const store = new MemoryStore();
    await store.create(CLUSTER_ISSUERS, acmeIssuer("renew"));
    await store.create(CERTIFICATES, acmeCertificate("renewed", ["renewed.example.com"], "renew"));
    const engine = startEngine(store);
    await engine.start();
    const ready = (revision: number) => async () => {
      const c = await getCert(store, "renewed");
      return cond(c, "Ready")?.status === "True" && c?.status?.revision === revision ? c : undefined;
    };
    await until(store, ready(1), "the first issuance");
    const uri = (await store.get<IssuerResource>(CLUSTER_ISSUERS, undefined, "renew"))?.status?.acme?.uri;
    const first = (await leafOf(store, "renewed-tls")).serialNumber;
    const firstPem = (await leafOf(store, "renewed-tls")).toString();
    await engine.renew("istio-ingress", "renewed");
    await until(store, ready(2), "the renewal");
    expect((await leafOf(store, "renewed-tls")).serialNumber).not.toBe(first);
    expect((await store.get<IssuerResource>(CLUSTER_ISSUERS, undefined, "renew"))?.status?.acme?.uri).toBe(
      uri,
    );
    const orders = (await store.list<Order>(ORDERS, { namespace: "istio-ingress" })).filter((o) =>
      o.metadata.name?.startsWith("renewed-"),
    );
    expect(orders.map((o) => o.status?.state)).toEqual(["valid", "valid"]);
    // The renewal order told the CA which certificate it replaces (RFC 9773), and the CA took it.
    const firstDer = new X509Certificate(Buffer.from(firstPem, "utf8")).raw;
    expect(orders.map((o) => o.spec.replaces).filter((r) => r !== undefined)).toEqual([ariCertId(firstDer)]);
    expect(pebble.log()).toMatch(/ARI: order "[^"]+" is a replacement of/);
  });

  it("renews with a plain order when Pebble refuses the renewal's replaces as alreadyReplaced", async () => {
    const store = new MemoryStore();
    await store.create(CLUSTER_ISSUERS, acmeIssuer("replaced"));
    await store.create(CERTIFICATES, acmeCertificate("replaced", ["replaced.example.com"], "replaced"));
    const engine = startEngine(store);
    await engine.start();
    const ready = (revision: number) => async () => {
      const c = await getCert(store, "replaced");
      return cond(c, "Ready")?.status === "True" && c?.status?.revision === revision ? c : undefined;
    };
    await until(store, ready(1), "the first issuance");
    // Someone else with the issuer's account replaces the certificate first: Pebble lets a
    // certificate be replaced once, so meshsign's renewal naming it is refused alreadyReplaced.
    const certId = ariCertId((await leafOf(store, "replaced-tls")).raw);
    const account = await store.get<Secret>(SECRETS, "meshsign-system", "replaced-account");
    const client = await AcmeClient.connect({
      directoryUrl: pebble.directoryUrl,
      accountKey: createPrivateKey(Buffer.from(account?.data?.["tls.key"] ?? "", "base64").toString()),
      caBundle: pebble.tlsCaPem,
    });
    await registerAccount(client);
    const engineLookup = lookup;
    lookup = (token, host) => engineLookup(token, host) ?? lookupChallenge(token, host);
    await issue(client, ["replaced.example.com"], {
      solverPort,
      roots: [await pebble.root(0)],
      replaces: certId,
    });
    // Pebble marks the replaced certificate after finalizing, off the request: wait until it refuses.
    for (;;) {
      const refused = await newOrder(client, {
        identifiers: [{ type: "dns", value: "replaced.example.com" }],
        replaces: certId,
      }).then(
        () => false,
        (err: unknown) => /already has a replacement order/.test(String((err as Error).message)),
      );
      if (refused) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    await engine.renew("istio-ingress", "replaced");
    await until(store, ready(2), "the renewal");
    const orders = (await store.list<Order>(ORDERS, { namespace: "istio-ingress" })).filter((o) =>
      o.metadata.name?.startsWith("replaced-"),
    );
    expect(orders.map((o) => o.status?.state)).toEqual(["valid", "valid"]);
    expect(orders.map((o) => o.spec.replaces).filter((r) => r !== undefined)).toEqual([certId]);
    const events = await store.list<KubeObject & { reason?: string; message?: string }>(EVENTS, {
      namespace: "istio-ingress",
    });
    expect(events.find((e) => e.reason === "Replaces")?.message).toMatch(
      /refused replaces .*already has a replacement order.*; ordering without it/,
    );
  });

  it("resumes the same ACME order after a restart in the middle of it: one newOrder for the request", async () => {
    const store = new MemoryStore();
    await store.create(CLUSTER_ISSUERS, acmeIssuer("restart"));
    await store.create(
      CERTIFICATES,
      acmeCertificate("resumed", ["resumed.example.com", "www.resumed.example.com"], "restart"),
    );
    const before = newOrders();
    const first = startEngine(store);
    await first.start();
    const url = await until(
      store,
      async () =>
        (await store.list<Order>(ORDERS, { namespace: "istio-ingress" })).find(
          (o) => o.metadata.name?.startsWith("resumed-") && o.status?.url,
        )?.status?.url,
      "the Order's URL in its status",
    );
    await first.stop();
    const second = startEngine(store);
    await second.start();
    await until(
      store,
      async () => (cond(await getCert(store, "resumed"), "Ready")?.status === "True" ? true : undefined),
      "the Certificate after the restart",
    );
    const orders = (await store.list<Order>(ORDERS, { namespace: "istio-ingress" })).filter((o) =>
      o.metadata.name?.startsWith("resumed-"),
    );
    expect(orders.map((o) => o.status?.url)).toEqual([url]);
    expect(newOrders() - before).toBe(1);
  });

  it("picks Pebble's alternate chain with preferredChain and sends the issuer's profile (shortlived: 6 days)", async () => {
    const store = new MemoryStore();
    const alternate = commonNameOf(await pebble.root(1));
    await store.create(
      CLUSTER_ISSUERS,
      acmeIssuer("alt", { preferredChain: alternate, profile: "shortlived" }),
    );
    await store.create(CERTIFICATES, acmeCertificate("alt", ["alt.example.com"], "alt"));
    const engine = startEngine(store);
    await engine.start();
    await until(
      store,
      async () => (cond(await getCert(store, "alt"), "Ready")?.status === "True" ? true : undefined),
      "the Certificate",
    );
    expect(commonNameOf(await topOf(store, "alt-tls"))).toBe(alternate);
    const leaf = await leafOf(store, "alt-tls");
    expect((Date.parse(leaf.validTo) - Date.parse(leaf.validFrom)) / 1000).toBeCloseTo(
      SHORTLIVED_SECONDS,
      -2,
    );
    const order = (await store.list<Order>(ORDERS, { namespace: "istio-ingress" })).find((o) =>
      o.metadata.name?.startsWith("alt-"),
    );
    expect(order?.spec.profile).toBe("shortlived");
  });

  it("fails the Order without retrying when the issuer names a profile Pebble does not offer, and says so on the Certificate", async () => {
    const store = new MemoryStore();
    await store.create(CLUSTER_ISSUERS, acmeIssuer("badprofile", { profile: "no-such-profile" }));
    await store.create(CERTIFICATES, acmeCertificate("badprofile", ["badprofile.example.com"], "badprofile"));
    const before = newOrders();
    const engine = startEngine(store);
    await engine.start();
    const cert = await until(
      store,
      async () => {
        const c = await getCert(store, "badprofile");
        return cond(c, "Issuing")?.status === "False" ? c : undefined;
      },
      "the issuance to fail",
    );
    expect(cond(cert, "Issuing")?.message).toMatch(
      /does not offer profile "no-such-profile" \(it offers default, shortlived\)/,
    );
    expect(cert.status?.failedIssuanceAttempts).toBe(1);
    const orders = (await store.list<Order>(ORDERS, { namespace: "istio-ingress" })).filter((o) =>
      o.metadata.name?.startsWith("badprofile-"),
    );
    expect(orders.map((o) => o.status?.state)).toEqual(["errored"]);
    expect(newOrders() - before).toBe(0);
  });

  it("puts the CA's detail on the Certificate when Pebble's VA cannot reach the solver", async () => {
    const store = new MemoryStore();
    // Pebble's VA resolves the name to 127.0.0.2, where nothing listens; the self-check still reaches the solver.
    await pebble.addARecord("unreachable.example.com", "127.0.0.2");
    await store.create(CLUSTER_ISSUERS, acmeIssuer("va"));
    await store.create(CERTIFICATES, acmeCertificate("unreachable", ["unreachable.example.com"], "va"));
    const engine = startEngine(store);
    await engine.start();
    const cert = await until(
      store,
      async () => {
        const c = await getCert(store, "unreachable");
        return cond(c, "Issuing")?.status === "False" ? c : undefined;
      },
      "the issuance to fail",
    );
    expect(cond(cert, "Issuing")?.message).toMatch(
      /order is in "invalid" state: ACME server did not validate unreachable\.example\.com \(http-01\): connection: .*127\.0\.0\.2:\d+: connect: connection refused/,
    );
    const order = (await store.list<Order>(ORDERS, { namespace: "istio-ingress" })).find((o) =>
      o.metadata.name?.startsWith("unreachable-"),
    );
    expect(order?.status?.state).toBe("invalid");
    expect(order?.status?.reason).toMatch(/127\.0\.0\.2/);
  });

  it("says on the Certificate which name has no solver instead of waiting silently", async () => {
    const store = new MemoryStore();
    await store.create(
      CLUSTER_ISSUERS,
      acmeIssuer("nosolver", {
        solvers: [{ selector: { dnsNames: ["other.example.com"] }, http01: { ingress: {} } }],
      }),
    );
    await store.create(CERTIFICATES, acmeCertificate("nosolver", ["nosolver.example.com"], "nosolver"));
    const engine = startEngine(store);
    await engine.start();
    const cert = await until(
      store,
      async () => {
        const c = await getCert(store, "nosolver");
        return /no solver for nosolver\.example\.com/.test(cond(c, "Issuing")?.message ?? "") ? c : undefined;
      },
      "the no-solver message on the Certificate",
    );
    expect(cond(cert, "Issuing")?.status).toBe("True");
  });

  it("errors a DNS-01 Challenge whose provider meshsign does not implement, naming it on the Challenge and the Certificate", async () => {
    const store = new MemoryStore();
    await store.create(
      CLUSTER_ISSUERS,
      acmeIssuer("dns", { solvers: [{ dns01: { cloudDNS: { project: "example" } } }] }),
    );
    await store.create(CERTIFICATES, acmeCertificate("dnsonly", ["dnsonly.example.com"], "dns"));
    const engine = startEngine(store);
    await engine.start();
    const cert = await until(
      store,
      async () => {
        const c = await getCert(store, "dnsonly");
        return cond(c, "Issuing")?.status === "False" ? c : undefined;
      },
      "the issuance to fail",
    );
    expect(cond(cert, "Issuing")?.message).toMatch(
      /DNS01 provider "cloudDNS" is not supported by meshsign yet/,
    );
    const order = (await store.list<Order>(ORDERS, { namespace: "istio-ingress" })).find((o) =>
      o.metadata.name?.startsWith("dnsonly-"),
    );
    expect(order?.status?.reason).toMatch(/DNS01 provider "cloudDNS" is not supported by meshsign yet/);
  });

  it("renews inside the CA's ARI window when it comes before renewBefore, and by renewBefore with renewalInformationSource None", async () => {
    const store = new MemoryStore();
    await store.create(CLUSTER_ISSUERS, acmeIssuer("ari"));
    await store.create(CLUSTER_ISSUERS, acmeIssuer("noari", { renewalInformationSource: "None" }));
    await store.create(
      CERTIFICATES,
      acmeCertificate("ari", ["ari.example.com"], "ari", { renewBefore: "1h" }),
    );
    await store.create(
      CERTIFICATES,
      acmeCertificate("noari", ["noari.example.com"], "noari", { renewBefore: "1h" }),
    );
    const engine = startEngine(store);
    await engine.start();
    const ready = (name: string) => async () => {
      const c = await getCert(store, name);
      return cond(c, "Ready")?.status === "True" && c?.status?.renewalTime !== undefined ? c : undefined;
    };
    const ari = await until(store, ready("ari"), "the ARI Certificate");
    const noari = await until(store, ready("noari"), "the other Certificate");
    const client = await AcmeClient.connect({
      directoryUrl: pebble.directoryUrl,
      accountKey: generateKeySync({ type: "ec", curve: "P-256" }),
      caBundle: pebble.tlsCaPem,
    });
    const leaf = await leafOf(store, "ari-tls");
    const window = (await getRenewalInfo(client, leaf.raw)).suggestedWindow;
    const renewal = Date.parse(ari.status?.renewalTime ?? "");
    // status.renewalTime has whole seconds.
    expect(renewal).toBeGreaterThanOrEqual(window.start.getTime() - 1_000);
    expect(renewal).toBeLessThanOrEqual(window.end.getTime());
    expect(renewal).toBeLessThan(Date.parse(ari.status?.notAfter ?? "") - 3_600_000);
    expect(Date.parse(noari.status?.notAfter ?? "") - Date.parse(noari.status?.renewalTime ?? "")).toBe(
      3_600_000,
    );
  });

  // Last in the file: it freezes the Pebble the other tests share.
  it("says on the Certificate that the CA does not answer while Pebble is frozen mid-order, and finishes the same order once it runs again", async () => {
    const store = new MemoryStore();
    // The wait keeps the order open long enough to freeze Pebble in the middle of it.
    await store.create(
      CLUSTER_ISSUERS,
      acmeIssuer("frozen", { solvers: [{ waitInsteadOfSelfCheck: "3s", http01: { ingress: {} } }] }),
    );
    await store.create(CERTIFICATES, acmeCertificate("frozen", ["frozen.example.com"], "frozen"));
    const before = newOrders();
    const engine = startEngine(store, 2_000);
    let paused = false;
    const w = store.watch<Order>(ORDERS, (e) => {
      if (!paused && e.object.metadata.name?.startsWith("frozen-") && e.object.status?.url !== undefined) {
        paused = true;
        pebble.pause();
      }
    });
    try {
      await engine.start();
      const waiting = await until(
        store,
        async () => {
          const c = await getCert(store, "frozen");
          return /did not complete POST \S+ within its \d+ ms deadline/.test(cond(c, "Issuing")?.message ?? "") ? c : undefined;
        },
        "the frozen CA on the Certificate",
      );
      expect(cond(waiting, "Issuing")?.status).toBe("True");
    } finally {
      w.stop();
      pebble.resume();
    }
    await until(
      store,
      async () => (cond(await getCert(store, "frozen"), "Ready")?.status === "True" ? true : undefined),
      "Ready after Pebble runs again",
    );
    expect(newOrders() - before).toBe(1);
  });
});
