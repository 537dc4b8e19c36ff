/**
 * The DNS-01 webhook test server (test/dns-webhook/server, built by
 * test/dns-webhook/setup.sh from cert-manager's webhook framework): one
 * process per call, serving the solver `rfc2136-test` in a given API group.
 *
 * Like any cert-manager webhook it is a Kubernetes extension API server: it
 * needs an API server for its delegated authentication (TokenReview, and the
 * request-header CA in kube-system/extension-apiserver-authentication) and
 * authorization (SubjectAccessReview), here the test kube-apiserver's admin
 * kubeconfig. Its serving certificate, from a CA made here, names the Service
 * the aggregation layer dials (`<service>.<namespace>.svc`) and the address
 * it listens on.
 *
 * It listens on the host's first non-loopback IPv4 address, not 127.0.0.1:
 * Kubernetes refuses loopback addresses in EndpointSlices, and the aggregation
 * layer (`--enable-aggregator-routing`) dials the EndpointSlice's address.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import { harnessEnv } from "../kube/harness.js";
import { issueLeaf, makeCa } from "../lib/openssl-ca.js";
import { freePort } from "../lib/ports.js";

/** The solver name main.go registers. */
export const WEBHOOK_SOLVER_NAME = "rfc2136-test";

const READY_TIMEOUT_MS = 180_000;
const STOP_TIMEOUT_MS = 15_000;

export interface DnsWebhookServer {
  /** https://<host>:<port>, the URL standalone meshsign is given. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** The CA that signed the serving certificate (an APIService's caBundle, standalone's caFile). */
  readonly caPem: string;
  readonly caFile: string;
  /** The process log so far, for failure messages. */
  log(): Promise<string>;
  stop(): Promise<void>;
}

export interface DnsWebhookOptions {
  readonly groupName: string;
  /** Kubeconfig for its core API client, TokenReviews and SubjectAccessReviews. */
  readonly kubeconfigPath: string;
  /** The Service an APIService will name, for the serving certificate. */
  readonly service: { readonly name: string; readonly namespace: string };
}

/** The host's first non-internal IPv4 address; the suite needs one (see above). */
export function hostAddress(): string {
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
  }
  throw new Error(
    "this host has no non-loopback IPv4 address: the aggregation-layer tests need one (EndpointSlices may not name 127.0.0.0/8)",
  );
}

export async function startDnsWebhook(options: DnsWebhookOptions): Promise<DnsWebhookServer> {
  const binary = process.env.MESHSIGN_DNS_WEBHOOK || harnessEnv().MESHSIGN_DNS_WEBHOOK;
  if (!binary || !existsSync(binary)) {
    throw new Error(
      "the dns-webhook test server is not built: run `bash test/dns-webhook/setup.sh` (npm run test:dns-webhook does)",
    );
  }
  const dir = await mkdtemp(path.join(os.tmpdir(), "meshsign-dns-webhook-"));
  const host = hostAddress();
  const ca = makeCa(dir, "dns-webhook");
  const { name, namespace } = options.service;
  const serving = issueLeaf(dir, ca, "dns-webhook-serving", {
    dns: [`${name}.${namespace}.svc`, `${name}.${namespace}.svc.cluster.local`],
    ips: [host, "127.0.0.1"],
  });
  const port = await freePort(host);
  const logPath = path.join(dir, "dns-webhook.log");
  const log = createWriteStream(logPath, { flags: "a" });
  const child: ChildProcess = spawn(
    binary,
    [
      `--group-name=${options.groupName}`,
      `--bind-address=${host}`,
      `--secure-port=${port}`,
      `--tls-cert-file=${serving.certFile}`,
      `--tls-private-key-file=${serving.keyFile}`,
      `--kubeconfig=${options.kubeconfigPath}`,
      `--authentication-kubeconfig=${options.kubeconfigPath}`,
      `--authorization-kubeconfig=${options.kubeconfigPath}`,
      "--v=2",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);
  const caPem = await readFile(ca.certFile, "utf8");
  const readLog = () => readFile(logPath, "utf8").catch(() => "");

  const stop = async () => {
    process.off("exit", killOnExit);
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    }
    if (process.env.MESHSIGN_KUBE_KEEP !== "1") await rm(dir, { recursive: true, force: true });
  };

  const url = `https://${host}:${port}`;
  try {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(
          `dns-webhook exited (${child.exitCode ?? child.signalCode}):\n${tail(await readLog())}`,
        );
      }
      if (await healthy(`${url}/healthz`, caPem)) break;
      if (Date.now() > deadline)
        throw new Error(`dns-webhook not healthy within ${READY_TIMEOUT_MS} ms:\n${tail(await readLog())}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, host, port, caPem, caFile: ca.certFile, log: readLog, stop };
}

function tail(text: string, lines = 40): string {
  return text.split("\n").slice(-lines).join("\n");
}

function healthy(url: string, ca: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = https.get(url, { ca, timeout: 5_000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on("error", () => resolve(false));
    req.on("timeout", () => req.destroy());
  });
}

