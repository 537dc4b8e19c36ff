/**
 * A real Kubernetes control plane for meshsign's Kubernetes suite: etcd and
 * kube-apiserver built from Go modules by `test/kube/setup.sh`, started on
 * loopback with random ports, a service-account issuer and signing key
 * (so TokenRequest, TokenReview and `/openid/v1/jwks` are real), RBAC, and an
 * admin identity in a kubeconfig. No kubelet or controller-manager runs:
 * Pods exist as objects only, and nothing creates `default` ServiceAccounts.
 *
 * Binaries are found through MESHSIGN_KUBE_APISERVER / MESHSIGN_ETCD, else
 * the `harness.env` that setup.sh writes under
 * `${MESHSIGN_CACHE:-$HOME/.cache/meshsign}/bin`.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { issueLeaf, makeCa } from "../lib/openssl-ca.js";
import { freePort } from "../lib/ports.js";
import { keyPairSync } from "../lib/key-pair.js";

/** The issuer kube-apiserver puts in service-account tokens. */
export const SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local";
/** The default audience of tokens (`--api-audiences`), as in a kubeadm cluster. */
export const DEFAULT_API_AUDIENCE = "https://kubernetes.default.svc.cluster.local";
/** The service CIDR kube-apiserver allocates ClusterIPs from (never routed: no kube-proxy runs). */
export const SERVICE_CLUSTER_IP_RANGE = "10.96.0.0/16";

const READY_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 15_000;

export interface KubeApiServer {
  /** A kubeconfig with the admin identity (group system:masters), context "meshsign-test". */
  readonly kubeconfigPath: string;
  /** https://127.0.0.1:<port> */
  readonly server: string;
  /** PEM of the certificates that verify the API server's serving certificate. */
  readonly caPem: string;
  /** Bearer token of the admin identity (also in the kubeconfig). */
  readonly adminToken: string;
  /** The temp directory holding the kubeconfig, keys and logs (removed by stop()). */
  readonly dir: string;
  /** Stops kube-apiserver then etcd and removes the temp directory. Idempotent. */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Extra kube-apiserver flags, e.g. ["--feature-gates=..."]. */
  readonly extraApiServerArgs?: readonly string[];
  /** Keep the temp directory (logs) after stop(); also set by MESHSIGN_KUBE_KEEP=1. */
  readonly keepDir?: boolean;
  /**
   * Configure the aggregation layer, so an APIService can send requests to an extension API
   * server on loopback (a cert-manager DNS-01 webhook): a front-proxy CA and client certificate
   * (`--proxy-client-*`, `--requestheader-*`, published to extension servers in
   * kube-system/extension-apiserver-authentication) and `--enable-aggregator-routing`, which
   * proxies to the Service's endpoint addresses since no kube-proxy routes ClusterIPs.
   */
  readonly aggregation?: boolean;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Starts etcd and kube-apiserver and resolves once /readyz answers ok. */
export async function startKubeApiServer(options: StartOptions = {}): Promise<KubeApiServer> {
  const binaries = findBinaries();
  installExitHook();
  const dir = await mkdtemp(path.join(os.tmpdir(), "meshsign-kube-"));
  const keepDir = options.keepDir ?? process.env.MESHSIGN_KUBE_KEEP === "1";
  const children: ChildProcess[] = [];
  let stopped = false;

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    // Reverse start order: the API server first, so it does not log etcd errors while dying.
    for (const child of [...children].reverse()) await terminate(child);
    if (!keepDir) await rm(dir, { recursive: true, force: true });
  };

  try {
    const [etcdClientPort, etcdPeerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
    const etcdUrl = `http://127.0.0.1:${etcdClientPort}`;
    const etcdPeerUrl = `http://127.0.0.1:${etcdPeerPort}`;
    const etcd = launch(
      binaries.etcd,
      [
        "--name=meshsign-test",
        `--data-dir=${path.join(dir, "etcd")}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=${etcdPeerUrl}`,
        `--initial-advertise-peer-urls=${etcdPeerUrl}`,
        `--initial-cluster=meshsign-test=${etcdPeerUrl}`,
        "--log-level=warn",
        // A throwaway store: durability buys nothing and fsync dominates on slow disks.
        "--unsafe-no-fsync",
      ],
      path.join(dir, "etcd.log"),
    );
    children.push(etcd);
    await waitFor("etcd", etcd, path.join(dir, "etcd.log"), () => httpOk(`${etcdUrl}/health`));

    // One key pair signs and verifies service-account tokens.
    const saKey = keyPairSync("rsa", { modulusLength: 2048 });
    const saPrivatePath = path.join(dir, "sa.key");
    const saPublicPath = path.join(dir, "sa.pub");
    await writeFile(saPrivatePath, saKey.privateKey.export({ type: "pkcs8", format: "pem" }), {
      mode: 0o600,
    });
    await writeFile(saPublicPath, saKey.publicKey.export({ type: "spki", format: "pem" }), { mode: 0o600 });

    const adminToken = randomBytes(24).toString("hex");
    const tokenFile = path.join(dir, "tokens.csv");
    await writeFile(tokenFile, `${adminToken},meshsign-test-admin,meshsign-test-admin,"system:masters"\n`, {
      mode: 0o600,
    });

    const certDir = path.join(dir, "pki");
    const aggregationArgs = options.aggregation ? await aggregationFlags(dir) : [];
    const server = `https://127.0.0.1:${apiPort}`;
    const apiserver = launch(
      binaries.kubeApiServer,
      [
        `--etcd-servers=${etcdUrl}`,
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        `--secure-port=${apiPort}`,
        `--cert-dir=${certDir}`,
        `--service-cluster-ip-range=${SERVICE_CLUSTER_IP_RANGE}`,
        `--service-account-issuer=${SERVICE_ACCOUNT_ISSUER}`,
        `--service-account-key-file=${saPublicPath}`,
        `--service-account-signing-key-file=${saPrivatePath}`,
        `--api-audiences=${DEFAULT_API_AUDIENCE}`,
        "--authorization-mode=RBAC",
        `--token-auth-file=${tokenFile}`,
        // Let anyone read the OIDC discovery documents, as clusters usually grant
        // through system:service-account-issuer-discovery.
        "--anonymous-auth=true",
        "--profiling=false",
        "--v=1",
        ...aggregationArgs,
        ...(options.extraApiServerArgs ?? []),
      ],
      path.join(dir, "kube-apiserver.log"),
    );
    children.push(apiserver);

    const certFile = path.join(certDir, "apiserver.crt");
    await waitFor("kube-apiserver", apiserver, path.join(dir, "kube-apiserver.log"), async () => {
      if (!existsSync(certFile)) return false;
      return httpOk(`${server}/readyz`, { ca: await readFile(certFile, "utf8"), token: adminToken });
    });
    // --cert-dir writes the self-signed serving certificate followed by the CA that signed it.
    const caPem = await readFile(certFile, "utf8");

    const kubeconfigPath = path.join(dir, "kubeconfig");
    await writeFile(kubeconfigPath, kubeconfig(server, caPem, adminToken), { mode: 0o600 });
    return { kubeconfigPath, server, caPem, adminToken, dir, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The front-proxy certificates and flags of the aggregation layer (StartOptions.aggregation). */
async function aggregationFlags(dir: string): Promise<string[]> {
  const pki = path.join(dir, "front-proxy");
  await mkdir(pki, { mode: 0o700 });
  const ca = makeCa(pki, "front-proxy");
  const client = issueLeaf(pki, ca, "front-proxy-client");
  return [
    `--requestheader-client-ca-file=${ca.certFile}`,
    "--requestheader-allowed-names=front-proxy-client",
    "--requestheader-username-headers=X-Remote-User",
    "--requestheader-group-headers=X-Remote-Group",
    "--requestheader-extra-headers-prefix=X-Remote-Extra-",
    `--proxy-client-cert-file=${client.certFile}`,
    `--proxy-client-key-file=${client.keyFile}`,
    "--enable-aggregator-routing=true",
  ];
}

/** A kubeconfig for `server` authenticating with a bearer token. */
export function kubeconfig(server: string, caPem: string, token: string, namespace = "default"): string {
  const ca = Buffer.from(caPem).toString("base64");
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    "- name: meshsign-test",
    "  cluster:",
    `    server: ${server}`,
    `    certificate-authority-data: ${ca}`,
    "users:",
    "- name: meshsign-test",
    "  user:",
    `    token: ${token}`,
    "contexts:",
    "- name: meshsign-test",
    "  context:",
    "    cluster: meshsign-test",
    "    user: meshsign-test",
    `    namespace: ${namespace}`,
    "current-context: meshsign-test",
    "",
  ].join("\n");
}

interface Binaries {
  readonly kubeApiServer: string;
  readonly etcd: string;
}

/** Where setup.sh recorded the binaries it built. */
export function harnessEnv(): Record<string, string> {
  const cache = process.env.MESHSIGN_CACHE ?? path.join(os.homedir(), ".cache", "meshsign");
  const file = path.join(cache, "bin", "harness.env");
  const env: Record<string, string> = {};
  if (existsSync(file)) {
    for (const line of readFileSync(file, "utf8").split("\n")) {
      const eq = line.indexOf("=");
      if (eq > 0) env[line.slice(0, eq)] = line.slice(eq + 1);
    }
  }
  for (const key of [
    "MESHSIGN_KUBE_APISERVER",
    "MESHSIGN_ETCD",
    "MESHSIGN_ISTIO_CLIENT",
    "MESHSIGN_KUSTOMIZE",
    "MESHSIGN_HELM",
    "MESHSIGN_GATEWAY_API_CRDS",
    "MESHSIGN_ISTIO_CRDS",
  ]) {
    const value = process.env[key];
    if (value) env[key] = value;
  }
  return env;
}

function findBinaries(): Binaries {
  const env = harnessEnv();
  const kubeApiServer = env.MESHSIGN_KUBE_APISERVER;
  const etcd = env.MESHSIGN_ETCD;
  if (!kubeApiServer || !etcd || !existsSync(kubeApiServer) || !existsSync(etcd)) {
    throw new Error(
      "kube-apiserver/etcd binaries not found: run `bash test/kube/setup.sh` (npm run test:kube does) " +
        "or set MESHSIGN_KUBE_APISERVER and MESHSIGN_ETCD",
    );
  }
  return { kubeApiServer, etcd };
}

/** Absolute path of the repository root (two levels above this file). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

function launch(binary: string, args: string[], logPath: string): ChildProcess {
  const log = createWriteStream(logPath, { flags: "a" });
  const child = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"] });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  live.add(child);
  child.once("exit", () => live.delete(child));
  return child;
}

async function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

/** Kill what we started if the test process exits without calling stop(). */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const child of live) child.kill("SIGKILL");
  });
}

async function waitFor(
  name: string,
  child: ChildProcess,
  logPath: string,
  probe: () => Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `${name} exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${await tail(logPath)}`,
      );
    }
    if (await probe().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`${name} was not ready within ${READY_TIMEOUT_MS / 1000}s:\n${await tail(logPath)}`);
}

async function tail(file: string, lines = 40): Promise<string> {
  const text = await readFile(file, "utf8").catch(() => "");
  return text.split("\n").slice(-lines).join("\n");
}

function httpOk(url: string, opts: { ca?: string; token?: string } = {}): Promise<boolean> {
  return new Promise((resolve) => {
    const u = new URL(url);
    const request = u.protocol === "https:" ? https.request : httpRequest;
    const req = request(
      u,
      {
        method: "GET",
        ca: opts.ca,
        headers: opts.token ? { authorization: `Bearer ${opts.token}` } : {},
        timeout: 5_000,
      },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on("error", () => resolve(false));
    req.on("timeout", () => req.destroy());
    req.end();
  });
}

