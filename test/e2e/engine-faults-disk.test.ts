/**
 * The disk filling up (ENOSPC) or turning read-only (EROFS) in the middle of
 * an issuance, through the whole standalone stack in one process: the engine
 * on the embedded store with Secrets published as files, the disk failing
 * right after each step of the issuance was acknowledged (the crash hook's
 * step detection, src/engine/crash-hook.ts, with the disk fault in place of
 * the SIGKILL). While the disk is full: a bounded number of retries, nothing
 * reported Ready, no staged key replaced, no second request, the store
 * unhealthy with the reason. Once space returns: the issuance finishes with
 * the staged key and one request, the files match the Secret, and the store
 * on disk is sound and reopens to the same state.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { CLUSTER_ISSUERS } from "../../src/api/types.js";
import { exponentialDelayMs } from "../../src/engine/backoff.js";
import { CRASH_STEPS, withCrashHook } from "../../src/engine/crash-hook.js";
import { Engine, FileSecretSink, MemoryEventRecorder } from "../../src/engine/index.js";
import { DEFAULT_ERROR_BACKOFF } from "../../src/engine/scheduler.js";
import { CERTIFICATE_REQUESTS, CERTIFICATES, type Certificate, type CertificateRequest, SECRETS, type Secret } from "../../src/engine/lib/api.js";
import { isMeshsignError } from "../../src/errors/index.js";
import { checkStore, openEmbeddedStore } from "../../src/store/embedded/index.js";
import { certificate, clusterIssuer } from "../engine/lib/builders.js";
import { FakeClock, fixedRandom } from "../engine/lib/fake-clock.js";
import { b64, find, isReady, isStagedKey, issuanceProblems, requestsOf, snapshotStore, spkiOfKeyPem, type StoreSnapshot } from "../lib/engine-state.js";
import { diskFault, resetDiskFault } from "../lib/fs-fault.js";

vi.mock("node:fs/promises", async (real) => (await import("../lib/fs-fault.js")).faultyFsPromises(await real()));

const NS = "apps";
const START = Date.parse("2026-01-01T00:00:00Z");
const OUTAGE_MS = 10 * 60_000;
/**
 * Attempts the error back-off allows in the outage: the first, its immediate re-run for the watch
 * event of the step's own write, then one per delay that fits (1 s doubling to 30 s: 25 in all).
 */
const MAX_ATTEMPTS = (() => {
  let n = 2;
  for (let spent = exponentialDelayMs(n, DEFAULT_ERROR_BACKOFF); spent <= OUTAGE_MS; spent += exponentialDelayMs(n, DEFAULT_ERROR_BACKOFF)) n++;
  return n;
})();
const dirs: string[] = [];
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  resetDiskFault();
  for (const c of cleanups.splice(0).reverse()) await c();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A read of the live store in the shape of a data-dir snapshot. */
async function live(store: Awaited<ReturnType<typeof openEmbeddedStore>>): Promise<StoreSnapshot> {
  return {
    certificates: await store.list<Certificate>(CERTIFICATES, {}),
    requests: await store.list<CertificateRequest>(CERTIFICATE_REQUESTS, {}),
    secrets: await store.list<Secret>(SECRETS, {}),
  };
}

describe.each(["ENOSPC", "EROFS"])("the disk failing with %s mid-issuance", (code) => {
  it.each(CRASH_STEPS)("right after %s: bounded retries while it lasts, then the issuance finishes with the staged key and one request", async (step) => {
    const dataDir = await mkdtemp(path.join(tmpdir(), "meshsign-engine-disk-"));
    dirs.push(dataDir);
    const outputDir = path.join(dataDir, "secrets");
    const store = await openEmbeddedStore({ dataDir, materializeDelayMs: 1, writeProbeIntervalMs: 20 });
    cleanups.push(() => store.close());
    await store.create(CLUSTER_ISSUERS, clusterIssuer("selfsigned", { selfSigned: {} }));
    await store.create(CERTIFICATES, certificate("web", NS, { duration: "24h", privateKey: { algorithm: "ECDSA", size: 256 } }));

    // The disk fails once, right after the step's write (or file publication) was acknowledged.
    let filledAt: StoreSnapshot | undefined;
    let filling = false;
    const sink = new FileSecretSink({ outputDir });
    const hooked = withCrashHook(`${step}:${NS}/web`, store, sink, () => {
      if (filling || filledAt !== undefined) return;
      filling = true;
      diskFault.code = code;
    });
    const clock = new FakeClock(START);
    const errors: unknown[] = [];
    const engine = new Engine({
      store: hooked.store,
      secretSink: hooked.sink,
      clock,
      random: fixedRandom(0),
      events: new MemoryEventRecorder({ clock }),
      onError: (_, err) => errors.push(err),
    });
    cleanups.push(() => engine.stop());
    await engine.start();
    const settle = () => engine.idle();
    await settle();
    expect(diskFault.code, `the disk failed after ${step}`).toBe(code);
    filledAt = await live(store);

    // Ten minutes of a full disk on the engine's clock.
    await clock.advance(OUTAGE_MS, settle);
    const during = await live(store);
    // Retries are bounded by the scheduler's error back-off, whatever step failed.
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.length).toBeLessThanOrEqual(MAX_ATTEMPTS);
    // The store's refusal, or the file output's own error (same disk).
    for (const err of errors) expect(isMeshsignError(err, "ERR_STORE_UNAVAILABLE") || (err as { code?: string }).code === code, String(err)).toBe(true);
    expect(store.health()).toMatchObject({ ok: false, reason: expect.stringContaining(`(${code})`) });
    // Nothing the full disk refused is half-there: the store holds exactly what it held when the disk failed.
    expect(during).toEqual(filledAt);
    const stagedAtFault = find(filledAt.secrets, NS, "web-next-private-key");
    const cert = find(during.certificates, NS, "web");
    if (CRASH_STEPS.indexOf(step) < CRASH_STEPS.indexOf("status-updated")) expect(isReady(cert), "Ready before its Secret is complete").toBe(false);

    // Space returns: the store notices by itself and the next retry finishes the issuance.
    resetDiskFault();
    await until("the store to take writes again", () => store.health().ok);
    await clock.advance(60_000, settle);
    const end = await live(store);
    const root = b64(find(end.secrets, NS, "web-tls")?.data?.["tls.crt"]);
    expect(issuanceProblems(end, root, { outputDir })).toEqual([]);
    expect(find(end.certificates, NS, "web")?.status?.revision).toBe(1);
    expect(requestsOf(end, NS, "web")).toHaveLength(1);
    const request = requestsOf(filledAt, NS, "web")[0];
    if (request !== undefined) expect(requestsOf(end, NS, "web")[0]?.metadata.uid, "the request was resumed").toBe(request.metadata.uid);
    if (stagedAtFault !== undefined) {
      expect(spkiOfKeyPem(b64(find(end.secrets, NS, "web-tls")?.data?.["tls.key"])), "the staged key was certified").toBe(spkiOfKeyPem(b64(stagedAtFault.data?.["tls.key"])));
    }
    expect(end.secrets.filter(isStagedKey)).toEqual([]);

    // What is on disk is sound and reopens to the same state.
    await engine.stop();
    await store.close();
    cleanups.length = 0;
    expect((await checkStore(dataDir)).damaged).toBe(false);
    expect(await snapshotStore(dataDir)).toEqual(end);
  });
});
