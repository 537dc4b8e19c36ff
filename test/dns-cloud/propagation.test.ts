/**
 * The Route53 DNS-01 provider on the engine with a propagation check against
 * a real DNS server. moto (Route53) serves no DNS, so knotd serves the same
 * zone and the test keeps it in step: every change moto answers is mirrored
 * into knotd by RFC 2136 (DNS UPDATE with TSIG, meshsign's rfc2136 provider),
 * held back until the Challenge is seen waiting for propagation. The check is
 * configured as `serve --dns01-recursive-nameservers=<knot>
 * --dns01-recursive-nameservers-only` configures it, and the CA is the
 * in-memory one of the engine's unit tests, so "accepted" is the moment the
 * Challenge is posted to it.
 */
import {
  CreateHostedZoneCommand,
  ListResourceRecordSetsCommand,
  Route53Client,
} from "@aws-sdk/client-route-53";
import { Registry } from "prom-client";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Transport } from "../../src/acme/index.js";
import {
  type Dns01ChallengeInfo,
  type Dns01Provider,
  registerDns01Provider,
} from "../../src/acme/solvers/dns01/index.js";
import { createRfc2136Provider } from "../../src/acme/solvers/dns01/rfc2136/index.js";
import { createRoute53Factory } from "../../src/acme/solvers/dns01/route53/index.js";
import {
  CERTIFICATES,
  CHALLENGES,
  type Challenge,
  CLUSTER_ISSUERS,
  ORDERS,
  SECRETS,
} from "../../src/api/types.js";
import { dnsPropagation } from "../../src/engine/acme/index.js";
import { Engine } from "../../src/engine/engine.js";
import type { Certificate, IssuerResource, Secret } from "../../src/engine/lib/api.js";
import { createAcmeIssuerFactory } from "../../src/issuers/acme/index.js";
import { createDefaultIssuerRegistry } from "../../src/issuers/registry.js";
import { MemoryStore } from "../../src/store/memory/index.js";
import type { Store } from "../../src/store/types.js";
import { untilStore } from "../acme/until-store.js";
import { type Knot, startKnot } from "../dns/harness/knot.js";
import { FakeAcme } from "../engine/acme/fake-acme.js";
import { MotoServer } from "./harness.js";

const NS = "istio-ingress";
const CLUSTER_RESOURCE_NS = "meshsign-system";
const ZONE = "example.com.";

const moto = new MotoServer();
let knot: Knot;
let admin: Route53Client;
let zoneId = "";
/** Writes into knotd by RFC 2136, as the mirror of moto. */
let rfc2136: Dns01Provider;

const MIRROR: Dns01ChallengeInfo = {
  uid: "mirror",
  namespace: NS,
  dnsName: "mirror",
  key: "",
  resourceNamespace: NS,
  allowAmbientCredentials: false,
};

beforeAll(async () => {
  await moto.start();
  knot = await startKnot({ zones: [{ name: ZONE, records: ["www A 127.0.0.1"] }] });
  admin = new Route53Client({
    region: "us-east-1",
    endpoint: moto.directEndpoint,
    credentials: { accessKeyId: "AKIAMESHSIGNADMIN001", secretAccessKey: "admin" },
  });
  const created = await admin.send(
    new CreateHostedZoneCommand({ Name: ZONE, CallerReference: `${Date.now()}` }),
  );
  zoneId = (created.HostedZone?.Id ?? "").replace("/hostedzone/", "");
  // The engine's Route53 provider talks to moto through the recording proxy.
  registerDns01Provider("route53", createRoute53Factory({ endpoint: moto.endpoint }));
  const key = knot.key("HMACSHA256");
  rfc2136 = await createRfc2136Provider(
    {
      nameserver: knot.nameserver,
      tsigKeyName: key.name,
      tsigAlgorithm: "HMACSHA256",
      tsigSecretSecretRef: { name: "tsig", key: "secret" },
    },
    { secretNamespace: NS, issuerKind: "Issuer", readSecretKey: async () => key.secret, env: {} },
  );
});

const engines: Engine[] = [];
afterEach(async () => {
  moto.onAnswered = undefined;
  for (const e of engines.splice(0)) await e.stop();
});

afterAll(async () => {
  admin?.destroy();
  await moto.stop();
  await knot?.stop();
});

/** The TXT values moto holds at `fqdn`, unquoted. */
async function motoTxt(fqdn: string): Promise<string[]> {
  const out = await admin.send(
    new ListResourceRecordSetsCommand({
      HostedZoneId: zoneId,
      StartRecordName: fqdn,
      StartRecordType: "TXT",
      MaxItems: 1,
    }),
  );
  const set = out.ResourceRecordSets?.[0];
  if (set === undefined || set.Type !== "TXT" || set.Name !== fqdn) return [];
  return (set.ResourceRecords ?? []).map((r) => (r.Value ?? "").replace(/^"|"$/g, ""));
}

/** Makes knotd hold at `fqdn` exactly what moto holds, by RFC 2136 updates. */
async function mirror(fqdn: string): Promise<void> {
  const want = await motoTxt(fqdn);
  const have = await knot.txt(fqdn);
  for (const value of want.filter((v) => !have.includes(v)))
    await rfc2136.present({ fqdn, zone: ZONE, value }, MIRROR);
  for (const value of have.filter((v) => !want.includes(v)))
    await rfc2136.cleanUp({ fqdn, zone: ZONE, value }, MIRROR);
}

/**
 * Keeps knotd in step with moto: each ChangeResourceRecordSets moto answers is mirrored, but only
 * once `release()` was called (the delay of a real DNS provider's propagation); changes before it
 * wait and are mirrored then. `onKnot` says whether knotd holds the last value written.
 */
function follow() {
  const pending = new Set<string>();
  let released = false;
  let chain = Promise.resolve();
  const state = { onKnot: false, changes: 0, errors: [] as unknown[] };
  const run = (fqdn: string) => {
    chain = chain
      .then(() => mirror(fqdn))
      .then(async () => {
        state.onKnot = (await knot.txt(fqdn)).length > 0;
      })
      .catch((err: unknown) => {
        state.errors.push(err);
      });
  };
  moto.onAnswered = (r, status) => {
    if (r.action !== "ChangeResourceRecordSets" || status !== 200) return;
    const fqdn = /<Name>([^<]+)<\/Name>/.exec(r.body)?.[1];
    if (fqdn === undefined) return;
    state.changes++;
    if (released) run(fqdn);
    else pending.add(fqdn);
  };
  return {
    state,
    release: async () => {
      released = true;
      for (const fqdn of pending) run(fqdn);
      pending.clear();
      await chain;
    },
  };
}

function setup(transport: Transport) {
  const store = new MemoryStore();
  const registry = createDefaultIssuerRegistry().register("acme", createAcmeIssuerFactory({ transport }));
  const engine = new Engine({
    store,
    registry,
    metricsRegistry: new Registry(),
    acme: {
      // serve's --dns01-recursive-nameservers=<knot> --dns01-recursive-nameservers-only.
      dns01Propagation: dnsPropagation({
        recursiveNameservers: [knot.nameserver],
        recursiveOnly: true,
        queryTimeoutMs: 10_000,
      }),
    },
  });
  engines.push(engine);
  return { store, engine };
}

async function createFixtures(store: Store, acme: FakeAcme): Promise<void> {
  await store.create(SECRETS, {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "route53-credentials", namespace: CLUSTER_RESOURCE_NS },
    data: { "secret-access-key": Buffer.from("not-a-real-secret").toString("base64") },
  } as Secret);
  await store.create(CLUSTER_ISSUERS, {
    apiVersion: "cert-manager.io/v1",
    kind: "ClusterIssuer",
    metadata: { name: "route53" },
    spec: {
      acme: {
        server: acme.directoryUrl,
        email: "ops@example.com",
        privateKeySecretRef: { name: "route53-account" },
        solvers: [
          {
            dns01: {
              route53: {
                region: "us-east-1",
                hostedZoneID: zoneId,
                accessKeyID: "AKIAMESHSIGNSTATIC01",
                secretAccessKeySecretRef: { name: "route53-credentials", key: "secret-access-key" },
              },
            },
          },
        ],
      },
    },
  } satisfies IssuerResource);
  await store.create(CERTIFICATES, {
    apiVersion: "cert-manager.io/v1",
    kind: "Certificate",
    metadata: { name: "shop", namespace: NS },
    spec: {
      secretName: "shop-tls",
      dnsNames: ["www.example.com"],
      issuerRef: { name: "route53", kind: "ClusterIssuer" },
    },
  } satisfies Certificate);
}

const until = <T>(store: Store, check: () => Promise<T | undefined>, what: string) =>
  untilStore(store, [CERTIFICATES, ORDERS, CHALLENGES, CLUSTER_ISSUERS], check, what, 120_000);

async function eventually<T>(check: () => Promise<T | undefined>, what: string): Promise<T> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe("Route53 DNS-01 with the propagation check at a real DNS server (knotd kept in step with moto)", () => {
  it("does not accept the Challenge while the record is only in Route53, accepts it once knotd serves it, and both are cleaned up", async () => {
    const acme = new FakeAcme();
    let acceptedWhileOnKnot: boolean | undefined;
    const dns = follow();
    // Where the record stood when the Challenge was posted to the CA.
    const { store, engine } = setup((method, url, body) => {
      if (url.includes("/chall/") && acceptedWhileOnKnot === undefined)
        acceptedWhileOnKnot = dns.state.onKnot;
      return acme.transport(method, url, body);
    });
    await createFixtures(store, acme);
    await engine.start();

    const fqdn = "_acme-challenge.www.example.com.";
    // Presented into Route53, and the check at knotd says it is not there yet.
    const waiting = await until(
      store,
      async () =>
        (await store.list<Challenge>(CHALLENGES, { namespace: NS })).find((c) =>
          /^Waiting for DNS-01 challenge propagation: /.test(c.status?.reason ?? ""),
        ),
      "the Challenge to wait for propagation",
    );
    expect(waiting.status?.presented).toBe(true);
    expect(await motoTxt(fqdn)).toEqual([waiting.spec.key]);
    expect(await knot.txt(fqdn)).toEqual([]);
    expect(acme.counts.get("accept")).toBeUndefined();

    // The record reaches knotd: the next check finds it and the Challenge is accepted.
    await dns.release();
    expect(await knot.txt(fqdn)).toEqual([waiting.spec.key]);
    await until(
      store,
      async () => {
        const c = await store.get<Certificate>(CERTIFICATES, NS, "shop");
        return c?.status?.conditions?.some((x) => x.type === "Ready" && x.status === "True") ? c : undefined;
      },
      "the Certificate to be Ready",
    );
    expect(acme.counts.get("accept")).toBe(1);
    expect(acceptedWhileOnKnot).toBe(true);

    // The clean-up removes the record from Route53, and the mirror from knotd.
    await eventually(async () => ((await motoTxt(fqdn)).length === 0 ? true : undefined), "Route53 clean-up");
    await eventually(async () => ((await knot.txt(fqdn)).length === 0 ? true : undefined), "knotd in step");
    expect(dns.state.errors).toEqual([]);
    expect(dns.state.changes).toBeGreaterThanOrEqual(2);
  });
});
