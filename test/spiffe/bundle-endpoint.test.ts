/**
 * The bundle endpoint in process (no Go needed; go-spiffe's view is in
 * bundle-endpoint.go-spiffe.test.ts): what it answers, how the document
 * follows the roots, its TLS identity, and how its options are validated.
 */
import { request } from "node:https";
import { readFileSync } from "node:fs";
import pino from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { isMeshsignError } from "../../src/errors/index.js";
import { readCertFiles, startBundleEndpoint, type BundleEndpoint } from "../../src/server/bundle-endpoint.js";
import { loadConfig } from "../../src/server/config.js";
import { FileBundleSequence } from "../../src/trust/index.js";
import { runMeshsign } from "../lib/meshsign-process.js";
import { openssl } from "../lib/openssl.js";
import { TempDir } from "../lib/temp-dir.js";
import { rootPem } from "../trust/lib/roots.js";

const tmp = new TempDir("meshsign-bundle-endpoint-");
const open: BundleEndpoint[] = [];
afterAll(async () => {
  await Promise.all(open.map((e) => e.close()));
  tmp.remove();
});

/** A self-signed server certificate for 127.0.0.1 and its key, made by openssl. */
function serverPair(name: string): { certificateChainPem: string; privateKeyPem: string; certFile: string; keyFile: string } {
  const certFile = tmp.path(`${name}.crt`);
  const keyFile = tmp.path(`${name}.key`);
  const r = openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", keyFile, "-out", certFile, "-subj", `/CN=${name}`, "-days", "1", "-addext", "subjectAltName=IP:127.0.0.1"]);
  expect(r.status, r.output).toBe(0);
  return { certificateChainPem: readFileSync(certFile, "utf8"), privateKeyPem: readFileSync(keyFile, "utf8"), certFile, keyFile };
}

function get(port: number, ca: string, options: { path?: string; method?: string } = {}): Promise<{ status: number; type: string | undefined; body: string; peer: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path: options.path ?? "/", method: options.method ?? "GET", ca, agent: false }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, type: res.headers["content-type"], body, peer: (res.socket as import("node:tls").TLSSocket).getPeerCertificate().subject?.CN as string }));
    });
    req.on("error", reject);
    req.end();
  });
}

const log = pino({ level: "silent" });
const rootA = await rootPem("root A");
const rootB = await rootPem("root B");
const pair = serverPair("endpoint");

async function start(sequenceFile: string): Promise<BundleEndpoint> {
  const e = await startBundleEndpoint({ host: "127.0.0.1", port: 0, roots: rootA, sequence: new FileBundleSequence(sequenceFile), refreshHintSeconds: 30, serving: pair, log });
  open.push(e);
  return e;
}

describe("the bundle endpoint", () => {
  it("answers GET / with the bundle as application/json", async () => {
    const e = await start(tmp.path("seq-a.json"));
    const r = await get(e.port, pair.certificateChainPem);
    expect(r.status).toBe(200);
    expect(r.type).toBe("application/json");
    const doc = JSON.parse(r.body);
    expect(doc).toMatchObject({ spiffe_sequence: 1, spiffe_refresh_hint: 30 });
    expect(doc.keys).toHaveLength(1);
    expect(doc.keys[0].use).toBe("x509-svid");
  });

  it("answers other paths 404 and other methods 405", async () => {
    const e = await start(tmp.path("seq-b.json"));
    expect((await get(e.port, pair.certificateChainPem, { path: "/etc/passwd" })).status).toBe(404);
    expect((await get(e.port, pair.certificateChainPem, { method: "POST" })).status).toBe(405);
  });

  it("advances the sequence when the roots change, and not when the same roots come again", async () => {
    const e = await start(tmp.path("seq-c.json"));
    await e.setRoots(rootA + rootB);
    expect(JSON.parse((await get(e.port, pair.certificateChainPem)).body)).toMatchObject({ spiffe_sequence: 2, keys: [{}, {}] });
    await e.setRoots(rootB + rootA);
    expect(JSON.parse(e.document).spiffe_sequence).toBe(2);
    await e.setRoots(rootB);
    expect(JSON.parse(e.document)).toMatchObject({ spiffe_sequence: 3, keys: [{}] });
  });

  it("presents a renewed certificate to new connections without a restart", async () => {
    const e = await start(tmp.path("seq-d.json"));
    const next = serverPair("renewed");
    e.updateServing(next);
    expect((await get(e.port, next.certificateChainPem)).peer).toBe("renewed");
  });
});

describe("configured certificate files (https_web for a Web PKI name)", () => {
  it("reads a matching certificate and key", async () => {
    const p = serverPair("web");
    expect((await readCertFiles({ cert: p.certFile, key: p.keyFile })).certificateChainPem).toBe(p.certificateChainPem);
  });

  it("serves renewed files without a restart, and keeps the last good pair when the new files do not match", async () => {
    const first = serverPair("files-1");
    const cert = tmp.write("served.crt", first.certificateChainPem);
    const key = tmp.write("served.key", first.privateKeyPem);
    const e = await startBundleEndpoint({
      host: "127.0.0.1",
      port: 0,
      roots: rootA,
      sequence: new FileBundleSequence(tmp.path("seq-files.json")),
      refreshHintSeconds: 30,
      serving: first,
      certFiles: { cert, key },
      certFilesPollMs: 50,
      log,
    });
    open.push(e);
    // A renewal by the endpoint's owner does not replace configured files.
    e.updateServing(serverPair("not-used"));
    expect((await get(e.port, first.certificateChainPem)).peer).toBe("files-1");
    const second = serverPair("files-2");
    // Half-written: the new certificate with the old key is refused; the old pair stays.
    tmp.write("served.crt", second.certificateChainPem);
    await new Promise((r) => setTimeout(r, 300));
    expect((await get(e.port, first.certificateChainPem)).peer).toBe("files-1");
    tmp.write("served.key", second.privateKeyPem);
    const deadline = Date.now() + 5000;
    let peer = "";
    while (Date.now() < deadline && peer !== "files-2") {
      peer = await get(e.port, second.certificateChainPem).then((r) => r.peer, () => "");
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(peer).toBe("files-2");
  });

  it("refuses a key that is not the certificate's, naming both files and showing neither", async () => {
    const a = serverPair("web-a");
    const b = serverPair("web-b");
    const err = await readCertFiles({ cert: a.certFile, key: b.keyFile }).catch((e: unknown) => e);
    expect(isMeshsignError(err, "ERR_CONFIG_INVALID")).toBe(true);
    expect(String(err)).toContain(`--bundle-endpoint-key-file ${b.keyFile} is not the key of --bundle-endpoint-cert-file ${a.certFile}`);
    expect(String(err)).not.toContain("PRIVATE KEY");
  });
});

describe("bundle endpoint options", () => {
  it("are off by default, https_web with a five-minute refresh hint", () => {
    expect(loadConfig({ env: {} })).toMatchObject({ bundleEndpointAddress: "", bundleEndpointProfile: "https_web", bundleEndpointRefreshHint: 300_000 });
  });

  const bad: Record<string, { flags: Record<string, unknown>; message: string }> = {
    "an address without a port": { flags: { bundleEndpointAddress: "localhost" }, message: "--bundle-endpoint-address: must be host:port" },
    "an unknown profile": { flags: { bundleEndpointProfile: "https" }, message: "--bundle-endpoint-profile: must be one of https_web, https_spiffe" },
    "a certificate file without its key": { flags: { bundleEndpointCertFile: "/c.pem" }, message: "--bundle-endpoint-cert-file: needs --bundle-endpoint-key-file" },
    "certificate files with https_spiffe": {
      flags: { bundleEndpointCertFile: "/c.pem", bundleEndpointKeyFile: "/k.pem", bundleEndpointProfile: "https_spiffe" },
      message: "--bundle-endpoint-cert-file: only the https_web profile",
    },
    "a refresh hint under a second": { flags: { bundleEndpointRefreshHint: "500ms" }, message: "--bundle-endpoint-refresh-hint: must be between 1s and 168h" },
  };
  for (const [name, c] of Object.entries(bad)) {
    it(`refuses ${name}, naming the flag`, () => {
      expect(() => loadConfig({ env: {}, flags: c.flags })).toThrow(c.message);
    });
  }
});

describe("meshsign bundle, its mistakes", () => {
  const cases: Record<string, { args: string[]; message: RegExp }> = {
    "a data dir that is not meshsign's": { args: ["bundle", "--data-dir", "nowhere"], message: /cannot read the roots .*nowhere.*root-cert\.pem: is .*nowhere meshsign's data dir \(--data-dir\)\?/ },
    "an unknown format": { args: ["bundle", "--format", "der"], message: /--format der: must be spiffe or pem/ },
    "--endpoint-id without --url": { args: ["bundle", "--endpoint-id", "spiffe://cluster.local/meshsign"], message: /--endpoint-id: only with --url/ },
    "a plain http URL": { args: ["bundle", "--url", "http://localhost:1/"], message: /a bundle endpoint is served over https/ },
  };
  for (const [name, c] of Object.entries(cases)) {
    it(`exits 1 on ${name}, saying what to fix`, async () => {
      const r = await runMeshsign(c.args, { cwd: tmp.dir });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(c.message);
    });
  }
});
