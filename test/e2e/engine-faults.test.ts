/**
 * `kill -9` of a standalone `meshsign serve` at each step of one Certificate's
 * issuance, made deterministic by the engine's crash hook
 * (MESHSIGN_TEST_CRASH_AT, src/engine/crash-hook.ts: SIGKILL right after the
 * step's write was acknowledged). After each crash the state is checked to be
 * the one that step leaves, then a plain restart on the same data dir must
 * finish without operator action: every Certificate Ready, the key staged
 * before the crash is the one certified (and with rotationPolicy Never the
 * previous key is kept), one request per revision (a request that existed is
 * resumed, never re-created), the right revision, a Secret matching its spec,
 * key and published files, and no staged key left.
 *
 * The crash test of a whole batch killed at a random point is engine-crash.test.ts.
 */
import { X509Certificate } from "node:crypto";
import { cpSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { CRASH_AT_ENV, CRASH_STEPS, type CrashStep } from "../../src/engine/crash-hook.js";
import { ANN } from "../../src/engine/lib/annotations.js";
import type { Certificate } from "../../src/engine/lib/api.js";
import {
  b64,
  find,
  isIssuing,
  isReady,
  isStagedKey,
  issuanceProblems,
  requestsOf,
  secretMismatches,
  snapshotStore,
  spkiOfKeyPem,
  type StoreSnapshot,
  MESH_CA_MANIFESTS,
} from "../lib/engine-state.js";
import { ServeProcess } from "../lib/meshsign-process.js";
import { REPO_ROOT, TempDir } from "../lib/temp-dir.js";

const NS = "apps";
const tmp = new TempDir("meshsign-engine-faults-");
const running: ServeProcess[] = [];

afterEach(async () => {
  for (const p of running.splice(0)) await p.stop("SIGKILL");
});
afterAll(() => tmp.remove());

/** A SelfSigned root, a CA ClusterIssuer on it, and two leaves: `web` (rotationPolicy Always) and `keep` (Never). */
function writeManifests(dir: string, extraName = ""): void {
  mkdirSync(dir, { recursive: true });
  const leaf = (name: string, rotation: string) => `apiVersion: cert-manager.io/v1
kind: Certificate
metadata: { name: ${name}, namespace: ${NS} }
spec:
  secretName: ${name}-tls
  dnsNames: [${name}.${NS}.svc${extraName ? `, ${extraName}.${name}.${NS}.svc` : ""}]
  privateKey: { algorithm: ECDSA, size: 256, rotationPolicy: ${rotation} }
  issuerRef: { name: mesh-ca, kind: ClusterIssuer }
`;
  writeFileSync(
    path.join(dir, "pki.yaml"),
    `${MESH_CA_MANIFESTS}---
${leaf("web", "Always")}---
${leaf("keep", "Never")}`,
  );
}

function serve(dataDir: string, manifests: string, crashAt?: string): ServeProcess {
  const p = ServeProcess.start(["--data-dir", dataDir, "--manifests", manifests, "--workers", "1"], {
    cwd: REPO_ROOT,
    ...(crashAt === undefined ? {} : { env: { [CRASH_AT_ENV]: crashAt } }),
  });
  running.push(p);
  return p;
}

async function withTimeout<T>(what: string, p: Promise<T>, ms: number, proc: ServeProcess): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}\nstderr: ${proc.stderr.slice(-4000)}`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const fromManifests = (c: Certificate): boolean => c.metadata.namespace === NS || (c.metadata.namespace === "meshsign-system" && c.metadata.name === "mesh-root");

/** Runs with the hook armed for `step` of `apps/<name>` and returns the store as the SIGKILL left it. */
async function crashAt(dataDir: string, manifests: string, step: CrashStep, name: string): Promise<StoreSnapshot> {
  const p = serve(dataDir, manifests, `${step}:${NS}/${name}`);
  const end = await withTimeout(`the crash after ${step}`, p.exited(), 150_000, p);
  expect(end.signal, p.stderr.slice(-4000)).toBe("SIGKILL");
  expect(p.stderr).toContain(`SIGKILL after ${step} of ${NS}/${name}`);
  return snapshotStore(dataDir);
}

/** Restarts without the hook, waits for every Certificate of the manifests to be Ready and settled, stops cleanly. */
async function restartUntilSettled(dataDir: string, manifests: string, expectedRevision: (c: Certificate) => number): Promise<StoreSnapshot> {
  const p = serve(dataDir, manifests);
  // Fully started first (the banner), so the SIGTERM below meets the shutdown handler.
  await p.banner(120_000);
  const deadline = Date.now() + 150_000;
  for (;;) {
    const s = await snapshotStore(dataDir);
    const mine = s.certificates.filter(fromManifests);
    if (mine.length === 3 && mine.every((c) => isReady(c) && !isIssuing(c) && c.status?.revision === expectedRevision(c)) && !s.secrets.some(isStagedKey)) break;
    if (!p.running) throw new Error(`meshsign exited before settling\nstderr: ${p.stderr.slice(-4000)}`);
    if (Date.now() > deadline) throw new Error(`not settled in time: ${JSON.stringify(mine.map((c) => [c.metadata.name, c.status]))}\nstderr: ${p.stderr.slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 300));
  }
  const stop = await p.stop("SIGTERM");
  expect(stop, p.stderr.slice(-2000)).toEqual({ code: 0, signal: null });
  return snapshotStore(dataDir);
}

/** What must already be in the store when the process died right after `step`. */
function expectStepReached(s: StoreSnapshot, step: CrashStep, name: string, revision: number): void {
  const cert = find(s.certificates, NS, name);
  const request = requestsOf(s, NS, name).find((r) => r.metadata.annotations?.[ANN.certificateRevision] === String(revision));
  const staged = find(s.secrets, NS, `${name}-next-private-key`);
  const index = CRASH_STEPS.indexOf(step);
  const reached = (later: CrashStep) => index >= CRASH_STEPS.indexOf(later);
  // The staged key is there from key-staged until the status write completes the issuance (deleted just after).
  expect(staged !== undefined && isStagedKey(staged), `staged key after ${step}`).toBe(true);
  expect(request !== undefined, `request of revision ${revision} after ${step}`).toBe(reached("request-created"));
  expect(request?.status?.certificate !== undefined, `signed request after ${step}`).toBe(reached("request-signed"));
  expect(cert?.status?.revision ?? 0, `status.revision after ${step}`).toBe(reached("status-updated") ? revision : revision - 1);
  expect(isIssuing(cert), `Issuing after ${step}`).toBe(!reached("status-updated"));
  // At no instant is a Certificate Ready whose Secret is not what its spec and status say.
  const rootSecret = find(s.secrets, "meshsign-system", "mesh-root-ca");
  if (rootSecret !== undefined) {
    const root = new X509Certificate(b64(rootSecret.data?.["tls.crt"]));
    const readyButWrong = s.certificates.filter(fromManifests).filter(isReady).flatMap((c) => secretMismatches(s, c, root));
    expect(readyButWrong, `Ready Certificates after ${step}`).toEqual([]);
  }
}

/** The invariants of one Certificate after the restart, against what the crash left. */
function expectRecovered(atCrash: StoreSnapshot, end: StoreSnapshot, name: string, revision: number): void {
  const stagedAtCrash = find(atCrash.secrets, NS, `${name}-next-private-key`);
  const secret = find(end.secrets, NS, `${name}-tls`);
  const keyPem = b64(secret?.data?.["tls.key"]);
  // No lost key: the key staged before the crash is the key certified.
  if (stagedAtCrash !== undefined) expect(spkiOfKeyPem(keyPem), `${name} certified its staged key`).toBe(spkiOfKeyPem(b64(stagedAtCrash.data?.["tls.key"])));
  // No duplicate request: the one of this revision that existed at the crash was resumed.
  const before = requestsOf(atCrash, NS, name).find((r) => r.metadata.annotations?.[ANN.certificateRevision] === String(revision));
  const after = requestsOf(end, NS, name).filter((r) => r.metadata.annotations?.[ANN.certificateRevision] === String(revision));
  expect(after, `${name}: one request of revision ${revision}`).toHaveLength(1);
  if (before !== undefined) expect(after[0]?.metadata.uid, `${name}: the request of the crash was resumed, not re-created`).toBe(before.metadata.uid);
  expect(find(end.certificates, NS, name)?.status?.revision).toBe(revision);
}

function rootPem(s: StoreSnapshot): string {
  return b64(find(s.secrets, "meshsign-system", "mesh-root-ca")?.data?.["tls.crt"]);
}

describe("kill -9 of meshsign serve at each step of a first issuance", () => {
  it.each(CRASH_STEPS)("after %s, a restart finishes the issuance with the staged key and one request", { timeout: 300_000 }, async (step) => {
    const dataDir = tmp.path(`first-${step}`);
    const manifests = tmp.path(`first-${step}-manifests`);
    writeManifests(manifests);

    const atCrash = await crashAt(dataDir, manifests, step, "web");
    expectStepReached(atCrash, step, "web", 1);

    const end = await restartUntilSettled(dataDir, manifests, () => 1);
    expect(issuanceProblems(end, rootPem(end), { outputDir: path.join(dataDir, "secrets"), only: fromManifests })).toEqual([]);
    expectRecovered(atCrash, end, "web", 1);
  });
});

describe("kill -9 of meshsign serve at each step of a re-issuance after a spec change", () => {
  // Revision 1 of every Certificate, issued once and copied for each case.
  const base = tmp.path("reissue-base");
  const baseManifests = tmp.path("reissue-base-manifests");
  let keys: { web: string; keep: string } | undefined;

  async function baseline(): Promise<{ web: string; keep: string }> {
    if (keys !== undefined) return keys;
    writeManifests(baseManifests);
    const s = await restartUntilSettled(base, baseManifests, () => 1);
    const key = (n: string) => spkiOfKeyPem(b64(find(s.secrets, NS, `${n}-tls`)?.data?.["tls.key"]));
    keys = { web: key("web"), keep: key("keep") };
    return keys;
  }

  it.each(CRASH_STEPS.flatMap((step) => [{ step, name: "keep" }, { step, name: "web" }]))(
    "after $step of $name, a restart reaches revision 2 with the right key",
    { timeout: 300_000 },
    async ({ step, name }) => {
      const before = await baseline();
      const dataDir = tmp.path(`reissue-${step}-${name}`);
      const manifests = tmp.path(`reissue-${step}-${name}-manifests`);
      cpSync(base, dataDir, { recursive: true });
      // One more DNS name on both leaves: both re-issue (revision 2), `keep` with its old key.
      writeManifests(manifests, "v2");

      const atCrash = await crashAt(dataDir, manifests, step, name);
      expectStepReached(atCrash, step, name, 2);

      const end = await restartUntilSettled(dataDir, manifests, (c) => (c.metadata.namespace === NS ? 2 : 1));
      expect(issuanceProblems(end, rootPem(end), { outputDir: path.join(dataDir, "secrets"), only: fromManifests })).toEqual([]);
      expectRecovered(atCrash, end, name, 2);
      const key = (n: string) => spkiOfKeyPem(b64(find(end.secrets, NS, `${n}-tls`)?.data?.["tls.key"]));
      expect(key("keep"), "rotationPolicy Never keeps the key through the crash").toBe(before.keep);
      expect(key("web"), "rotationPolicy Always has a new key").not.toBe(before.web);
    },
  );
});
