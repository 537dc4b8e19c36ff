import { createPrivateKey, X509Certificate } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import https from "node:https";
import net from "node:net";
import path from "node:path";
import { freePort } from "../lib/ports.js";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DevTokenIssuer } from "../../src/authn/index.js";
import { IstioCaClient } from "../../src/csr-service/client.js";
import { buildCsr, generateKeySync } from "../../src/pki/keys.js";
import { createRootCa } from "../../src/server/data-dir.js";
import { HeldCall } from "../lib/grpc-wire.js";
import { type Banner, runMeshsign, ServeProcess } from "../lib/meshsign-process.js";
import { openssl } from "../lib/openssl.js";
import { RawCaClient } from "../lib/raw-client.js";
import { TempDir } from "../lib/temp-dir.js";

/*
 * The README quickstart, run as a user runs it: `npm start` (here `node
 * bin/meshsign.js serve`, on free ports) in a fresh directory, then the
 * command the banner prints, then `openssl verify`. The tests in this file
 * run in order against one server, then restart it on the same data dir.
 */

const tmp = new TempDir("meshsign-e2e-");
const cwd = tmp.path("project");
const dataDir = path.join(cwd, ".meshsign");
/** Where `meshsign request` writes by default. */
const certsDir = path.join(cwd, "meshsign-certs");
/** The README's verification command, read from the README so the two cannot drift. */
const README_QUICKSTART_VERIFY = (/^openssl verify .*$/m.exec(readFileSync(path.resolve(import.meta.dirname, "../../README.md"), "utf8")) ?? [""])[0];
const IDENTITY = "spiffe://cluster.local/ns/default/sa/demo";
let server: ServeProcess;
let banner: Banner;
const started: ServeProcess[] = [];

function serve(args: string[]): ServeProcess {
  // Round-robin is node's default on Linux; pinned so the two-worker metrics test is deterministic.
  const p = ServeProcess.start(args, { cwd, env: { NODE_CLUSTER_SCHED_POLICY: "rr" } });
  started.push(p);
  return p;
}

beforeAll(async () => {
  mkdirSync(cwd);
  server = serve(["--workers", "2", "--shutdown-grace-period", "5s"]);
  // Generous: the file runs once per gRPC server (vitest projects), so two of these start at once.
  banner = await server.banner(100_000);
});

afterAll(async () => {
  await Promise.all(started.map((p) => p.stop("SIGKILL")));
  tmp.remove();
});

/** A fresh grpc-js channel with its own connection (the default global subchannel pool would share one). */
const OWN_CONNECTION = { "grpc.use_local_subchannel_pool": 1 };

/** A dev token from the server's data dir, minted in-process (the `meshsign token` CLI has its own tests here). */
function devToken(): Promise<string> {
  return DevTokenIssuer.loadOrCreate(dataDir, { enabled: true }).mintToken({
    namespace: "default",
    serviceAccount: "demo",
  });
}

/** `meshsign ...` in the project directory; fails the test on a non-zero exit. */
async function meshsign(args: string[], env: Record<string, string> = {}): Promise<string> {
  const r = await runMeshsign(args, { cwd, env });
  if (r.code !== 0) throw new Error(`meshsign ${args.join(" ")} exited ${r.code}\n${r.stderr}`);
  return r.stdout;
}

function mode(file: string): string {
  return (statSync(file).mode & 0o777).toString(8).padStart(4, "0");
}

async function httpGet(port: number, urlPath: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${urlPath}`);
  return { status: res.status, body: await res.text() };
}

/** A Connect JSON call to the admin API over TLS verified against the root. */
function adminCall(
  method: string,
  authorization: string | undefined,
): Promise<{ status: number; body: string }> {
  const [host, port] = [
    banner.adminAddress.replace(/:\d+$/, ""),
    Number(banner.adminAddress.split(":").pop()),
  ];
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host,
        port,
        method: "POST",
        path: `/meshsign.admin.v1.AdminService/${method}`,
        ca: readFileSync(path.join(dataDir, "root-cert.pem")),
        servername: "localhost",
        headers: { "content-type": "application/json", ...(authorization ? { authorization } : {}) },
      },
      (res) => {
        let body = "";
        res.on("data", (d: Buffer) => (body += d.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("error", reject);
    req.end("{}");
  });
}

/** Sum of a Prometheus counter's samples whose labels contain `labels`. */
function counterTotal(metrics: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of metrics.split("\n")) {
    const m = new RegExp(`^${name}(\\{[^}]*\\})? (\\S+)$`).exec(line);
    if (!m) continue;
    const labelText = m[1] ?? "";
    if (Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`))) total += Number(m[2]);
  }
  return total;
}

describe("the README quickstart", () => {
  it("prints where it listens, the trust domain, the root CA path and the one command to get a certificate", () => {
    expect(banner.grpcAddress).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(banner.grpcPort).toBeGreaterThan(0);
    expect(banner.trustDomain).toBe("cluster.local");
    expect(banner.rootCert).toBe(path.join(dataDir, "root-cert.pem"));
    expect(banner.requestCommand).toBe(
      `npx meshsign request --namespace default --service-account demo --address ${banner.grpcAddress}`,
    );
  });

  it("gets a certificate with the printed command, then `openssl verify` as the README says", async () => {
    // Exactly the printed command (it writes key.pem, cert-chain.pem and root-cert.pem to ./meshsign-certs) ...
    const args = (banner.requestCommand ?? "").split(/\s+/).slice(2);
    const stdout = await meshsign(args);
    expect(stdout).toContain(`SPIFFE ID:  ${IDENTITY}`);
    expect(stdout).toContain("written to meshsign-certs/:");
    expect(stdout).toMatch(/^ {2}cert-chain\.pem {2}certificate chain: leaf \+ intermediates .*not the root/m);
    // ... and exactly the README's check, in the same directory.
    const readmeCheck = README_QUICKSTART_VERIFY.split(/\s+/).slice(1);
    const verified = openssl(readmeCheck, undefined, cwd);
    expect(verified.output).toContain("meshsign-certs/cert-chain.pem: OK");
    expect(verified.status).toBe(0);
    expect(readFileSync(path.join(certsDir, "root-cert.pem"), "utf8").trim()).toBe(
      readFileSync(banner.rootCert, "utf8").trim(),
    );
    const leaf = new X509Certificate(readFileSync(path.join(certsDir, "cert-chain.pem")));
    expect(leaf.subjectAltName).toBe(`URI:${IDENTITY}`);
    expect(leaf.checkPrivateKey(createPrivateKey(readFileSync(path.join(certsDir, "key.pem"))))).toBe(true);
    // The folder keeps the key private: the folder 0700, the key 0600.
    expect(mode(certsDir)).toBe("0700");
    expect(mode(path.join(certsDir, "key.pem"))).toBe("0600");
  });

  it.each(["rsa-2048", "ed25519"])("gets a certificate for a %s key too", async (keyType) => {
    const out = `out-${keyType}`;
    await meshsign([
      "request",
      "-n",
      "default",
      "-s",
      "demo",
      "--address",
      banner.grpcAddress,
      "--key-type",
      keyType,
      "--out",
      out,
    ]);
    const verified = openssl([
      "verify",
      "-CAfile",
      path.join(cwd, out, "root-cert.pem"),
      path.join(cwd, out, "cert-chain.pem"),
    ]);
    expect(verified.status).toBe(0);
    const key = createPrivateKey(readFileSync(path.join(cwd, out, "key.pem")));
    expect(key.asymmetricKeyType).toBe(keyType === "rsa-2048" ? "rsa" : "ed25519");
  });

  it("meshsign request refuses a server it cannot verify against --ca-file", async () => {
    const other = await createRootCa({
      algorithm: "ecdsa-p256",
      durationMs: 86_400_000,
      trustDomain: "cluster.local",
    });
    const caFile = tmp.write("other-root.pem", other.certificatePem);
    const r = await runMeshsign(
      [
        "request",
        "-n",
        "default",
        "-s",
        "demo",
        "--address",
        banner.grpcAddress,
        "--ca-file",
        caFile,
        "--out",
        "out-untrusted",
      ],
      { cwd },
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/CreateCertificate failed: .*\(gRPC code 14\)/);
    expect(existsSync(path.join(cwd, "out-untrusted", "key.pem"))).toBe(false);
  });

  it("keeps every private key and the admin token 0600 and the data dir 0700", () => {
    expect({
      "meshsign-certs/key.pem": mode(path.join(certsDir, "key.pem")),
      ".meshsign": mode(dataDir),
      ".meshsign/root-key.pem": mode(path.join(dataDir, "root-key.pem")),
      ".meshsign/dev-token-key.pem": mode(path.join(dataDir, "dev-token-key.pem")),
      ".meshsign/admin-token": mode(path.join(dataDir, "admin-token")),
    }).toEqual({
      "meshsign-certs/key.pem": "0600",
      ".meshsign": "0700",
      ".meshsign/root-key.pem": "0600",
      ".meshsign/dev-token-key.pem": "0600",
      ".meshsign/admin-token": "0600",
    });
  });

  it("meshsign token prints only a JWT, which meshsign request --token-file then uses", async () => {
    const stdout = await meshsign(["token", "--namespace", "default", "--service-account", "tokened"]);
    expect(stdout).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\n$/);
    const claims = JSON.parse(Buffer.from(stdout.split(".")[1] as string, "base64url").toString());
    expect(claims).toMatchObject({ sub: "system:serviceaccount:default:tokened", aud: ["istio-ca"] });
    writeFileSync(tmp.path("token"), stdout);
    const out = await meshsign([
      "request",
      "-n",
      "default",
      "-s",
      "tokened",
      "--address",
      banner.grpcAddress,
      "--token-file",
      tmp.path("token"),
      "--out",
      "out-token",
    ]);
    expect(out).toContain("SPIFFE ID:  spiffe://cluster.local/ns/default/sa/tokened");
  });

  it("meshsign token refuses a lifetime the dev issuer cannot mint, naming --ttl", async () => {
    const r = await runMeshsign(["token", "-n", "default", "-s", "demo", "--ttl", "36h"], { cwd });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain('--ttl: "36h" must be a duration between 1s and 24h');
  });

  it("meshsign token is refused with a clear message when the dev token issuer is off", async () => {
    const r = await runMeshsign(["token", "-n", "default", "-s", "demo"], {
      cwd,
      env: { MESHSIGN_DEV_TOKEN_ISSUER: "false" },
    });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("the development token issuer is disabled");
  });

  it("answers /healthz and /readyz with every check passing", async () => {
    expect(await httpGet(banner.healthPort, "/healthz")).toMatchObject({ status: 200 });
    const ready = await httpGet(banner.healthPort, "/readyz");
    expect(ready.status).toBe(200);
    expect(ready.body).toContain("[+]grpc_server ok");
    expect(ready.body).toContain("[+]ca ok");
    expect(ready.body).toContain("readyz check passed");
  });

  it("counts requests and issued certificates across both workers in /metrics", async () => {
    const before = (await httpGet(banner.metricsPort, "/metrics")).body;
    const roots = readFileSync(banner.rootCert, "utf8");
    const token = await devToken();
    const csr = buildCsr(generateKeySync({ type: "ec", curve: "P-256" }), { uris: [IDENTITY] });
    // A client with its own connection per call: the cluster primary deals connections to the
    // workers in turn, so each loop lands on both workers.
    for (let i = 0; i < 6; i++) {
      const c = new IstioCaClient(
        { address: `localhost:${banner.grpcPort}`, rootsPem: roots },
        OWN_CONNECTION,
      );
      try {
        expect(await c.createCertificate({ csr, token })).toHaveLength(2);
      } finally {
        c.close();
      }
    }
    for (let i = 0; i < 6; i++) {
      const r = new RawCaClient(`localhost:${banner.grpcPort}`, roots, { channelOptions: OWN_CONNECTION });
      try {
        expect(await r.call({ csr })).toMatchObject({ ok: false, code: status.UNAUTHENTICATED });
      } finally {
        r.close();
      }
    }
    const after = (await httpGet(banner.metricsPort, "/metrics")).body;
    const delta = (name: string, labels: Record<string, string> = {}) =>
      counterTotal(after, name, labels) - counterTotal(before, name, labels);
    expect(delta("meshsign_certificates_issued_total")).toBe(6);
    expect(delta("meshsign_csr_requests_total", { outcome: "issued" })).toBe(6);
    expect(delta("meshsign_csr_requests_total", { outcome: "unauthenticated", grpc_code: "16" })).toBe(6);
    // The refusals were logged by both workers, so the sums above really add up two processes.
    const refusingWorkers = new Set(
      server.stderr
        .split("\n")
        .filter((l) => l.includes("CreateCertificate refused"))
        .map((l) => (JSON.parse(l) as { name: string }).name),
    );
    expect([...refusingWorkers].sort()).toEqual(["meshsign-worker-1", "meshsign-worker-2"]);
  });

  it("shows status and recent issuances through the admin API", async () => {
    const statusText = await meshsign(["status", "--admin-address", banner.adminAddress]);
    expect(statusText).toMatch(/^meshsign \S+ \(standalone\) ready$/m);
    expect(statusText).toContain("[+] grpc_server");
    expect(statusText).toContain("Trust domain: cluster.local");
    // A table like `kubectl get certificates`, meshsign's own serving certificate in it, no JSON lines.
    expect(statusText).toMatch(/^NAMESPACE\s+NAME\s+READY\s+SECRET\s+ISSUER\s+REASON\s+EXPIRY\s+AGE$/m);
    expect(statusText).toMatch(/^meshsign-system\s+meshsign-serving\s+True\s+meshsign-serving-tls\s+ClusterIssuer\/meshsign-mesh-ca\s+Ready\s+\S+Z\s+\S+$/m);
    expect(statusText).not.toMatch(/^\s*[{-]\s*$|^\s*\{/m);
    const asYaml = await meshsign(["status", "--admin-address", banner.adminAddress, "-o", "yaml"]);
    expect(asYaml).toMatch(/^trustDomain: cluster\.local$/m);
    expect(asYaml).toMatch(/^ {4}name: meshsign-serving$/m);
    const detail = await meshsign(["status", "meshsign-system/meshsign-serving", "--admin-address", banner.adminAddress]);
    expect(detail).toMatch(/^Ready:\s+True \(Ready\)$/m);
    expect(detail).toMatch(/^CertificateRequest:\n {2}Name:\s+meshsign-serving-\d+$/m);
    expect(detail).toMatch(/^Not After:\s+\S+Z \(in \S+\)$/m);
    const issuers = await meshsign(["status", "issuers", "--admin-address", banner.adminAddress]);
    expect(issuers).toMatch(/^KIND\s+NAMESPACE\s+NAME\s+TYPE\s+READY\s+REASON\s+AGE$/m);
    expect(issuers).toMatch(/^ClusterIssuer\s+<none>\s+meshsign-mesh-ca\s+ca\s+True\s+\S+\s+\S+$/m);
    const issuersJson = JSON.parse(await meshsign(["status", "issuers", "--admin-address", banner.adminAddress, "-o", "json"])) as { issuers: { kind: string; name: string; ready: string }[] };
    expect(issuersJson.issuers).toContainEqual(expect.objectContaining({ kind: "ClusterIssuer", name: "meshsign-mesh-ca", ready: "True" }));

    const serial = new X509Certificate(
      readFileSync(path.join(certsDir, "cert-chain.pem")),
    ).serialNumber.toLowerCase();
    const issuances = await meshsign(["issuances", "--admin-address", banner.adminAddress, "-o", "json"]);
    const rows = JSON.parse(issuances) as { identity: string; serial: string }[];
    expect(rows.find((r) => r.serial.toLowerCase() === serial)).toMatchObject({ identity: IDENTITY });
    const table = await meshsign(["issuances", "--admin-address", banner.adminAddress]);
    expect(table).toMatch(/^ISSUED\s+EXPIRES\s+SERIAL\s+KEY\s+IDENTITY$/m);
    expect(table).toContain(IDENTITY);
    // Eight CLI processes one after another: each starts Node and loads meshsign, which takes
    // several seconds apiece on a loaded machine.
  }, 120_000);

  it("says which Certificate is missing, and which data dir does not match the server", async () => {
    const missing = await runMeshsign(["status", "default/missing", "--admin-address", banner.adminAddress], { cwd });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe("meshsign: Certificate default/missing not found\n");
    // Another data dir: its own root and token, neither of which this server knows.
    const other = path.join(cwd, "other-data");
    mkdirSync(other, { mode: 0o700 });
    writeFileSync(path.join(other, "admin-token"), `${"x".repeat(43)}\n`);
    copyFileSync(path.join(dataDir, "root-cert.pem"), path.join(other, "root-cert.pem"));
    const wrongToken = await runMeshsign(["status", "--admin-address", banner.adminAddress, "--data-dir", other], { cwd });
    expect(wrongToken.stderr).toContain(`refused the token in ${path.join(other, "admin-token")}: is --data-dir the one meshsign serves with?`);
    const { certificatePem } = await createRootCa({ algorithm: "ecdsa-p256", durationMs: 3_600_000, trustDomain: "cluster.local" });
    writeFileSync(path.join(other, "root-cert.pem"), certificatePem);
    const wrongRoot = await runMeshsign(["status", "--admin-address", banner.adminAddress, "--data-dir", other], { cwd });
    expect(wrongRoot.stderr).toContain(`presents a certificate that ${path.join(other, "root-cert.pem")} does not verify: is --data-dir the one meshsign serves with?`);
  });

  it("asks whether meshsign runs with that --admin-address when nothing answers there", async () => {
    const free = await freePort();
    const r = await runMeshsign(["status", "--admin-address", `127.0.0.1:${free}`], { cwd });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`nothing answers at 127.0.0.1:${free} (connection refused): is meshsign running, and with this --admin-address?`);
  });

  it("refuses admin calls without the admin token, or with a wrong one", async () => {
    const token = readFileSync(path.join(dataDir, "admin-token"), "utf8").trim();
    expect(await adminCall("GetVersion", `Bearer ${token}`)).toMatchObject({ status: 200 });
    for (const authorization of [
      undefined,
      "Bearer not-the-admin-token-not-the-admin-token",
      `bearer ${token}`,
      token,
    ]) {
      const r = await adminCall("GetVersion", authorization);
      expect(r.status).toBe(401);
      expect(JSON.parse(r.body)).toMatchObject({ code: "unauthenticated" });
      expect(r.body).not.toContain(token);
    }
  });

  it("on SIGTERM stops accepting, finishes the call in flight and exits 0", async () => {
    const roots = readFileSync(banner.rootCert, "utf8");
    const token = await devToken();
    const csr = buildCsr(generateKeySync({ type: "ec", curve: "P-256" }), { uris: [IDENTITY] });
    const held = await HeldCall.open({ port: banner.grpcPort, rootsPem: roots, token, csr });

    server.child.kill("SIGTERM");
    await server.logged(/"msg":"shutting down"/);
    await closedForNewConnections(banner.grpcPort);
    const ready = await httpGet(banner.healthPort, "/readyz").catch(() => ({ status: 0, body: "" }));
    expect(ready.status).not.toBe(200);

    const outcome = await held.finish();
    expect(outcome.grpcStatus).toBe("0");
    expect(outcome.certChain).toHaveLength(2);
    expect(new X509Certificate(outcome.certChain[0] as string).subjectAltName).toBe(`URI:${IDENTITY}`);
    expect(await server.exited()).toEqual({ code: 0, signal: null });
  });

  it("reuses the data dir on restart: same root, same dev token key, nothing regenerated", async () => {
    const saved = tmp.path("saved");
    mkdirSync(saved);
    for (const f of ["root-cert.pem", "root-key.pem", "dev-token-key.pem", "admin-token"])
      copyFileSync(path.join(dataDir, f), path.join(saved, f));

    if (server.running) await server.stop("SIGTERM");
    server = serve(["--workers", "1"]);
    banner = await server.banner();
    for (const f of ["root-cert.pem", "root-key.pem", "dev-token-key.pem", "admin-token"]) {
      expect(readFileSync(path.join(dataDir, f)).equals(readFileSync(path.join(saved, f))), f).toBe(true);
    }
    expect(server.stderr).not.toContain("created a new root CA");
    // The issuance history survived the restart (standalone keeps it in the data dir).
    const serial = new X509Certificate(readFileSync(path.join(certsDir, "cert-chain.pem"))).serialNumber.toLowerCase();
    const history = JSON.parse(
      await meshsign(["issuances", "--admin-address", banner.adminAddress, "-o", "json", "--limit", "1000"]),
    ) as { identity: string; serial: string }[];
    expect(history.find((r) => r.serial.toLowerCase() === serial)).toMatchObject({ identity: IDENTITY });
    // The token minted before the restart still verifies: the dev key was reused.
    const out = await meshsign([
      "request",
      "-n",
      "default",
      "-s",
      "tokened",
      "--address",
      banner.grpcAddress,
      "--token-file",
      tmp.path("token"),
      "--out",
      "out-restart",
    ]);
    expect(out).toContain("spiffe://cluster.local/ns/default/sa/tokened");
    expect(
      openssl([
        "verify",
        "-CAfile",
        path.join(saved, "root-cert.pem"),
        path.join(cwd, "out-restart/cert-chain.pem"),
      ]).status,
    ).toBe(0);
  });

  it("names the flag of a port in use and creates nothing in a new data dir", async () => {
    const fresh = path.join(cwd, "never-created");
    const second = serve(["--workers", "1", "--data-dir", fresh, "--metrics-port", String(banner.metricsPort)]);
    expect(await second.exited()).toEqual({ code: 1, signal: null });
    expect(second.stderr).toContain(`0.0.0.0:${banner.metricsPort} is already in use`);
    expect(second.stderr).toContain("choose another port with --metrics-port (MESHSIGN_METRICS_PORT)");
    expect(existsSync(fresh)).toBe(false);
    expect(server.running).toBe(true);
  });

  it("refuses to start a second meshsign on a data dir in use, exiting 1", async () => {
    const second = serve(["--workers", "1"]);
    expect(await second.exited()).toEqual({ code: 1, signal: null });
    expect(second.stderr).toMatch(/another meshsign \(pid \d+\) owns/);
    expect(server.running).toBe(true);
  });

  it("exits 0 on SIGTERM with a single worker too", async () => {
    expect(await server.stop("SIGTERM")).toEqual({ code: 0, signal: null });
  });
});

/** Resolves once a TCP connection to the port is refused (the listener is closed). */
async function closedForNewConnections(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const refused = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, "127.0.0.1");
      s.once("connect", () => {
        s.destroy();
        resolve(false);
      });
      s.once("error", () => resolve(true));
    });
    if (refused) return;
    if (Date.now() > deadline) throw new Error(`port ${port} still accepts connections after SIGTERM`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
