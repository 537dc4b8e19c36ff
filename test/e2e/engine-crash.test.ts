/**
 * Issue 3: a standalone meshsign killed with SIGKILL in the middle of issuing
 * 50 Certificates comes back with the same data dir and finishes the job:
 * every Certificate Ready, the key staged before the crash is the key that
 * gets certified, requests that existed are resumed (not re-created), one
 * CertificateRequest per revision, and no staged `-next-private-key` Secret
 * left behind.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { X509Certificate, createPrivateKey, createPublicKey } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { ANN, LABEL } from "../../src/engine/lib/annotations.js";
import type { Certificate, CertificateRequest, Secret } from "../../src/engine/lib/api.js";
import { REPO_ROOT, TempDir } from "../lib/temp-dir.js";
import { MESH_CA_MANIFESTS, snapshotStore as snapshot } from "../lib/engine-state.js";

const LEAVES = 50;
const NS = "apps";
const tmp = new TempDir("meshsign-engine-crash-");
const children: ChildProcess[] = [];

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
});
afterAll(() => tmp.remove());

/** pki-bootstrap style: a SelfSigned root, a CA ClusterIssuer on it, and LEAVES Certificates with the default RSA-2048 key. */
function writeManifests(dir: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, "pki.yaml"), MESH_CA_MANIFESTS);
  const leaves = Array.from(
    { length: LEAVES },
    (_, i) => `apiVersion: cert-manager.io/v1
kind: Certificate
metadata: { name: svc-${i}, namespace: ${NS} }
spec:
  secretName: svc-${i}-tls
  dnsNames: [svc-${i}.${NS}.svc]
  usages: [server auth, digital signature, key encipherment]
  issuerRef: { name: mesh-ca, kind: ClusterIssuer }
`,
  );
  writeFileSync(path.join(dir, "leaves.yaml"), leaves.join("---\n"));
}

function serve(dataDir: string, manifests: string, log: string[]): ChildProcess {
  const args = [
    path.join(REPO_ROOT, "bin/meshsign.js"),
    "serve",
    "--data-dir", dataDir,
    "--manifests", manifests,
    "--workers", "1",
    "--serving-address", "127.0.0.1:0",
    "--readiness-probe-port", "0",
    "--metrics-port", "0",
    "--admin-address", "127.0.0.1:0",
  ];
  const child = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  const keep = (chunk: Buffer) => {
    log.push(chunk.toString("utf8"));
    if (log.length > 2000) log.splice(0, log.length - 2000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  return child;
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve({ code: child.exitCode, signal: child.signalCode });
    else child.once("exit", (code, signal) => resolve({ code, signal }));
  });
}

/** Polls `check` every `everyMs` until it returns true; fails with `what` after `timeoutMs` or when the child dies. */
async function until(what: string, child: ChildProcess, log: string[], check: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 10): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`meshsign exited (code ${child.exitCode}, signal ${child.signalCode}) while waiting for ${what}:\n${log.join("").slice(-4000)}`);
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${log.join("").slice(-4000)}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Leaf Secrets published as files so far (the sink writes them right after the store write). */
function publishedLeaves(dataDir: string): number {
  const dir = path.join(dataDir, "secrets", NS);
  if (!existsSync(dir)) return 0;
  return readdirSync(dir).filter((d) => existsSync(path.join(dir, d, "tls.crt"))).length;
}

/** The Certificates of this test's manifests (meshsign adds its own serving Certificate beside them). */
const fromManifests = (c: Certificate) => c.metadata.namespace === NS || (c.metadata.namespace === "meshsign-system" && c.metadata.name === "mesh-root");
const isReady = (c: Certificate) => c.status?.conditions?.some((x) => x.type === "Ready" && x.status === "True") === true;
const isStagedKey = (s: Secret) => s.metadata.labels?.[LABEL.nextPrivateKey] === "true";
const b64 = (v: string | undefined) => Buffer.from(v ?? "", "base64").toString("utf8");
const spkiOfKeyPem = (pem: string) => createPublicKey(createPrivateKey(pem)).export({ format: "der", type: "spki" }).toString("base64");

describe("a standalone meshsign killed with SIGKILL mid-issuance", () => {
  it("brings every Certificate to Ready after a restart, with the staged keys, one request per revision and no orphaned key", { timeout: 240_000 }, async () => {
    const dataDir = tmp.path("data");
    const manifests = tmp.path("manifests");
    writeManifests(manifests);

    // 1. First run: kill -9 once a fifth of the leaf Secrets are published: some leaves are done, some
    // have a Secret but not yet their status, the rest have a staged key and a pending request.
    const log1: string[] = [];
    const first = serve(dataDir, manifests, log1);
    await until("the first leaf Secrets", first, log1, () => publishedLeaves(dataDir) >= LEAVES / 5, 120_000);
    first.kill("SIGKILL");
    expect((await exited(first)).signal).toBe("SIGKILL");

    const atKill = await snapshot(dataDir);
    const leavesAtKill = atKill.certificates.filter((c) => c.metadata.namespace === NS);
    expect(leavesAtKill).toHaveLength(LEAVES);
    // The crash really happened mid-issuance: some leaves were done, others were not.
    const issuedAtKill = atKill.secrets.filter((s) => s.metadata.namespace === NS && s.type === "kubernetes.io/tls").length;
    expect(issuedAtKill).toBeLessThan(LEAVES);
    expect(leavesAtKill.filter(isReady).length).toBeLessThan(LEAVES);
    const stagedAtKill = new Map(atKill.secrets.filter(isStagedKey).map((s) => [`${s.metadata.namespace}/${s.metadata.name}`, spkiOfKeyPem(b64(s.data?.["tls.key"]))]));
    const requestsAtKill = new Map(atKill.requests.map((r) => [`${r.metadata.namespace}/${r.metadata.name}`, r.metadata.uid]));

    // 2. Restart on the same data dir and wait until every Certificate is Ready.
    const log2: string[] = [];
    const second = serve(dataDir, manifests, log2);
    await until(
      "every Certificate to be Ready",
      second,
      log2,
      async () => {
        const s = await snapshot(dataDir);
        return s.certificates.filter(fromManifests).length === LEAVES + 1 && s.certificates.every(isReady) && !s.secrets.some(isStagedKey);
      },
      180_000,
      500,
    );
    second.kill("SIGTERM");
    const stop = await exited(second);
    expect(stop.code, log2.join("").slice(-2000)).toBe(0);

    // 3. The final state, read from the stopped server's store.
    const end = await snapshot(dataDir);
    expect(end.certificates.filter((c) => !isReady(c)).map((c) => c.metadata.name)).toEqual([]);
    expect(end.secrets.filter(isStagedKey).map((s) => s.metadata.name)).toEqual([]);
    const secrets = new Map(end.secrets.map((s) => [`${s.metadata.namespace}/${s.metadata.name}`, s]));
    const root = new X509Certificate(b64(secrets.get("meshsign-system/mesh-root-ca")?.data?.["tls.crt"]));

    // meshsign's own Certificates (its serving certificate) are there too: one request per revision for every one.
    for (const cert of end.certificates) {
      const ns = cert.metadata.namespace ?? "";
      const name = cert.metadata.name ?? "";
      const revisions = end.requests.filter((r) => r.metadata.namespace === ns && r.metadata.annotations?.[ANN.certificateName] === name).map((r) => r.metadata.annotations?.[ANN.certificateRevision]);
      expect(new Set(revisions).size, `${ns}/${name} has two requests for one revision: ${revisions.join(",")}`).toBe(revisions.length);
    }

    for (const cert of end.certificates.filter(fromManifests)) {
      const ns = cert.metadata.namespace ?? "";
      const name = cert.metadata.name ?? "";
      // One request, for revision 1: nothing was issued twice.
      const mine = end.requests.filter((r) => r.metadata.namespace === ns && r.metadata.annotations?.[ANN.certificateName] === name);
      expect(mine.map((r) => r.metadata.annotations?.[ANN.certificateRevision]), `${ns}/${name}`).toEqual(["1"]);
      expect(cert.status?.revision, `${ns}/${name}`).toBe(1);
      const request = mine[0] as CertificateRequest;
      const before = requestsAtKill.get(`${ns}/${request.metadata.name}`);
      if (before !== undefined) expect(request.metadata.uid, `${ns}/${request.metadata.name} was re-created`).toBe(before);

      const secret = secrets.get(`${ns}/${cert.spec.secretName}`);
      expect(secret?.type, `${ns}/${cert.spec.secretName}`).toBe("kubernetes.io/tls");
      const keyPem = b64(secret?.data?.["tls.key"]);
      const leaf = new X509Certificate(b64(secret?.data?.["tls.crt"]));
      expect(leaf.publicKey.export({ format: "der", type: "spki" }).toString("base64")).toBe(spkiOfKeyPem(keyPem));
      expect(leaf.verify(root.publicKey), `${ns}/${name} chains to the root`).toBe(true);
      // A key staged before the crash is the key that was certified: it was not generated again.
      const staged = stagedAtKill.get(`${ns}/${name}-next-private-key`);
      if (staged !== undefined) expect(spkiOfKeyPem(keyPem), `${ns}/${name} kept its staged key`).toBe(staged);

      if (ns === NS) {
        // Published as files too, the key 0600, the same bytes as the Secret.
        const files = path.join(dataDir, "secrets", ns, cert.spec.secretName);
        expect(readFileSync(path.join(files, "tls.key"), "utf8")).toBe(keyPem);
        expect(statSync(path.join(files, "tls.key")).mode & 0o777).toBe(0o600);
        expect(readFileSync(path.join(files, "tls.crt"), "utf8")).toBe(b64(secret?.data?.["tls.crt"]));
      }
    }
  });
});
