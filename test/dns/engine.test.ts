/**
 * DNS-01 end to end through meshsign's engine: an ACME ClusterIssuer whose
 * solver is `dns01.rfc2136` (a real Knot DNS server, a TSIG key Secret) and
 * Pebble, whose VA asks a recursive resolver (Unbound, stub zones at the same
 * knotd), so it validates the TXT records meshsign wrote, following a CNAME
 * from one zone into another as a CA's resolver does.
 *
 * The propagation check is configured as `serve --dns01-recursive-nameservers
 * <knot> --dns01-recursive-nameservers-only` configures it: knotd listens on a
 * free port, not on 53, so the zone's authoritative servers (ns1 -> 127.0.0.1)
 * cannot be asked on their own port and knotd is asked as the resolver instead.
 */
import { X509Certificate } from "node:crypto";
import { Resolver } from "node:dns/promises";
import { Registry } from "prom-client";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { listLeftoverDns01Records } from "../../src/acme/index.js";
import type { Challenge, Order } from "../../src/api/types.js";
import { CERTIFICATES, CHALLENGES, CLUSTER_ISSUERS, EVENTS, ORDERS, SECRETS } from "../../src/api/types.js";
import { leftoverRecordsText } from "../../src/cli/lib/status-views.js";
import { dnsPropagation } from "../../src/engine/acme/index.js";
import { Engine } from "../../src/engine/engine.js";
import type { Certificate, EventResource, IssuerResource, Secret } from "../../src/engine/lib/api.js";
import { createDefaultIssuerRegistry } from "../../src/issuers/registry.js";
import { decodePemAll } from "../../src/pki/index.js";
import { MemoryStore } from "../../src/store/memory/index.js";
import type { Store } from "../../src/store/types.js";
import { type Pebble, startPebble } from "../acme/harness.js";
import { freePort } from "../lib/ports.js";
import { verifiesWithNodeCrypto } from "../acme/pebble/flow.js";
import { untilStore } from "../acme/until-store.js";
import { DEFAULT_KNOT_ZONES, type Knot, startKnot } from "./harness/knot.js";
import { startUnbound, type Unbound } from "./harness/unbound.js";

const NS = "istio-ingress";
/** Where a ClusterIssuer's Secrets live standalone (the account key and the TSIG secret). */
const CLUSTER_RESOURCE_NS = "meshsign-system";

let knot: Knot;
let unbound: Unbound;
let pebble: Pebble;

beforeAll(async () => {
  knot = await startKnot({
    zones: [
      {
        name: "example.test.",
        // A records for the certificate's names, so any lookup Pebble makes of them is answered;
        // `_acme-challenge.cname` is delegated into another zone for cnameStrategy: Follow.
        records: [
          "e2e A 127.0.0.1",
          "*.e2e A 127.0.0.1",
          "cname A 127.0.0.1",
          "_acme-challenge.cname CNAME cname.delegated.test.",
        ],
      },
      ...DEFAULT_KNOT_ZONES.filter((z) => z.name !== "example.test."),
    ],
  });
  // Pebble's VA asks a recursive resolver, as a CA's does: Unbound, stub zones at knotd.
  unbound = await startUnbound({
    stubZones: knot.zones.map((z) => ({ name: z.name, nameserver: knot.nameserver })),
  });
  pebble = await startPebble({ httpPort: await freePort(), dnsServer: unbound.nameserver });
});

afterAll(async () => {
  await pebble?.stop();
  await unbound?.stop();
  await knot?.stop();
});

const engines: Engine[] = [];
afterEach(async () => {
  for (const e of engines.splice(0)) await e.stop();
});

function startEngine(
  store: Store,
  options: { cleanUpRetryMs?: number; afterPropagated?: (fqdn: string) => Promise<void> } = {},
): Engine {
  // serve's --dns01-recursive-nameservers=<knot> --dns01-recursive-nameservers-only.
  const propagation = dnsPropagation({
    recursiveNameservers: [knot.nameserver],
    recursiveOnly: true,
    queryTimeoutMs: 10_000,
  });
  const afterPropagated = options.afterPropagated;
  const engine = new Engine({
    store,
    metricsRegistry: new Registry(),
    registry: createDefaultIssuerRegistry({}),
    acme: {
      dns01Propagation:
        afterPropagated === undefined
          ? propagation
          : {
              resolveChallengeRecord: (name, o) => propagation.resolveChallengeRecord(name, o),
              // The Challenge is accepted only after this returns, so a sibling's value is
              // still held at knotd here if meshsign keeps it until both are valid.
              checkPropagation: async (record, o) => {
                const result = await propagation.checkPropagation(record, o);
                if (result.propagated) await afterPropagated(record.fqdn);
                return result;
              },
            },
      ...(options.cleanUpRetryMs !== undefined
        ? { dns01CleanUpBackoff: { minMs: options.cleanUpRetryMs, maxMs: options.cleanUpRetryMs } }
        : {}),
    },
  });
  engines.push(engine);
  return engine;
}

function tsigSecret(name: string, secret: string): Secret {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name, namespace: CLUSTER_RESOURCE_NS },
    data: { secret: Buffer.from(secret).toString("base64") },
  } as Secret;
}

function rfc2136Issuer(
  name: string,
  tsigSecretName: string,
  extra: Record<string, unknown> = {},
  tsigAlgorithm = "HMACSHA256",
): IssuerResource {
  const key = knot.key("HMACSHA256");
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
        solvers: [
          {
            dns01: {
              rfc2136: {
                nameserver: knot.nameserver,
                tsigKeyName: key.name,
                // The schema's output type names the upper-case spelling; any case is accepted.
                tsigAlgorithm: tsigAlgorithm as "HMACSHA256",
                tsigSecretSecretRef: { name: tsigSecretName, key: "secret" },
              },
              ...extra,
            },
          },
        ],
      },
    },
  };
}

function certificate(name: string, dnsNames: string[], issuer: string): Certificate {
  return {
    apiVersion: "cert-manager.io/v1",
    kind: "Certificate",
    metadata: { name, namespace: NS },
    spec: { secretName: `${name}-tls`, dnsNames, issuerRef: { name: issuer, kind: "ClusterIssuer" } },
  };
}

type Conditioned = {
  status?: { conditions?: { type: string; status: string; reason?: string; message?: string }[] };
};
const cond = (o: Conditioned | undefined, type: string) =>
  o?.status?.conditions?.find((c) => c.type === type);

const WATCHED = [CERTIFICATES, ORDERS, CHALLENGES, CLUSTER_ISSUERS, SECRETS];
const until = <T>(store: Store, check: () => Promise<T | undefined>, what: string) =>
  untilStore(store, WATCHED, check, what, 300_000);

const getCert = (store: Store, name: string) => store.get<Certificate>(CERTIFICATES, NS, name);

async function readyCertificate(store: Store, name: string): Promise<Certificate> {
  return until(
    store,
    async () => {
      const c = await getCert(store, name);
      return cond(c, "Ready")?.status === "True" ? c : undefined;
    },
    `the Certificate ${name} to be Ready`,
  );
}

async function chainOf(store: Store, secretName: string): Promise<string> {
  const secret = await store.get<Secret>(SECRETS, NS, secretName);
  return Buffer.from(secret?.data?.["tls.crt"] ?? "", "base64").toString();
}

/**
 * Asks knotd itself (not the resolver) for the TXT values at a name each time a Challenge's
 * propagation check has passed, before meshsign accepts that Challenge, and keeps the largest set
 * seen. Polling knotd instead would race a fast machine: the window in which both values exist
 * can be shorter than a poll.
 */
function txtAtAcceptance(): { afterPropagated(fqdn: string): Promise<void>; largest(): string[] } {
  const resolver = new Resolver({ timeout: 2_000, tries: 1 });
  resolver.setServers([knot.nameserver]);
  let largest: string[] = [];
  return {
    async afterPropagated(fqdn) {
      const values = await resolver.resolveTxt(fqdn).then(
        (records) => records.map((chunks) => chunks.join("")),
        () => [] as string[],
      );
      if (values.length > largest.length) largest = values.sort();
    },
    largest: () => largest,
  };
}

describe("DNS-01 through the engine: rfc2136 into knotd, validated by Pebble", () => {
  // Both authorizations put their value under _acme-challenge.e2e.example.test; the scheduler runs the
  // wildcard and the apex Challenge together and the first validated keeps its value until the other
  // is, so knotd holds both values at one moment; Pebble's VA read each from knotd through Unbound.
  it("issues a wildcard + apex Certificate whose chain verifies to Pebble's root, with both TXT values present at once and both removed after", async () => {
    const store = new MemoryStore();
    await store.create(SECRETS, tsigSecret("tsig-hmacsha256", knot.key("HMACSHA256").secret));
    await store.create(CLUSTER_ISSUERS, rfc2136Issuer("pebble-dns", "tsig-hmacsha256"));
    await store.create(
      CERTIFICATES,
      certificate("e2e", ["*.e2e.example.test", "e2e.example.test"], "pebble-dns"),
    );

    const txt = txtAtAcceptance();
    const engine = startEngine(store, { afterPropagated: txt.afterPropagated });
    await engine.start();
    const cert = await readyCertificate(store, "e2e");
    expect(cond(cert, "Ready")?.reason).toBe("Ready");
    const largest = txt.largest();
    // The two values are the two Challenges' keys (the wildcard's and the apex's).
    const keys = (await store.list<Challenge>(CHALLENGES, { namespace: NS })).map((c) => c.spec.key).sort();
    expect(largest).toHaveLength(2);
    if (keys.length === 2) expect(largest).toEqual(keys);

    const chain = await chainOf(store, "e2e-tls");
    expect(decodePemAll(chain, "CERTIFICATE").length).toBeGreaterThanOrEqual(2);
    expect(verifiesWithNodeCrypto(chain, await pebble.root(0))).toBe(true);
    const leaf = new X509Certificate(chain);
    expect(leaf.subjectAltName).toContain("DNS:*.e2e.example.test");
    expect(leaf.subjectAltName).toContain("DNS:e2e.example.test");

    const orders = await store.list<Order>(ORDERS, { namespace: NS });
    expect(orders.map((o) => o.status?.state)).toEqual(["valid"]);
    // The Challenges are cleaned up at knotd and removed once the Order is valid.
    await until(
      store,
      async () => ((await store.list(CHALLENGES)).length === 0 ? true : undefined),
      "the Challenges to be removed",
    );
    expect(await knot.txt("_acme-challenge.e2e.example.test.")).toEqual([]);
    // Written and removed by signed dynamic updates, not through knotc.
    expect(knot.log()).toMatch(/\[example\.test\.\] DDNS/);
  });

  it("names the refusal (NOTAUTH, TSIG BADSIG) on the Challenge and the Certificate when the TSIG secret is wrong, and does not retry it", async () => {
    const store = new MemoryStore();
    await store.create(SECRETS, tsigSecret("tsig-wrong", Buffer.alloc(32, 7).toString("base64")));
    await store.create(CLUSTER_ISSUERS, rfc2136Issuer("pebble-dns-wrong", "tsig-wrong"));
    await store.create(CERTIFICATES, certificate("wrong", ["wrong.e2e.example.test"], "pebble-dns-wrong"));
    const engine = startEngine(store);
    await engine.start();

    const challenge = await until(
      store,
      async () => {
        const [c] = await store.list<Challenge>(CHALLENGES, { namespace: NS });
        return c?.status?.state === "errored" ? c : undefined;
      },
      "the Challenge to be errored",
    );
    expect(challenge.status?.reason).toMatch(/NOTAUTH, TSIG BADSIG/);
    expect(challenge.status?.reason).toContain("the TSIG secret does not match");
    const cert = await until(
      store,
      async () => {
        const c = await getCert(store, "wrong");
        return c?.status?.conditions?.some((x) => x.status === "False" && /BADSIG/.test(x.message ?? ""))
          ? c
          : undefined;
      },
      "the Certificate to name the refusal",
    );
    expect(cond(cert, "Ready")?.status).not.toBe("True");
    // Nothing left to do: one Order, one refused UPDATE (one PresentError), no record written.
    await engine.idle();
    expect(await store.list<Order>(ORDERS, { namespace: NS })).toHaveLength(1);
    const presentErrors = (await store.list<EventResource>(EVENTS, { namespace: NS }))
      .filter((e) => e.reason === "PresentError")
      .map((e) => [e.count ?? 1, e.message]);
    expect(presentErrors).toEqual([[1, expect.stringMatching(/NOTAUTH, TSIG BADSIG/)]]);
    expect(await knot.txt("_acme-challenge.wrong.e2e.example.test.")).toEqual([]);
    const text = JSON.stringify([challenge, cert]);
    expect(text).not.toContain(Buffer.alloc(32, 7).toString("base64"));
  });

  it("follows _acme-challenge's CNAME into the delegated zone with cnameStrategy: Follow", async () => {
    const store = new MemoryStore();
    await store.create(SECRETS, tsigSecret("tsig-follow", knot.key("HMACSHA256").secret));
    await store.create(
      CLUSTER_ISSUERS,
      rfc2136Issuer("pebble-dns-follow", "tsig-follow", { cnameStrategy: "Follow" }),
    );
    await store.create(CERTIFICATES, certificate("follow", ["cname.example.test"], "pebble-dns-follow"));
    const engine = startEngine(store);
    await engine.start();

    const cert = await readyCertificate(store, "follow");
    // Written by signed UPDATE into the target's zone (a CNAME's owner holds no TXT), and read
    // there by Pebble's VA through the resolver following the CNAME.
    expect(knot.log()).toMatch(/\[delegated\.test\.\] DDNS/);
    const chain = await chainOf(store, "follow-tls");
    expect(verifiesWithNodeCrypto(chain, await pebble.root(0))).toBe(true);
    expect(new X509Certificate(chain).subjectAltName).toBe("DNS:cname.example.test");
    expect(cond(cert, "Ready")?.reason).toBe("Ready");
    await until(
      store,
      async () => ((await store.list(CHALLENGES)).length === 0 ? true : undefined),
      "the Challenges to be removed",
    );
    expect(await knot.txt("cname.delegated.test.")).toEqual([]);
    expect(await knot.txt("_acme-challenge.cname.example.test.")).toEqual([]);
  });

  it("lists a value whose clean-up fails (the TSIG secret changed after presenting) as a leftover record, and drops it once the clean-up succeeds", async () => {
    const store = new MemoryStore();
    const good = tsigSecret("tsig-leftover", knot.key("HMACSHA256").secret);
    await store.create(SECRETS, good);
    // cert-manager upper-cases tsigAlgorithm; meshsign takes it in any case too.
    await store.create(
      CLUSTER_ISSUERS,
      rfc2136Issuer("pebble-dns-leftover", "tsig-leftover", {}, "hmacsha256"),
    );
    await store.create(
      CERTIFICATES,
      certificate("leftover", ["leftover.e2e.example.test"], "pebble-dns-leftover"),
    );
    const fqdn = "_acme-challenge.leftover.e2e.example.test.";
    const WRONG_SECRET = Buffer.alloc(32, 9).toString("base64");
    // Once the value is written, the Secret no longer matches knotd's key: the clean-up is refused (BADSIG).
    let swapped = false;
    const w = store.watch<Challenge>(CHALLENGES, (e) => {
      if (swapped || e.object.status?.presented !== true) return;
      swapped = true;
      void store
        .get<Secret>(SECRETS, CLUSTER_RESOURCE_NS, "tsig-leftover")
        .then((s) =>
          s === undefined
            ? undefined
            : store.update(SECRETS, { ...s, data: tsigSecret("wrong", WRONG_SECRET).data }),
        );
    });
    const engine = startEngine(store, { cleanUpRetryMs: 2_000 });
    await engine.start();
    await readyCertificate(store, "leftover");
    w.stop();

    const [left] = await until(
      store,
      async () => {
        const rows = await listLeftoverDns01Records(store);
        return rows.length === 1 && rows[0]?.deleting === true && rows[0].lastError !== undefined
          ? rows
          : undefined;
      },
      "the value to be listed as left behind, its Challenge deleted",
    );
    expect(left).toMatchObject({
      namespace: NS,
      fqdn,
      provider: "dns01.rfc2136",
      dnsName: "leftover.e2e.example.test",
    });
    expect(left?.lastError).toMatch(/TSIG BADSIG/);
    expect(left?.since).toEqual(expect.any(String));
    // What `meshsign status` prints from the same rows (admin API ListLeftoverDns01Records).
    const text = leftoverRecordsText(await listLeftoverDns01Records(store), Date.now());
    expect(text).toContain("Leftover DNS-01 records");
    expect(text).toMatch(/_acme-challenge\.leftover\.e2e\.example\.test\.\s+dns01\.rfc2136\s+.*BADSIG/);
    expect(await knot.txt(fqdn)).toHaveLength(1);
    expect(JSON.stringify(left)).not.toContain(WRONG_SECRET);

    // The key is fixed: the next retry removes the value and releases the Challenge.
    const current = await store.get<Secret>(SECRETS, CLUSTER_RESOURCE_NS, "tsig-leftover");
    if (current !== undefined) await store.update(SECRETS, { ...current, data: good.data });
    await until(
      store,
      async () => ((await store.list(CHALLENGES)).length === 0 ? true : undefined),
      "the Challenge to be cleaned up and removed",
    );
    expect(await listLeftoverDns01Records(store)).toEqual([]);
    expect(leftoverRecordsText([], Date.now())).toBe("");
    expect(await knot.txt(fqdn)).toEqual([]);
  }, 180_000);
});
