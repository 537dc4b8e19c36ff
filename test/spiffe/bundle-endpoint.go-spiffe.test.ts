/**
 * meshsign's SPIFFE trust bundle endpoint checked by a real SPIFFE client:
 * go-spiffe v2's federation client fetches the bundle (https_web and
 * https_spiffe profiles), spiffebundle parses it, and x509svid.Verify checks
 * an SVID meshsign issued through CreateCertificate (`meshsign request`)
 * against it. meshsign runs as a user runs it (bin/meshsign.js serve), and is
 * restarted on the same data dir to show the sequence never goes back.
 * Run by `npm run test:spiffe` (test/spiffe/setup.sh builds the client).
 */
import { appendFileSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CaKeyAlgorithm } from "../../src/server/config.js";
import { createRootCa } from "../../src/server/data-dir.js";
import { buildSpiffeBundle } from "../../src/trust/index.js";
import { runMeshsign, ServeProcess } from "../lib/meshsign-process.js";
import { TempDir } from "../lib/temp-dir.js";
import { rootPem } from "../trust/lib/roots.js";
import { runSpiffeClient, spiffeClientPath } from "./lib/spiffe-client.js";

const tmp = new TempDir("meshsign-spiffe-");
const cwd = tmp.path("project");
const dataDir = path.join(cwd, ".meshsign");
const rootsFile = tmp.path("roots.pem");
const TD = "cluster.local";
const WORKLOAD = `spiffe://${TD}/ns/default/sa/demo`;
const started: ServeProcess[] = [];

interface Running {
  readonly server: ServeProcess;
  readonly url: string;
  readonly grpcAddress: string;
}

async function serve(extra: string[]): Promise<Running> {
  const server = ServeProcess.start(["--workers", "1", "--bundle-endpoint-address", "127.0.0.1:0", "--bundle-endpoint-refresh-hint", "1m", ...extra], { cwd });
  started.push(server);
  const banner = await server.banner();
  const m = /SPIFFE bundle:\s+(https:\/\/\S+)/.exec(banner.text);
  if (!m) throw new Error(`banner names no SPIFFE bundle endpoint:\n${banner.text}`);
  return { server, url: `${m[1]}/`, grpcAddress: banner.grpcAddress };
}

const web = (r: Running, ...more: string[]) => runSpiffeClient(["-trust-domain", TD, "-url", r.url, "-profile", "https_web", "-web-roots", path.join(dataDir, "root-cert.pem"), ...more]);

/** Polls until the endpoint serves `sequence` (a root change is picked up within the roots file's settle time). */
async function waitForSequence(r: Running, sequence: number): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const got = await web(r);
    if (got.sequenceNumber === sequence) return;
    if (Date.now() > deadline) throw new Error(`the endpoint still serves sequence ${got.sequenceNumber}, not ${sequence}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

let first: Running;
const svid = path.join(cwd, "meshsign-certs", "cert-chain.pem");

beforeAll(async () => {
  spiffeClientPath(); // fails the suite at once, naming setup.sh, when the client was not built
  mkdirSync(cwd);
  first = await serve([]);
  const r = await runMeshsign(["request", "--namespace", "default", "--service-account", "demo", "--address", first.grpcAddress], { cwd });
  expect(r.code, r.stderr).toBe(0);
});

afterAll(async () => {
  await Promise.all(started.map((p) => p.stop("SIGKILL")));
  tmp.remove();
});

describe("https_web with meshsign's serving certificate", () => {
  it("serves a bundle go-spiffe fetches and parses, with the mesh root, sequence 1 and the refresh hint", async () => {
    const got = await web(first);
    expect(got).toMatchObject({ trustDomain: TD, sequenceNumber: 1, refreshHintSeconds: 60 });
    expect(got.x509AuthoritySubjects).toEqual(["CN=meshsign root CA,O=cluster.local"]);
  });

  it("verifies an SVID meshsign issued through CreateCertificate with x509svid.Verify against the fetched bundle", async () => {
    const got = await web(first, "-svid", svid);
    expect(got.svidId).toBe(WORKLOAD);
    expect(got.svidChains).toBe(1);
  });

  it("is refused by a client that trusts other roots", async () => {
    const other = tmp.write("other-root.pem", await rootPem("not the mesh"));
    await expect(runSpiffeClient(["-trust-domain", TD, "-url", first.url, "-profile", "https_web", "-web-roots", other])).rejects.toThrow(/certificate signed by unknown authority/);
  });

  it("prints the same bundle with `meshsign bundle`, from the data dir and from the endpoint, and spiffebundle parses both", async () => {
    // The data dir holds the roots and the sequence; the refresh hint is configuration, read as serve reads it.
    const fromDir = await runMeshsign(["bundle"], { cwd, env: { MESHSIGN_BUNDLE_ENDPOINT_REFRESH_HINT: "1m" } });
    expect(fromDir.code, fromDir.stderr).toBe(0);
    const fromUrl = await runMeshsign(["bundle", "--url", first.url], { cwd });
    expect(fromUrl.code, fromUrl.stderr).toBe(0);
    expect(JSON.parse(fromUrl.stdout)).toEqual(JSON.parse(fromDir.stdout));
    for (const [name, text] of [["dir.json", fromDir.stdout], ["url.json", fromUrl.stdout]] as const) {
      const parsed = await runSpiffeClient(["-trust-domain", TD, "-bundle-file", tmp.write(name, text), "-svid", svid]);
      expect(parsed).toMatchObject({ sequenceNumber: 1, refreshHintSeconds: 60, svidId: WORKLOAD });
    }
    const pem = await runMeshsign(["bundle", "--format", "pem"], { cwd });
    expect(pem.stdout).toBe(readFileSync(path.join(dataDir, "root-cert.pem"), "utf8"));
  });
});

describe("the sequence across a root rotation and restarts", () => {
  let second: Running;
  const newRoot = rootPem("next mesh root");

  it("stays 1 after a restart with the same roots", async () => {
    await first.server.stop();
    copyFileSync(path.join(dataDir, "root-cert.pem"), rootsFile);
    second = await serve(["--root-ca-file", rootsFile]);
    expect((await web(second)).sequenceNumber).toBe(1);
  });

  it("becomes 2 when a root is added to --root-ca-file, with both roots published and the SVID still verifying", async () => {
    appendFileSync(rootsFile, await newRoot);
    await waitForSequence(second, 2);
    const got = await web(second, "-svid", svid);
    expect(got.x509AuthoritySubjects).toHaveLength(2);
    expect(got.svidId).toBe(WORKLOAD);
  });

  it("does not go back after another restart", async () => {
    await second.server.stop();
    second = await serve(["--root-ca-file", rootsFile]);
    expect((await web(second)).sequenceNumber).toBe(2);
    await second.server.stop();
  });
});

describe("https_spiffe with meshsign's own SVID", () => {
  let spiffe: Running;
  const bootstrap = () => path.join(dataDir, "root-cert.pem");

  beforeAll(async () => {
    writeFileSync(rootsFile, readFileSync(path.join(dataDir, "root-cert.pem")));
    spiffe = await serve(["--bundle-endpoint-profile", "https_spiffe"]);
  });

  it("is fetched by go-spiffe's SPIFFE-authenticated client expecting spiffe://cluster.local/meshsign, and the bundle verifies the workload SVID", async () => {
    expect(spiffe.server.stdout).toContain(`(https_spiffe, spiffe://${TD}/meshsign)`);
    const got = await runSpiffeClient(["-trust-domain", TD, "-url", spiffe.url, "-profile", "https_spiffe", "-endpoint-id", `spiffe://${TD}/meshsign`, "-bootstrap-roots", bootstrap(), "-svid", svid]);
    // The roots went back to the data dir's single root: one more change.
    expect(got).toMatchObject({ trustDomain: TD, sequenceNumber: 3, svidId: WORKLOAD });
  });

  it("is refused by a client that expects another SPIFFE ID", async () => {
    await expect(
      runSpiffeClient(["-trust-domain", TD, "-url", spiffe.url, "-profile", "https_spiffe", "-endpoint-id", `spiffe://${TD}/spire/server`, "-bootstrap-roots", bootstrap()]),
    ).rejects.toThrow(/unexpected ID "spiffe:\/\/cluster.local\/meshsign"/);
  });

  it("is fetched by `meshsign bundle --url --endpoint-id` and refused with a wrong ID", async () => {
    const ok = await runMeshsign(["bundle", "--url", spiffe.url, "--endpoint-id", `spiffe://${TD}/meshsign`, "--format", "pem"], { cwd });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toBe(readFileSync(path.join(dataDir, "root-cert.pem"), "utf8"));
    const wrong = await runMeshsign(["bundle", "--url", spiffe.url, "--endpoint-id", `spiffe://${TD}/other`], { cwd });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/presented spiffe:\/\/cluster.local\/meshsign, not spiffe:\/\/cluster.local\/other/);
  });
});

describe("every root key type meshsign can create, read by go-spiffe", () => {
  // go-jose (under spiffebundle) rejects a JWK whose parameters differ from its x5c certificate's key.
  for (const algorithm of ["ecdsa-p256", "ecdsa-p384", "rsa-2048", "ed25519"]) {
    it(`parses the bundle of a ${algorithm} root, with its parameters matching the certificate`, async () => {
      const dir = tmp.path(`root-${algorithm}`);
      const root = await createRootCa({ algorithm: algorithm as CaKeyAlgorithm, durationMs: 3_600_000, trustDomain: TD });
      mkdirSync(dir);
      const file = path.join(dir, "bundle.json");
      writeFileSync(file, JSON.stringify(buildSpiffeBundle(root.certificatePem, { sequence: 9, refreshHintSeconds: 300 })));
      const got = await runSpiffeClient(["-trust-domain", TD, "-bundle-file", file]);
      expect(got).toMatchObject({ sequenceNumber: 9, refreshHintSeconds: 300 });
      expect(got.x509AuthoritySubjects).toHaveLength(1);
    });
  }
});
