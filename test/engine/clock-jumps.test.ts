/**
 * The wall clock stepping forward or back (an NTP correction, a VM resumed from
 * a snapshot) under the engine's injected clock: one re-issue when a deadline
 * was jumped over, none when the clock goes back, back-off and pending polls
 * that never run early or in the past, a renewal time after the present, and
 * one request per revision throughout.
 */
import { Registry } from "prom-client";
import { afterEach, describe, expect, it, vi } from "vitest";
import { CERTIFICATE_REQUESTS, CERTIFICATES, CLUSTER_ISSUERS } from "../../src/api/types.js";
import { MAX_TIMER_STEP_MS, systemClock } from "../../src/engine/clock.js";
import { Engine } from "../../src/engine/engine.js";
import { ANN } from "../../src/engine/lib/annotations.js";
import type { Certificate, CertificateRequest } from "../../src/engine/lib/api.js";
import { MeshsignError } from "../../src/errors/index.js";
import type { Issuer } from "../../src/issuers/issuer.js";
import { createDefaultIssuerRegistry } from "../../src/issuers/registry.js";
import { MemoryStore } from "../../src/store/memory/index.js";
import { certificate, clusterIssuer } from "./lib/builders.js";
import { FakeClock, fixedRandom } from "./lib/fake-clock.js";

const START = Date.parse("2026-01-01T00:00:00Z");
const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
/** The leaf lives 24h and renews 8h before it expires (2/3 of its lifetime). */
const NOT_AFTER = START + DAY;
const RENEWAL = START + 16 * HOUR;
/** How often a pending request is asked again. */
const POLL = 5 * MIN;

type Mode = "issue" | "reject" | "pending";

const engines: Engine[] = [];
afterEach(async () => {
  for (const e of engines.splice(0)) await e.stop();
});

/** An engine with one 24h leaf on a SelfSigned ClusterIssuer whose answers the test chooses and whose calls it records. */
async function setup(mode: Mode) {
  const clock = new FakeClock(START);
  const store = new MemoryStore({ now: () => clock.now() });
  const gate = { mode, signs: [] as number[] };
  const registry = createDefaultIssuerRegistry();
  const resolve = registry.resolve.bind(registry);
  registry.resolve = (ref, ns) => {
    const real = resolve(ref, ns);
    if (real === undefined) return undefined;
    const gated: Issuer = {
      kind: real.kind,
      status: () => real.status(),
      sign: async (request) => {
        gate.signs.push(clock.now());
        if (gate.mode === "reject") throw new MeshsignError("ERR_ISSUER_REJECTED", "policy forbids this name");
        if (gate.mode === "pending") return { status: "pending", reason: "Pending", message: "waiting for approval", retryAfterMs: POLL };
        return real.sign(request);
      },
    };
    return gated;
  };
  await store.create(CLUSTER_ISSUERS, clusterIssuer("selfsigned", { selfSigned: {} }));
  await store.create(CERTIFICATES, certificate("web", "apps", { duration: "24h", privateKey: { algorithm: "ECDSA", size: 256 } }));
  /** When each CertificateRequest was created. */
  const created: number[] = [];
  store.watch<CertificateRequest>(CERTIFICATE_REQUESTS, (e) => {
    if (e.type === "ADDED") created.push(clock.now());
  });
  const engine = new Engine({ store, clock, registry, random: fixedRandom(0), metricsRegistry: new Registry() });
  engines.push(engine);
  await engine.start();
  const settle = () => engine.idle();
  await settle();
  const get = async () => (await store.get<Certificate>(CERTIFICATES, "apps", "web")) as Certificate;
  return { clock, store, engine, gate, created, settle, get };
}

type Harness = Awaited<ReturnType<typeof setup>>;

/** Where each row starts before the jump. */
const BEFORE: Record<string, { mode: Mode; prepare(h: Harness): Promise<void> }> = {
  // Revision 1 issued at START: notBefore START, notAfter START+24h, renewal START+16h.
  issued: { mode: "issue", prepare: async () => {} },
  // The first request was rejected at START: failedIssuanceAttempts 1, next attempt at START+1h.
  rejected: { mode: "reject", prepare: async () => {} },
  // Revision 1 issued; the renewal request (revision 2) created at START+16h is pending at the issuer.
  "renewal pending": {
    mode: "issue",
    prepare: async (h) => {
      h.gate.mode = "pending";
      await h.clock.advanceTo(RENEWAL, h.settle);
    },
  },
};

interface Row {
  readonly before: keyof typeof BEFORE;
  /** Where the wall clock lands. */
  readonly to: number;
  /** What the issuer answers after the jump. */
  readonly after: Mode;
  /** Offsets from the jump at which the issuer is called in the 12 hours after it. */
  readonly signsAt: readonly number[];
  /** CertificateRequests created after the jump (a rejected one is replaced by a new one of its revision). */
  readonly requests: number;
  /** status.revision at the end. */
  readonly revision: number;
}

const table: Record<string, Row> = {
  "forward past the renewal time: renewed once, at the jump": { before: "issued", to: RENEWAL + HOUR, after: "issue", signsAt: [0], requests: 1, revision: 2 },
  "forward past notAfter: renewed once, at the jump": { before: "issued", to: NOT_AFTER + 6 * HOUR, after: "issue", signsAt: [0], requests: 1, revision: 2 },
  "forward by a year: renewed once, at the jump": { before: "issued", to: START + 365 * DAY, after: "issue", signsAt: [0], requests: 1, revision: 2 },
  "back before the issued certificate's notBefore: nothing re-issued": { before: "issued", to: START - 2 * HOUR, after: "issue", signsAt: [], requests: 0, revision: 1 },
  "back by a month: nothing re-issued": { before: "issued", to: START - 30 * DAY, after: "issue", signsAt: [], requests: 0, revision: 1 },
  // The back-off counts from the recorded failure: the retry waits for START+1h, never runs early.
  "back before the rejected request's creation: the retry waits for its back-off": { before: "rejected", to: START - 3 * HOUR, after: "reject", signsAt: [4 * HOUR, 6 * HOUR, 10 * HOUR], requests: 3, revision: 0 },
  "forward past the back-off: one retry at the jump, then 2h and 4h back-off": { before: "rejected", to: START + 5 * HOUR, after: "reject", signsAt: [0, 2 * HOUR, 6 * HOUR], requests: 3, revision: 0 },
  // The pending request keeps its deadline on the wall clock; it is resumed, not re-created.
  "back before the pending renewal request's creation: the same request is signed at its poll": { before: "renewal pending", to: RENEWAL - 2 * HOUR, after: "issue", signsAt: [2 * HOUR + POLL], requests: 0, revision: 2 },
  "forward past notAfter while the renewal is pending: the same request is signed at the jump": { before: "renewal pending", to: NOT_AFTER + HOUR, after: "issue", signsAt: [0], requests: 0, revision: 2 },
};

describe("the engine's clock jumping forward and back", () => {
  it.each(Object.entries(table))("%s", async (_, row) => {
    const start = BEFORE[row.before] as (typeof BEFORE)[string];
    const h = await setup(start.mode);
    await start.prepare(h);
    const requestsBefore = h.created.length;
    const signsBefore = h.gate.signs.length;

    h.gate.mode = row.after;
    h.clock.jumpTo(row.to);
    await h.clock.advance(0, h.settle);
    // Nothing is scheduled in the past and the next check is never later than the renewal time.
    const check = async () => {
      const d = await h.engine.describe("apps", "web");
      const now = h.clock.now();
      if (d.nextCheck !== undefined) expect(Date.parse(d.nextCheck), `next check ${d.nextCheck} at ${new Date(now).toISOString()}`).toBeGreaterThanOrEqual(now);
      const issuing = d.conditions.some((c) => c.type === "Issuing" && c.status === "True");
      if (!issuing && d.renewalTime !== undefined && d.nextCheck !== undefined) expect(Date.parse(d.nextCheck)).toBeLessThanOrEqual(Date.parse(d.renewalTime));
    };
    await check();
    for (let i = 0; i < 12; i++) {
      await h.clock.advance(HOUR, h.settle);
      await check();
    }

    expect(h.gate.signs.slice(signsBefore).map((t) => (t - row.to) / MIN)).toEqual(row.signsAt.map((t) => t / MIN));
    const cert = await h.get();
    expect(cert.status?.revision ?? 0).toBe(row.revision);
    // One request per revision, whatever the clock did.
    const revisions = (await h.store.list<CertificateRequest>(CERTIFICATE_REQUESTS, { namespace: "apps" })).map((r) => r.metadata.annotations?.[ANN.certificateRevision]);
    expect(new Set(revisions).size).toBe(revisions.length);
    // Never more requests than attempts: a pending request is resumed, not re-created.
    expect(h.created.length - requestsBefore, "requests created after the jump").toBe(row.requests);
    if (row.revision > 0) {
      expect(cert.status?.conditions?.find((c) => c.type === "Ready")?.status).toBe("True");
      // The renewal time follows the certificate in the Secret and is after the present.
      const notAfter = Date.parse(cert.status?.notAfter ?? "");
      expect(Date.parse(cert.status?.renewalTime ?? "")).toBe(notAfter - 8 * HOUR);
      expect(Date.parse(cert.status?.renewalTime ?? "")).toBeGreaterThan(h.clock.now());
    } else {
      // Back-off never in the past and never shorter than the minimum from the recorded failure.
      const last = Date.parse(cert.status?.lastFailureTime ?? "");
      expect(last).toBe(row.to + (row.signsAt.at(-1) ?? 0));
    }
  });
});

describe("the process clock when the wall clock jumps", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  /** Node's timers run on the monotonic clock; vi.setSystemTime moves only the wall clock, as an NTP step or a resume does. */
  function armAt(atMs: number): { fired: number[] } {
    const out = { fired: [] as number[] };
    systemClock.setTimer(atMs, () => out.fired.push(Date.now()));
    return out;
  }

  it("runs a deadline that a forward jump passed within a minute, not after the time it was armed for", () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    vi.setSystemTime(START);
    const t = armAt(START + 10 * DAY);
    vi.advanceTimersByTime(HOUR);
    expect(t.fired).toEqual([]);
    // Three days pass on the wall clock while the monotonic clock stands still (a suspended VM).
    vi.setSystemTime(START + 13 * DAY);
    // The next step re-reads the wall clock and fires (its zero delay is the 1 ms Node gives it).
    vi.advanceTimersByTime(MAX_TIMER_STEP_MS + 1);
    expect(t.fired).toHaveLength(1);
    expect((t.fired[0] as number) - (START + 13 * DAY)).toBeLessThanOrEqual(MAX_TIMER_STEP_MS + 1);
  });

  it("never runs a deadline early when the wall clock goes back", () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    vi.setSystemTime(START);
    const t = armAt(START + DAY);
    vi.setSystemTime(START - 2 * HOUR);
    vi.advanceTimersByTime(DAY);
    expect(t.fired).toEqual([]);
    vi.advanceTimersByTime(2 * HOUR);
    expect(t.fired).toEqual([START + DAY]);
  });

  it("does not run a cancelled deadline, however the wall clock moves", () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    vi.setSystemTime(START);
    let fired = 0;
    const timer = systemClock.setTimer(START + DAY, () => fired++);
    vi.advanceTimersByTime(HOUR);
    timer.cancel();
    vi.setSystemTime(START + 2 * DAY);
    vi.advanceTimersByTime(2 * DAY);
    expect(fired).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });
});
