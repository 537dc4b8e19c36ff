/**
 * Starts `meshsign serve` as a user does (`node bin/meshsign.js serve`), on
 * loopback with free ports and a throw-away data dir, and stops it with
 * SIGTERM at the end. It runs standalone in earnest: the dev token issuer
 * off, tokens verified against a cluster-like RS256 signer's JWKS file
 * (bench/lib/cluster-tokens.ts), whose tokens the cases mint.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { get } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { ClusterTokenSigner } from "./cluster-tokens.js";
import type { LoadTarget } from "./load-protocol.js";
import { cpuMs } from "./proc.js";

export interface MeshsignProcess {
  /** The primary's pid; the cluster workers are its children. */
  readonly pid: number;
  /** `127.0.0.1:<port>` of the CreateCertificate listener. */
  readonly address: string;
  readonly dataDir: string;
  /** The token signer the server trusts (its only authenticator). */
  readonly tokens: ClusterTokenSigner;
  /** The mesh roots, what clients verify the server with (`<data-dir>/root-cert.pem` by default). */
  readonly rootsPem: string;
  /** What a load generator dials: the listener, its roots, and a name its serving certificate has. */
  readonly target: LoadTarget;
  readonly workers: number | undefined;
  /** `127.0.0.1:<port>` of the admin API (Connect over TLS, bearer token in `<data-dir>/admin-token`). */
  readonly adminAddress: string;
  readonly metricsPort: number;
  /** When this process saw the start-up banner (`performance.now()`), and the CPU meshsign had spent by then (ms). */
  readonly banner: { readonly atMs: number; readonly cpuMs: number };
  /** SIGTERM, then waits for the exit (SIGKILL after `graceMs`); resolves with the exit code. */
  stop(graceMs?: number): Promise<number | null>;
}

export interface StartOptions {
  /** Where `bin/meshsign.js` is (and the child's working directory). */
  readonly repoRoot: string;
  /** `--workers`: gRPC worker processes (1 = in the primary); undefined = meshsign's default (one per core it may use). */
  readonly workers: number | undefined;
  /** The token signer to trust (default: a fresh one), e.g. one shared with another server under test. */
  readonly tokens?: ClusterTokenSigner;
  /**
   * The token-authentication flags, in place of trusting `tokens` (its JWKS file), e.g. Kubernetes
   * mode's TokenReview; `tokens` is then only what the process reports.
   */
  readonly authArgs?: readonly string[];
  /**
   * Where the mesh roots come from once it serves (default `<data-dir>/root-cert.pem`); Kubernetes
   * mode keeps its CA in a Secret and publishes the roots in the istio-ca-root-cert ConfigMaps.
   */
  readonly readRoots?: () => Promise<string>;
  /** A command meshsign's node is run under, e.g. `["taskset", "-c", "0"]` (it must exec node in place, keeping the pid). */
  readonly launcher?: readonly string[];
  /** More `serve` flags, e.g. `--ca-key-algorithm rsa-2048`. */
  readonly extraArgs?: readonly string[];
  /** When set, everything meshsign prints (banner and logs) is also appended to this file. */
  readonly logFile?: string;
  /** Options for node itself, e.g. `--cpu-prof` (cluster workers inherit them). */
  readonly nodeArgs?: readonly string[];
  readonly startTimeoutMs?: number;
}

const BANNER = /serving Istio CreateCertificate on (\S+):(\d+) \(TLS\)/;
const HEALTH = /health:\s+http:\/\/localhost:(\d+)\/readyz\s+metrics: http:\/\/localhost:(\d+)\/metrics/;
const ADMIN = /admin API:\s+https:\/\/(\S+)/;

interface Banner {
  readonly address: string;
  readonly healthPort: number;
  readonly metricsPort: number;
  readonly adminAddress: string;
}

export async function startMeshsign(options: StartOptions): Promise<MeshsignProcess> {
  const base = mkdtempSync(path.join(tmpdir(), "meshsign-bench-"));
  const dataDir = path.join(base, "data");
  const tokens = options.tokens ?? (await ClusterTokenSigner.create(path.join(base, "cluster-sa")));
  const args = [
    ...(options.nodeArgs ?? []),
    path.join(options.repoRoot, "bin/meshsign.js"),
    "serve",
    "--data-dir",
    dataDir,
    "--serving-address",
    "127.0.0.1:0",
    "--readiness-probe-port",
    "0",
    "--metrics-port",
    "0",
    "--admin-address",
    "127.0.0.1:0",
    ...(options.workers === undefined ? [] : ["--workers", String(options.workers)]),
    ...(options.authArgs ?? tokens.serveArgs()),
    ...(options.extraArgs ?? []),
  ];
  const [command, ...prefix] = [...(options.launcher ?? []), process.execPath];
  const child = spawn(command as string, [...prefix, ...args], {
    cwd: options.repoRoot,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const tail = new OutputTail();
  const log = options.logFile ? createWriteStream(options.logFile, { flags: "a" }) : undefined;
  child.stdout?.on("data", (b: Buffer) => {
    tail.add(b);
    log?.write(b);
  });
  child.stderr?.on("data", (b: Buffer) => {
    tail.add(b);
    log?.write(b);
  });
  child.once("exit", () => log?.end());
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  try {
    const { address, healthPort, metricsPort, adminAddress } = await waitForBanner(
      child,
      tail,
      options.startTimeoutMs ?? 60_000,
    );
    const bannerAt = { atMs: performance.now(), cpuMs: cpuMs(child.pid as number) };
    await waitReady(healthPort, 30_000);
    const rootsPem = options.readRoots
      ? await options.readRoots()
      : readFileSync(path.join(dataDir, "root-cert.pem"), "utf8");
    return {
      pid: child.pid as number,
      address,
      adminAddress,
      metricsPort,
      banner: bannerAt,
      dataDir,
      tokens,
      rootsPem,
      // The serving certificate names localhost by default (meshsign serve --serving-certificate-dns-names).
      target: { address, rootsPem, serverName: "localhost" },
      workers: options.workers,
      stop: async (graceMs = 20_000) => {
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
        const code = await exited;
        clearTimeout(timer);
        rmSync(base, { recursive: true, force: true });
        return code;
      },
    };
  } catch (err) {
    child.kill("SIGKILL");
    await exited;
    rmSync(base, { recursive: true, force: true });
    throw new Error(`meshsign did not start: ${(err as Error).message}\n--- its output ---\n${tail.text()}`);
  }
}

function waitForBanner(child: ChildProcess, tail: OutputTail, timeoutMs: number): Promise<Banner> {
  return new Promise((resolve, reject) => {
    let stdout = "";
    const timer = setTimeout(() => done(new Error(`no banner within ${timeoutMs} ms`)), timeoutMs);
    const onData = (b: Buffer) => {
      stdout += b.toString();
      const m = stdout.match(BANNER);
      const h = stdout.match(HEALTH);
      const a = stdout.match(ADMIN);
      if (m && h && a)
        done(undefined, {
          address: `${m[1]}:${m[2]}`,
          healthPort: Number(h[1]),
          metricsPort: Number(h[2]),
          adminAddress: a[1] as string,
        });
    };
    const onExit = (code: number | null) =>
      done(new Error(`exited with ${code} before serving (${tail.text().length} bytes of output)`));
    const done = (err?: Error, value?: Banner) => {
      clearTimeout(timer);
      child.stdout?.off("data", onData);
      child.off("exit", onExit);
      if (err) reject(err);
      else resolve(value as Banner);
    };
    child.stdout?.on("data", onData);
    child.once("exit", onExit);
  });
}

async function waitReady(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await new Promise<number>((resolve) => {
      get({ host: "127.0.0.1", port, path: "/readyz", timeout: 2000 }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).on("error", () => resolve(0));
    });
    if (status === 200) return;
    if (Date.now() > deadline)
      throw new Error(`/readyz on port ${port} not 200 within ${timeoutMs} ms (last ${status})`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Keeps the last 8 KiB of a child's output for error messages. */
class OutputTail {
  #buf = "";
  add(b: Buffer): void {
    this.#buf = (this.#buf + b.toString()).slice(-8192);
  }
  text(): string {
    return this.#buf;
  }
}
