/**
 * `meshsign serve` standalone with an ACME ClusterIssuer from `--manifests`,
 * against Pebble, HTTP-01 answered by meshsign's own solver listener
 * (`--acme-http01-solver-address`): killed with SIGKILL in the middle of an
 * order and started again on the same data dir, it finishes that same order
 * (same Order object, same ACME order URL) instead of placing a second one.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  CERTIFICATES,
  CHALLENGES,
  type Challenge,
  ORDERS,
  type Order,
  SECRETS,
} from "../../../src/api/types.js";
import type { Certificate, Secret } from "../../../src/engine/lib/api.js";
import { openEmbeddedStore } from "../../../src/store/embedded/index.js";
import { REPO_ROOT, TempDir } from "../../lib/temp-dir.js";
import { freePort } from "../../lib/ports.js";
import { type Pebble, startPebble } from "../harness.js";
import { verifiesWithNodeCrypto } from "./flow.js";

const tmp = new TempDir("meshsign-acme-serve-");
const children: ChildProcess[] = [];
let pebble: Pebble;
let solverPort: number;

beforeAll(async () => {
  solverPort = await freePort();
  pebble = await startPebble({ httpPort: solverPort });
});
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
});
afterAll(async () => {
  await pebble?.stop();
  tmp.remove();
});

function writeManifests(dir: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    path.join(dir, "acme.yaml"),
    `apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: { name: pebble }
spec:
  acme:
    server: ${pebble.directoryUrl}
    email: ops@example.com
    caBundle: ${Buffer.from(pebble.tlsCaPem).toString("base64")}
    privateKeySecretRef: { name: pebble-account }
    solvers:
      # The names resolve to 127.0.0.1 only in Pebble's DNS, so no self-check; the wait leaves the
      # order in the middle long enough to kill meshsign there.
      - waitInsteadOfSelfCheck: 8s
        http01: { ingress: {} }
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: { name: shop, namespace: istio-ingress }
spec:
  secretName: shop-tls
  dnsNames: [shop.example.com, www.shop.example.com]
  issuerRef: { name: pebble, kind: ClusterIssuer }
`,
  );
}

function serve(dataDir: string, manifests: string, log: string[]): ChildProcess {
  const args = [
    path.join(REPO_ROOT, "bin/meshsign.js"),
    "serve",
    "--data-dir",
    dataDir,
    "--manifests",
    manifests,
    "--workers",
    "1",
    "--serving-address",
    "127.0.0.1:0",
    "--readiness-probe-port",
    "0",
    "--metrics-port",
    "0",
    "--admin-address",
    "127.0.0.1:0",
    "--acme-http01-solver-address",
    `127.0.0.1:${solverPort}`,
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

interface Snapshot {
  orders: Order[];
  challenges: Challenge[];
  certificate?: Certificate;
  secret?: Secret;
}

async function snapshot(dataDir: string): Promise<Snapshot> {
  const store = await openEmbeddedStore({ dataDir, readOnly: true });
  try {
    return {
      orders: await store.list<Order>(ORDERS, { namespace: "istio-ingress" }),
      challenges: await store.list<Challenge>(CHALLENGES, { namespace: "istio-ingress" }),
      certificate: await store.get<Certificate>(CERTIFICATES, "istio-ingress", "shop"),
      secret: await store.get<Secret>(SECRETS, "istio-ingress", "shop-tls"),
    };
  } finally {
    await store.close();
  }
}

/** Polls the data dir (another process owns it) until `check` holds; fails when the child dies. */
async function until<T>(
  what: string,
  child: ChildProcess,
  log: string[],
  check: () => Promise<T | undefined>,
  timeoutMs = 150_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check().catch(() => undefined);
    if (v !== undefined) return v;
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`meshsign exited while waiting for ${what}:\n${log.join("").slice(-4000)}`);
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}:\n${log.join("").slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const ready = (c: Certificate | undefined) =>
  c?.status?.conditions?.some((x) => x.type === "Ready" && x.status === "True") === true;

describe("meshsign serve with an ACME ClusterIssuer (Pebble)", () => {
  it("finishes the same ACME order after kill -9 in the middle of it", { timeout: 360_000 }, async () => {
    const dataDir = tmp.path("data");
    const manifests = tmp.path("manifests");
    writeManifests(manifests);

    const log1: string[] = [];
    const first = serve(dataDir, manifests, log1);
    // Killed once a Challenge was presented: the order exists at the CA and waits for validation.
    const atKill = await until("a presented Challenge", first, log1, async () => {
      const s = await snapshot(dataDir);
      return s.challenges.some((c) => c.status?.presented === true) && s.orders[0]?.status?.url
        ? s
        : undefined;
    });
    first.kill("SIGKILL");
    await new Promise((r) => first.once("exit", r));
    expect(atKill.orders).toHaveLength(1);
    expect(ready(atKill.certificate)).toBe(false);
    const url = atKill.orders[0]?.status?.url;

    const log2: string[] = [];
    const second = serve(dataDir, manifests, log2);
    const done = await until("the Certificate to be Ready after the restart", second, log2, async () => {
      const s = await snapshot(dataDir);
      return ready(s.certificate) ? s : undefined;
    });
    expect(done.orders.map((o) => [o.metadata.uid, o.status?.url, o.status?.state])).toEqual([
      [atKill.orders[0]?.metadata.uid, url, "valid"],
    ]);
    // Pebble's own count: one order was ever added (this file's Pebble serves nothing else).
    expect(pebble.log().match(/Added order "/g)).toHaveLength(1);
    const chain = Buffer.from(done.secret?.data?.["tls.crt"] ?? "", "base64").toString();
    expect(new X509Certificate(chain).subjectAltName).toBe("DNS:shop.example.com, DNS:www.shop.example.com");
    expect(verifiesWithNodeCrypto(chain, await pebble.root(0))).toBe(true);
    second.kill("SIGTERM");
    await new Promise((r) => second.once("exit", r));
  });
});
