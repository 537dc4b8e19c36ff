import { X509Certificate } from "node:crypto";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { CERTIFICATE_REQUESTS, CERTIFICATES, CLUSTER_ISSUERS, SECRETS } from "../../src/api/types.js";
import { MAX_CERTIFICATE_NAMES_BYTES, certificateNamesBytes, validateResource } from "../../src/api/index.js";
import { Engine, type EngineFailure, MemoryEventRecorder } from "../../src/engine/index.js";
import { buildCsr, ENGINE_MAX_CSR_BYTES, parseCsr } from "../../src/engine/csr.js";
import { generatePrivateKey } from "../../src/engine/keys.js";
import type { Certificate, CertificateRequest, Secret } from "../../src/engine/lib/api.js";
import { resolveSpec } from "../../src/engine/lib/spec.js";
import { MeshsignError } from "../../src/errors/index.js";
import type { Issuer, SignResult } from "../../src/issuers/issuer.js";
import { createDefaultIssuerRegistry } from "../../src/issuers/registry.js";
import { SelfSignedIssuer } from "../../src/issuers/selfsigned/selfsigned-issuer.js";
import { MemoryStore } from "../../src/store/memory/index.js";
import type { KubeObject, ResourceType, Store } from "../../src/store/types.js";
import { certificate, clusterIssuer, decode } from "./lib/builders.js";
import { FakeClock, fixedRandom } from "./lib/fake-clock.js";

const START = Date.parse("2026-01-01T00:00:00Z");
const MINUTE = 60_000;
const HOUR = 3_600_000;

/** `n` service names of about 30 characters each. */
const names = (n: number): string[] => Array.from({ length: n }, (_, i) => `host-${i}.tenant.example.com`);

type IssuerBehaviour = "selfsigned" | "rejects" | "unavailable" | "garbage";
type StoreFault = "none" | "request-create" | "key-create" | "secret-write" | "certificate-status" | "request-status";

/** What the engine did, each with the simulated instant it happened at. */
interface Recorder {
  readonly writes: number[];
  readonly requestCreates: number[];
  readonly keyCreates: number[];
  readonly signs: number[];
}

/**
 * The memory store, with every write timed and, for `fault`, refused the way
 * a full disk refuses it (ERR_STORE_UNAVAILABLE, transient).
 */
function instrumentedStore(inner: MemoryStore, clock: FakeClock, rec: Recorder, fault: StoreFault): Store {
  const refused = (): never => {
    throw new MeshsignError("ERR_STORE_UNAVAILABLE", "store refused the write: no space left on device", { retry: "transient" });
  };
  return new Proxy(inner, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== "function") return value;
      if (prop !== "create" && prop !== "update" && prop !== "updateStatus" && prop !== "delete") return value.bind(target);
      return async (type: ResourceType, object: KubeObject, ...rest: unknown[]) => {
        const now = clock.now();
        rec.writes.push(now);
        // A runaway loop never yields to the timers: stop it here so the bounds below fail instead of hanging.
        if (rec.writes.length > 3_000) throw new MeshsignError("ERR_STORE_UNAVAILABLE", "runaway: more than 3,000 writes", { retry: "transient" });
        const isKey = type === SECRETS && prop === "create" && (object as Secret).metadata.labels?.["cert-manager.io/next-private-key"] === "true";
        if (prop === "create" && type === CERTIFICATE_REQUESTS) {
          rec.requestCreates.push(now);
          if (fault === "request-create") refused();
        }
        if (isKey) {
          rec.keyCreates.push(now);
          if (fault === "key-create") refused();
        }
        if (fault === "secret-write" && type === SECRETS && !isKey && prop !== "delete") refused();
        if (fault === "certificate-status" && type === CERTIFICATES && prop === "updateStatus") refused();
        if (fault === "request-status" && type === CERTIFICATE_REQUESTS && prop === "updateStatus") refused();
        return (value as (...a: unknown[]) => Promise<unknown>).call(target, type, object, ...rest);
      };
    },
  }) as Store;
}

/**
 * A registry whose `selfSigned` backend behaves as asked (the real one for "selfsigned"); with
 * `afterFirst`, it issues the first certificate for real and misbehaves from the renewal on.
 */
function registryWith(behaviour: IssuerBehaviour, rec: Recorder, clock: FakeClock, afterFirst = false) {
  const registry = createDefaultIssuerRegistry();
  if (behaviour === "selfsigned") return registry;
  const real = new SelfSignedIssuer();
  const issuer: Issuer = {
    kind: "selfsigned",
    status: () => ({ ready: true, reason: "IsReady", message: "ready" }),
    async sign(request): Promise<SignResult> {
      rec.signs.push(clock.now());
      if (afterFirst && rec.signs.length === 1) return real.sign(request);
      if (behaviour === "rejects") throw new MeshsignError("ERR_SIGNING_FAILED", "the CA refused to sign: policy violation");
      if (behaviour === "unavailable") throw new MeshsignError("ERR_ISSUER_UNAVAILABLE", "issuer unreachable", { retry: "transient" });
      return { status: "issued", chain: ["-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"] };
    },
  };
  return registry.register("selfSigned", async () => ({ issuer, secretNames: [] }));
}

/** The most events of `times` that fall in any one window of `windowMs`. */
function maxInWindow(times: readonly number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0;
  let start = 0;
  for (let end = 0; end < sorted.length; end++) {
    while ((sorted[end] as number) - (sorted[start] as number) >= windowMs) start++;
    best = Math.max(best, end - start + 1);
  }
  return best;
}

describe("no spec or fault makes the engine retry in a loop", () => {
  let engine: Engine | undefined;
  afterEach(async () => {
    await engine?.stop();
    engine = undefined;
  });

  async function run(options: { cert: Certificate; issuer?: IssuerBehaviour; afterFirst?: boolean; fault?: StoreFault; issuerSpec?: Record<string, unknown> }) {
    const clock = new FakeClock(START);
    const rec: Recorder = { writes: [], requestCreates: [], keyCreates: [], signs: [] };
    const memory = new MemoryStore({ now: () => clock.now() });
    await memory.create(CLUSTER_ISSUERS, clusterIssuer("selfsigned", (options.issuerSpec ?? { selfSigned: {} }) as never));
    await memory.create(CERTIFICATES, structuredClone(options.cert));
    const store = instrumentedStore(memory, clock, rec, options.fault ?? "none");
    const events = new MemoryEventRecorder({ clock, ttlMs: 100 * HOUR });
    const failures: EngineFailure[] = [];
    const e = new Engine({ store, clock, random: fixedRandom(0), events, registry: registryWith(options.issuer ?? "selfsigned", rec, clock, options.afterFirst), onFailure: (f) => failures.push(f) });
    engine = e;
    await e.start();
    const settle = () => e.idle();
    await settle();
    const get = () => memory.get<Certificate>(CERTIFICATES, options.cert.metadata.namespace, options.cert.metadata.name ?? "");
    return { clock, settle, rec, events, failures, get, memory, engine: e };
  }

  it("issues a Certificate with 600 dnsNames, whose CSR is larger than the CreateCertificate port's 16 KiB", async () => {
    const { rec, memory, get } = await run({ cert: certificate("wide", "apps", { dnsNames: names(600), privateKey: { algorithm: "ECDSA", size: 256 } }) });
    expect((await get())?.status?.conditions?.find((c) => c.type === "Ready")?.status).toBe("True");
    const [request] = await memory.list<CertificateRequest>(CERTIFICATE_REQUESTS, { namespace: "apps" });
    expect(Buffer.from(request?.spec.request ?? "", "base64").length).toBeGreaterThan(16 * 1024);
    const leaf = new X509Certificate(decode(await memory.get<Secret>(SECRETS, "apps", "wide-tls"), "tls.crt"));
    expect(leaf.subjectAltName?.split(", ")).toHaveLength(600);
    expect(rec.requestCreates).toHaveLength(1);
  });

  it("refuses a Certificate with 10,000 dnsNames once, naming the limit, and retries it only after the back-off (1h, 2h, 4h ...)", async () => {
    const { clock, settle, rec, get, events, failures } = await run({ cert: certificate("huge", "apps", { dnsNames: names(10_000), privateKey: { algorithm: "ECDSA", size: 256 } }) });
    const first = await get();
    const issuing = first?.status?.conditions?.find((c) => c.type === "Issuing");
    expect(issuing).toMatchObject({ status: "False", reason: "Failed" });
    expect(issuing?.message).toContain(`at most ${MAX_CERTIFICATE_NAMES_BYTES} bytes of names`);
    expect(issuing?.message).toContain("10000 entries");
    // Refused before any key, request or signature.
    expect(rec.keyCreates).toHaveLength(0);
    expect(rec.requestCreates).toHaveLength(0);
    expect(first?.status?.failedIssuanceAttempts).toBe(1);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ certificate: "apps/huge", kind: "issuance", failedIssuanceAttempts: 1, retryAt: new Date(START + HOUR).toISOString(), suppressed: 0 });
    const writesAfterFirst = rec.writes.length;

    await clock.advanceTo(START + HOUR - MINUTE, settle);
    expect((await get())?.status?.failedIssuanceAttempts).toBe(1);
    expect(rec.writes.length).toBe(writesAfterFirst);
    await clock.advanceTo(START + HOUR + MINUTE, settle);
    expect((await get())?.status?.failedIssuanceAttempts).toBe(2);
    await clock.advanceTo(START + 3 * HOUR - MINUTE, settle);
    expect((await get())?.status?.failedIssuanceAttempts).toBe(2);
    await clock.advanceTo(START + 3 * HOUR + MINUTE, settle);
    expect((await get())?.status?.failedIssuanceAttempts).toBe(3);
    // One Event per reason, counted, not one per attempt; one failure report per attempt.
    const warnings = events.list("apps").filter((e) => e.type === "Warning");
    expect(warnings.map((e) => [e.reason, e.count])).toEqual([["Failed", 3]]);
    expect(failures.map((f) => f.failedIssuanceAttempts)).toEqual([1, 2, 3]);
  });

  it("retries at once when the spec is fixed after such a failure", async () => {
    const { clock, settle, get, memory } = await run({ cert: certificate("huge", "apps", { dnsNames: names(10_000), privateKey: { algorithm: "ECDSA", size: 256 } }) });
    const failed = (await get()) as Certificate;
    await memory.update<Certificate>(CERTIFICATES, { ...failed, spec: { ...failed.spec, dnsNames: names(50) } });
    await clock.advance(MINUTE, settle);
    expect((await get())?.status?.conditions?.find((c) => c.type === "Ready")?.status).toBe("True");
  });

  it("keeps the back-off for a request the engine cannot read back (it used to look like a changed spec)", async () => {
    const { clock, settle, rec, memory, get } = await run({ cert: certificate("odd", "apps", { privateKey: { algorithm: "ECDSA", size: 256 } }), issuer: "rejects" });
    expect((await get())?.status?.failedIssuanceAttempts).toBe(1);
    // Damage the failed request's CSR: the back-off must still hold for the unchanged spec.
    const [cr] = await memory.list<CertificateRequest>(CERTIFICATE_REQUESTS, { namespace: "apps" });
    await memory.update<CertificateRequest>(CERTIFICATE_REQUESTS, { ...(cr as CertificateRequest), spec: { ...(cr as CertificateRequest).spec, request: Buffer.from("not a CSR").toString("base64") } });
    // A label edit (no new generation) makes the engine look again.
    const current = (await get()) as Certificate;
    await memory.update<Certificate>(CERTIFICATES, { ...current, metadata: { ...current.metadata, labels: { team: "web" } } });
    await clock.advance(30 * MINUTE, settle);
    expect((await get())?.metadata.generation).toBe(current.metadata.generation);
    expect(rec.signs).toHaveLength(1);
    expect(rec.requestCreates).toHaveLength(1);
  });

  it("validation refuses what the engine cannot issue, naming the limit", () => {
    const result = validateResource(certificate("huge", "apps", { dnsNames: names(10_000) }));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors).toEqual([{ path: "spec.dnsNames", message: expect.stringContaining(`at most ${MAX_CERTIFICATE_NAMES_BYTES} bytes of names`) }]);
    expect(validateResource(certificate("wide", "apps", { dnsNames: names(600) })).ok).toBe(true);
  });

  it("reads back the CSR of the largest spec validation accepts, with room for an RSA 8192 key", async () => {
    // Names just under the limit: one long list of 253-character DNS names, then short ones to fill up.
    const long = `${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(61)}`;
    const dnsNames: string[] = [];
    let size = 0;
    for (let i = 0; size + 260 < MAX_CERTIFICATE_NAMES_BYTES; i++) {
      const name = `${i}${long}`.slice(0, 253);
      dnsNames.push(name);
      size += name.length + 4;
    }
    const cert = certificate("full", "apps", { dnsNames, uris: ["spiffe://cluster.local/ns/apps/sa/full"], privateKey: { algorithm: "ECDSA", size: 256 } });
    expect(validateResource(cert).ok).toBe(true);
    const spec = resolveSpec(cert.spec);
    const pem = buildCsr(cert.spec, spec, await generatePrivateKey(spec));
    expect(parseCsr(pem).dnsNames).toHaveLength(dnsNames.length);
    // An RSA 8192 key adds about 2.1 KB of DER over P-256 (public key and signature): 2.9 KB of PEM.
    expect(pem.length + 4096).toBeLessThan(ENGINE_MAX_CSR_BYTES);
  });

  it("never counts a spec's names smaller than the CSR encodes them (property)", async () => {
    const key = await generatePrivateKey(resolveSpec(certificate("x", "apps", { privateKey: { algorithm: "ECDSA", size: 256 } }).spec));
    const derSize = (c: Certificate) => Buffer.from(buildCsr(c.spec, resolveSpec(c.spec), key).replace(/-----[^-]+-----|\s/g, ""), "base64").length;
    const empty = derSize(certificate("x", "apps", { dnsNames: [], commonName: "a" }));
    const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?$/);
    const dns = fc.array(label, { minLength: 1, maxLength: 4 }).map((l) => l.join("."));
    const ip = fc.oneof(fc.ipV4(), fc.ipV6());
    const text = fc.string({ unit: "grapheme", minLength: 1, maxLength: 40 });
    fc.assert(
      fc.property(
        fc.record({
          dnsNames: fc.array(dns, { maxLength: 40 }),
          ipAddresses: fc.array(ip, { maxLength: 10 }),
          uris: fc.array(dns.map((d) => `spiffe://${d}/ns/x/sa/y`), { maxLength: 10 }),
          emailAddresses: fc.array(dns.map((d) => `user@${d}`), { maxLength: 10 }),
          commonName: fc.option(text.filter((t) => t.length <= 64 && t.trim() !== ""), { nil: undefined }),
          organizations: fc.array(text, { maxLength: 3 }),
        }),
        ({ organizations, ...names }) => {
          const c = certificate("x", "apps", { ...names, ...(organizations.length > 0 ? { subject: { organizations } } : {}) });
          const counted = Object.values(certificateNamesBytes(c.spec)).reduce((a, b) => a + b, 0);
          // The fixed part (key, signature, extension headers) is in `empty`; a few bytes of slack for
          // ECDSA signatures that vary in length and for length fields that grow.
          expect(derSize(c) - empty).toBeLessThanOrEqual(counted + 32);
        },
      ),
      { numRuns: 200, seed: 20 },
    );
  });

  it("issues a Certificate with a fractional duration once (the request keeps the exact duration)", async () => {
    const { clock, settle, rec, get, memory } = await run({ cert: certificate("frac", "apps", { duration: "1h0m0.5s", privateKey: { algorithm: "ECDSA", size: 256 } }) });
    await clock.advance(30 * MINUTE, settle);
    expect(rec.requestCreates).toHaveLength(1);
    expect((await get())?.status?.conditions?.find((c) => c.type === "Ready")?.status).toBe("True");
    const [cr] = await memory.list<CertificateRequest>(CERTIFICATE_REQUESTS, { namespace: "apps" });
    expect(cr?.spec.duration).toBe("1h0m0.5s");
  });

  it("limits automatic re-issuance to 5 in a row then one every 12 minutes, and says so", async () => {
    const { clock, settle, rec, events, failures } = await run({ cert: certificate("eager", "apps", { duration: "1h", renewBefore: "59m59s", privateKey: { algorithm: "ECDSA", size: 256 } }) });
    await clock.advance(2 * HOUR, settle);
    // The first issuance and four renewals at once, then one every 12 minutes.
    expect(rec.requestCreates.filter((t) => t < START + MINUTE)).toHaveLength(5);
    expect(maxInWindow(rec.requestCreates.filter((t) => t >= START + MINUTE), HOUR)).toBeLessThanOrEqual(5);
    expect(rec.requestCreates.length).toBeGreaterThanOrEqual(12);
    const limited = events.list("apps").filter((e) => e.reason === "ReissueLimited");
    expect(limited.length).toBeGreaterThan(0);
    expect(limited[0]?.message).toContain("waiting to act on Renewing");
    expect(failures.some((f) => f.kind === "throttled" && f.reason === "ReissueLimited")).toBe(true);
  });

  it("reports a store that refuses writes once a minute at most, retrying 5 s doubling to 5 min", async () => {
    const { clock, settle, failures, rec } = await run({ cert: certificate("web", "apps", { privateKey: { algorithm: "ECDSA", size: 256 } }), fault: "request-create" });
    await clock.advance(HOUR, settle);
    expect(failures.length).toBeGreaterThan(1);
    expect(failures.every((f) => f.kind === "reconcile" && f.reason === "ERR_STORE_UNAVAILABLE" && f.certificate === "apps/web")).toBe(true);
    expect(maxInWindow(rec.requestCreates, MINUTE)).toBeLessThanOrEqual(6);
    expect(failures.reduce((n, f) => n + 1 + f.suppressed, 0)).toBeLessThanOrEqual(rec.requestCreates.length);
    // Key staged once, not once per retry.
    expect(rec.keyCreates).toHaveLength(1);
  });

  it("bounds issuance attempts and store writes per hour for any failing spec, issuer or store fault (property)", async () => {
    type Scenario = { spec: "ok" | "oversize" | "unencodable" | "issuerMissing" | "issuerTypeMissing" | "renewEverySecond" | "fractionalDuration"; issuer: IssuerBehaviour; afterFirst: boolean; fault: StoreFault; hours: number };
    const scenario = fc.record({
      spec: fc.constantFrom<Scenario["spec"]>("ok", "oversize", "unencodable", "issuerMissing", "issuerTypeMissing", "renewEverySecond", "fractionalDuration"),
      issuer: fc.constantFrom<IssuerBehaviour>("selfsigned", "rejects", "unavailable", "garbage"),
      afterFirst: fc.boolean(),
      fault: fc.constantFrom<StoreFault>("none", "request-create", "key-create", "secret-write", "certificate-status", "request-status"),
      hours: fc.integer({ min: 4, max: 24 }),
    });
    await fc.assert(
      fc.asyncProperty(scenario, async ({ spec, issuer, afterFirst, fault, hours }) => {
        const base = { privateKey: { algorithm: "ECDSA" as const, size: 256 } };
        const cert =
          spec === "oversize"
            ? certificate("c", "apps", { ...base, dnsNames: names(10_000) })
            : spec === "unencodable"
              ? certificate("c", "apps", { ...base, ipAddresses: ["10.0.0.256"] })
              : spec === "issuerMissing"
                ? certificate("c", "apps", { ...base, issuerRef: { name: "nowhere", kind: "ClusterIssuer" } })
                : spec === "renewEverySecond"
                  ? certificate("c", "apps", { ...base, duration: "1h", renewBefore: "59m59s" })
                  : spec === "fractionalDuration"
                    ? certificate("c", "apps", { ...base, duration: "1h0m0.5s" })
                    : certificate("c", "apps", base);
        const { clock, settle, rec, events } = await run({ cert, issuer, afterFirst, fault, ...(spec === "issuerTypeMissing" ? { issuerSpec: {} } : {}) });
        await clock.advance(hours * HOUR, settle);
        await engine?.stop();
        engine = undefined;
        // A failing issuance is retried on the 1h..32h back-off; transient faults on 5 s..5 min.
        // Either way a handful of attempts an hour, never hundreds.
        const attempts = [...rec.requestCreates, ...rec.keyCreates, ...rec.signs];
        expect(maxInWindow(rec.keyCreates, HOUR)).toBeLessThanOrEqual(20);
        expect(maxInWindow(rec.requestCreates, HOUR)).toBeLessThanOrEqual(20);
        expect(maxInWindow(rec.signs, HOUR)).toBeLessThanOrEqual(20);
        expect(maxInWindow(attempts, HOUR)).toBeLessThanOrEqual(40);
        // Journal growth: a bounded number of writes an hour (about ten per attempt at most).
        expect(maxInWindow(rec.writes, HOUR)).toBeLessThanOrEqual(200);
        // Events: counted, a few per reason, and none claiming a write the store refused.
        const onCertificate = events.list("apps").filter((e) => e.involvedObject.kind === "Certificate");
        expect(maxInWindow(onCertificate.map((e) => Date.parse(e.firstTimestamp)), HOUR)).toBeLessThanOrEqual(25);
        expect(onCertificate.reduce((n, e) => n + e.count, 0)).toBeLessThanOrEqual(25 + hours * 12);
        if (fault === "key-create") expect(onCertificate.filter((e) => e.reason === "Generated")).toEqual([]);
        // After the first hour: a working issuer re-issues at most 5 times an hour (the re-issue limit),
        // failing issuances settle to the issuance back-off (at most 2 new requests an hour).
        const later = rec.requestCreates.filter((t) => t >= START + HOUR);
        if (fault === "none" && issuer === "selfsigned") expect(maxInWindow(later, HOUR)).toBeLessThanOrEqual(6);
        if (fault === "none" && (issuer === "rejects" || issuer === "garbage") && !afterFirst) expect(maxInWindow(later, HOUR)).toBeLessThanOrEqual(2);
        if (fault === "none" && (issuer === "rejects" || issuer === "garbage") && afterFirst) expect(maxInWindow(rec.requestCreates.filter((t) => t >= START + 2 * HOUR), HOUR)).toBeLessThanOrEqual(2);
      }),
      {
        numRuns: 25,
        seed: 1809,
        // Every spec and every store fault at least once, whatever the seed draws.
        examples: [
          ...(["ok", "oversize", "unencodable", "issuerMissing", "issuerTypeMissing", "renewEverySecond", "fractionalDuration"] as const).map((spec) => [{ spec, issuer: "selfsigned" as const, afterFirst: false, fault: "none" as const, hours: 30 }] as [Scenario]),
          ...(["rejects", "unavailable", "garbage"] as const).flatMap((issuer) => [false, true].map((afterFirst) => [{ spec: "renewEverySecond" as const, issuer, afterFirst, fault: "none" as const, hours: 30 }] as [Scenario])),
          ...(["rejects", "unavailable", "garbage"] as const).map((issuer) => [{ spec: "ok" as const, issuer, afterFirst: false, fault: "none" as const, hours: 30 }] as [Scenario]),
          ...(["request-create", "key-create", "secret-write", "certificate-status", "request-status"] as const).map((fault) => [{ spec: "ok" as const, issuer: "selfsigned" as const, afterFirst: false, fault, hours: 30 }] as [Scenario]),
        ],
      },
    );
  }, 240_000);
});
