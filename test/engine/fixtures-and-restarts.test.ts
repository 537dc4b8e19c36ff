import { Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { CERTIFICATE_REQUESTS, CERTIFICATES, CLUSTER_ISSUERS, ISSUERS, SECRETS } from "../../src/api/types.js";
import { Engine } from "../../src/engine/engine.js";
import type { Certificate, CertificateRequest, IssuerResource } from "../../src/engine/lib/api.js";
import { MeshsignError } from "../../src/errors/index.js";
import type { Issuer, SignResult } from "../../src/issuers/issuer.js";
import { createAcmeIssuerFactory } from "../../src/issuers/acme/index.js";
import { createDefaultIssuerRegistry, type IssuerRegistry } from "../../src/issuers/registry.js";
import { MemoryStore } from "../../src/store/memory/index.js";
import type { KubeObject, ResourceType, Store } from "../../src/store/types.js";
import { certificate, clusterIssuer, loadFixture } from "./lib/builders.js";
import { FakeClock, fixedRandom } from "./lib/fake-clock.js";

const START = Date.parse("2026-01-01T00:00:00Z");
const HOUR = 3_600_000;
const TYPES: Record<string, ResourceType> = { Certificate: CERTIFICATES, ClusterIssuer: CLUSTER_ISSUERS, Issuer: ISSUERS, Secret: SECRETS };

async function apply(store: Store, objects: KubeObject[]): Promise<void> {
  for (const o of objects) {
    const type = TYPES[o.kind];
    if (type !== undefined) await store.create(type, structuredClone(o));
  }
}

const cond = (o: { status?: { conditions?: { type: string; status: string; reason?: string; message?: string }[] } } | undefined, type: string) =>
  o?.status?.conditions?.find((c) => c.type === type);

const engines: Engine[] = [];
afterEach(async () => {
  for (const e of engines.splice(0)) await e.stop();
});

function startEngine(store: Store, clock: FakeClock, registry?: IssuerRegistry): Engine {
  const e = new Engine({ store, clock, random: fixedRandom(0), metricsRegistry: new Registry(), ...(registry ? { registry } : {}) });
  engines.push(e);
  return e;
}

describe("example manifests", () => {
  it("brings every Certificate of pki-bootstrap.yaml and gateway-certificate.yaml to Ready, with the gateway's secretTemplate applied", async () => {
    const clock = new FakeClock(START);
    const store = new MemoryStore({ now: () => clock.now() });
    await apply(store, [...loadFixture("pki-bootstrap.yaml"), ...loadFixture("gateway-certificate.yaml")]);
    const engine = startEngine(store, clock);
    await engine.start();
    await engine.idle();
    for (const c of await store.list<Certificate>(CERTIFICATES)) expect([c.metadata.name, cond(c, "Ready")?.status]).toEqual([c.metadata.name, "True"]);
    const gw = await store.get<KubeObject & { data?: Record<string, string> }>(SECRETS, "istio-ingress", "shop-example-com-tls");
    expect(gw?.metadata.labels).toMatchObject({ "app.kubernetes.io/part-of": "storefront", "controller.cert-manager.io/fao": "true" });
    expect(gw?.metadata.annotations).toMatchObject({ "team.example.com/owner": "storefront", "cert-manager.io/common-name": "shop.example.com", "cert-manager.io/subject-organizations": "Example Shop Ltd" });
    const gwCert = await store.get<Certificate>(CERTIFICATES, "istio-ingress", "shop-example-com");
    // renewBefore 360h on a 2160h certificate.
    expect(Date.parse(gwCert?.status?.notAfter ?? "") - Date.parse(gwCert?.status?.renewalTime ?? "")).toBe(360 * HOUR);
  });

  it("re-applies a changed secretTemplate in place without issuing again", async () => {
    const clock = new FakeClock(START);
    const store = new MemoryStore({ now: () => clock.now() });
    await apply(store, [...loadFixture("pki-bootstrap.yaml"), ...loadFixture("gateway-certificate.yaml")]);
    const engine = startEngine(store, clock);
    await engine.start();
    await engine.idle();
    const c = (await store.get<Certificate>(CERTIFICATES, "istio-ingress", "shop-example-com")) as Certificate;
    await store.update<Certificate>(CERTIFICATES, { ...c, spec: { ...c.spec, secretTemplate: { labels: { tier: "edge" } } } });
    await engine.idle();
    const s = await store.get<KubeObject>(SECRETS, "istio-ingress", "shop-example-com-tls");
    expect(s?.metadata.labels?.tier).toBe("edge");
    expect(s?.metadata.labels?.["app.kubernetes.io/part-of"]).toBeUndefined();
    expect(s?.metadata.annotations?.["team.example.com/owner"]).toBeUndefined();
    expect((await store.get<Certificate>(CERTIFICATES, "istio-ingress", "shop-example-com"))?.status?.revision).toBe(1);
  });

  it.each([
    ["acme-http01.yaml"],
    ["acme-dns01-rfc2136.yaml"],
    ["acme-dns01-providers.yaml"],
    ["acme-eab.yaml"],
  ])("loads %s; with its ACME server unreachable the issuer is not ready (ErrRegisterACMEAccount) and the request waits, Pending", async (file) => {
    const clock = new FakeClock(START);
    const store = new MemoryStore({ now: () => clock.now() });
    const objects = loadFixture(file);
    await apply(store, objects);
    // No network in unit tests: every ACME request fails as an unreachable server does.
    const unreachable = async (): Promise<never> => {
      throw new MeshsignError("ERR_ACME_UNAVAILABLE", "ACME server unreachable: ECONNREFUSED", { retry: "transient" });
    };
    const registry = createDefaultIssuerRegistry().register("acme", createAcmeIssuerFactory({ transport: unreachable }));
    const engine = startEngine(store, clock, registry);
    await engine.start();
    await engine.idle();
    const issuers = [...(await store.list<IssuerResource>(ISSUERS)), ...(await store.list<IssuerResource>(CLUSTER_ISSUERS))];
    expect(issuers.length).toBeGreaterThan(0);
    for (const i of issuers) expect(cond(i, "Ready")).toMatchObject({ status: "False", reason: "ErrRegisterACMEAccount", message: expect.stringMatching(/unreachable/) });
    for (const c of await store.list<Certificate>(CERTIFICATES)) {
      expect(cond(c, "Ready")?.status).toBe("False");
      expect(cond(c, "Issuing")?.status).toBe("True");
      const crs = await store.list<CertificateRequest>(CERTIFICATE_REQUESTS, { namespace: c.metadata.namespace ?? "" });
      expect(cond(crs[0], "Ready")).toMatchObject({ reason: "Pending", message: expect.stringMatching(/not ready/) });
    }
  });
});

/** A remote-like issuer whose durable state (by requestId) survives engine restarts. */
class SlowIssuer implements Issuer {
  readonly kind = "slow";
  constructor(
    readonly calls: Map<string, number>,
    readonly pendingCalls: number,
  ) {}
  status() {
    return { ready: true, reason: "Ready", message: "" };
  }
  async sign(req: Parameters<Issuer["sign"]>[0]): Promise<SignResult> {
    const n = (this.calls.get(req.requestId) ?? 0) + 1;
    this.calls.set(req.requestId, n);
    if (n <= this.pendingCalls) return { status: "pending", reason: "OrderPending", message: "order is pending", retryAfterMs: 60_000 };
    // Sign through SelfSigned-like behaviour is not possible without the key; use a CA built in the test.
    return signer.sign(req);
  }
}
let signer: Issuer;

describe("pending and rejected issuance", () => {
  it("resumes a Pending request after an engine restart without creating a second request", async () => {
    const clock = new FakeClock(START);
    const store = new MemoryStore({ now: () => clock.now() });
    // The "slow" backend signs with a CA issuer built from a bootstrap root.
    await apply(store, loadFixture("pki-bootstrap.yaml"));
    const boot = startEngine(store, clock);
    await boot.start();
    await boot.idle();
    await boot.stop();
    engines.splice(0);
    const registry0 = createDefaultIssuerRegistry();
    const built = await registry0.build({ kind: "ClusterIssuer", metadata: { name: "mesh-ca" }, spec: { ca: { secretName: "mesh-root-ca" } } }, async (name) => {
      const s = await store.get<KubeObject & { data?: Record<string, string> }>(SECRETS, "meshsign-system", name);
      return Object.fromEntries(Object.entries(s?.data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64").toString()]));
    });
    signer = built.issuer;

    const calls = new Map<string, number>();
    const registry = () => createDefaultIssuerRegistry().register("slow", async () => ({ issuer: new SlowIssuer(calls, 2), secretNames: [] }));
    await apply(store, [clusterIssuer("remote", { slow: {} }), certificate("api", "apps", { issuerRef: { name: "remote", kind: "ClusterIssuer" } })]);

    const first = startEngine(store, clock, registry());
    await first.start();
    await first.idle();
    const crs1 = await store.list<CertificateRequest>(CERTIFICATE_REQUESTS, { namespace: "apps" });
    expect(crs1).toHaveLength(1);
    expect(cond(crs1[0], "Ready")).toMatchObject({ status: "False", reason: "Pending", message: "order is pending" });
    await first.stop();
    engines.splice(0);

    const second = startEngine(store, clock, registry());
    await second.start();
    await second.idle();
    await clock.advance(2 * 60_000, () => second.idle());
    const cert = await store.get<Certificate>(CERTIFICATES, "apps", "api");
    expect(cond(cert, "Ready")?.status).toBe("True");
    const crs2 = await store.list<CertificateRequest>(CERTIFICATE_REQUESTS, { namespace: "apps" });
    expect(crs2.map((c) => c.metadata.name)).toEqual([crs1[0]?.metadata.name]);
    expect([...calls.values()]).toEqual([3]);
    const staged = (await store.list<KubeObject>(SECRETS, { namespace: "apps" })).filter((s) => s.metadata.labels?.["cert-manager.io/next-private-key"] === "true");
    expect(staged).toHaveLength(0);
  });

  it("backs off 1h then 2h after terminal rejections, and a manual renewal skips the back-off", async () => {
    const clock = new FakeClock(START);
    const store = new MemoryStore({ now: () => clock.now() });
    let attempts = 0;
    const rejecting: Issuer = {
      kind: "rejecting",
      status: () => ({ ready: true, reason: "Ready", message: "" }),
      sign: async () => {
        attempts++;
        throw new MeshsignError("ERR_ISSUER_REJECTED", "policy forbids this name");
      },
    };
    const registry = createDefaultIssuerRegistry().register("rejecting", async () => ({ issuer: rejecting, secretNames: [] }));
    await apply(store, [clusterIssuer("strict", { rejecting: {} }), certificate("denied", "apps", { issuerRef: { name: "strict", kind: "ClusterIssuer" } })]);
    const engine = startEngine(store, clock, registry);
    await engine.start();
    await engine.idle();
    const get = () => store.get<Certificate>(CERTIFICATES, "apps", "denied");
    expect(attempts).toBe(1);
    expect((await get())?.status).toMatchObject({ failedIssuanceAttempts: 1, lastFailureTime: "2026-01-01T00:00:00Z" });
    expect(cond(await get(), "Issuing")).toMatchObject({ status: "False", reason: "Failed" });
    expect(cond(await get(), "Issuing")?.message).toContain("policy forbids this name");

    await clock.advanceTo(START + HOUR - 1000, () => engine.idle());
    expect(attempts).toBe(1);
    await clock.advanceTo(START + HOUR, () => engine.idle());
    expect(attempts).toBe(2);
    expect((await get())?.status?.failedIssuanceAttempts).toBe(2);
    await clock.advanceTo(START + 3 * HOUR - 1000, () => engine.idle());
    expect(attempts).toBe(2);
    await engine.renew("apps", "denied");
    await engine.idle();
    expect(attempts).toBe(3);
    expect((await store.list<CertificateRequest>(CERTIFICATE_REQUESTS, { namespace: "apps" })).length).toBe(1);
  });
});


describe("coexisting with cert-manager", () => {
  it("reconciles only the selected Certificates and leaves the others untouched (no request, no Secret, no status, no renew)", async () => {
    const clock = new FakeClock(START);
    const store = new MemoryStore({ now: () => clock.now() });
    const objects = loadFixture("pki-bootstrap.yaml");
    // Every Certificate of the fixture is meshsign's except the leaf, which cert-manager keeps.
    for (const o of objects) if (o.kind === "Certificate" && o.metadata.name !== "internal-api") o.metadata.labels = { ...o.metadata.labels, "meshsign.io/managed": "true" };
    await apply(store, objects);
    const e = new Engine({
      store,
      clock,
      random: fixedRandom(0),
      selectCertificate: (c) => c.metadata.labels?.["meshsign.io/managed"] === "true",
    });
    engines.push(e);
    await e.start();
    await e.idle();
    const leaf = await store.get<Certificate>(CERTIFICATES, "prod", "internal-api");
    expect(leaf?.status).toBeUndefined();
    expect(await store.get(SECRETS, "prod", leaf?.spec.secretName ?? "")).toBeUndefined();
    expect((await store.list<CertificateRequest>(CERTIFICATE_REQUESTS, { namespace: "prod" })).length).toBe(0);
    expect((await e.list()).map((c) => c.name)).not.toContain("internal-api");
    await expect(e.renew("prod", "internal-api")).rejects.toThrow(/not managed by this meshsign/);
    const root = await store.get<Certificate>(CERTIFICATES, "meshsign-system", "mesh-root");
    expect(cond(root, "Ready")?.status).toBe("True");
  });
});
