import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { testGrpcImplementation } from "./grpc-implementation.js";
import { REPO_ROOT } from "./temp-dir.js";

/** bin/meshsign.js, run with the node running the tests, as `npx meshsign` would. */
export const MESHSIGN_BIN = path.join(REPO_ROOT, "bin", "meshsign.js");

/** The environment without any MESHSIGN_* setting of the machine running the tests. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("MESHSIGN_")) env[k] = v;
  return { ...env, ...extra };
}

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `meshsign <args>` to completion. */
export function runMeshsign(
  args: readonly string[],
  options: { cwd: string; env?: Record<string, string>; timeoutMs?: number },
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MESHSIGN_BIN, ...args], {
      cwd: options.cwd,
      env: cleanEnv(options.env),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(
        new Error(`meshsign ${args.join(" ")} did not finish in time\nstdout: ${stdout}\nstderr: ${stderr}`),
      );
    }, options.timeoutMs ?? 30_000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** What the `meshsign serve` banner says, parsed. */
export interface Banner {
  readonly text: string;
  /** host:port of CreateCertificate as printed. */
  readonly grpcAddress: string;
  readonly grpcPort: number;
  /** host:port of the admin API. */
  readonly adminAddress: string;
  readonly healthPort: number;
  readonly metricsPort: number;
  readonly rootCert: string;
  readonly trustDomain: string;
  /** The one command the banner tells the user to run, if any. */
  readonly requestCommand: string | undefined;
}

export function parseBanner(text: string): Banner {
  const need = (re: RegExp, what: string): RegExpExecArray => {
    const m = re.exec(text);
    if (!m) throw new Error(`banner has no ${what}:\n${text}`);
    return m;
  };
  const grpc = need(/serving Istio CreateCertificate on (\S+):(\d+) \(TLS\)/, "CreateCertificate address");
  const admin = need(/admin API:\s+https:\/\/(\S+)/, "admin API");
  const health = need(
    /health:\s+http:\/\/localhost:(\d+)\/readyz\s+metrics: http:\/\/localhost:(\d+)\/metrics/,
    "health/metrics ports",
  );
  return {
    text,
    grpcAddress: `${grpc[1]}:${grpc[2]}`,
    grpcPort: Number(grpc[2]),
    adminAddress: admin[1] as string,
    healthPort: Number(health[1]),
    metricsPort: Number(health[2]),
    rootCert: need(/root CA:\s+(\S+)/, "root CA path")[1] as string,
    trustDomain: need(/trust domain:\s+(\S+)/, "trust domain")[1] as string,
    requestCommand: /^\s*(npx meshsign request .*)$/m.exec(text)?.[1],
  };
}

/**
 * A `meshsign serve` child process. Listens on free ports (port 0 everywhere)
 * so the tests never depend on the default ports being free.
 */
export class ServeProcess {
  readonly child: ChildProcess;
  #stdout = "";
  #stderr = "";
  #closed = false;
  readonly #exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(child: ChildProcess) {
    this.child = child;
    child.stdout?.on("data", (d: Buffer) => (this.#stdout += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (this.#stderr += d.toString()));
    // "close", not "exit": by then stdout and stderr are drained, so a dying process's last words are kept.
    this.#exit = new Promise((resolve) =>
      child.on("close", (code, signal) => {
        this.#closed = true;
        resolve({ code, signal });
      }),
    );
  }

  /**
   * Spawns `meshsign serve <args>` with loopback, port-0 listeners and the
   * gRPC server under test unless `args` say otherwise.
   */
  static start(
    args: readonly string[],
    options: { cwd: string; env?: Record<string, string> },
  ): ServeProcess {
    const defaults = [
      "--serving-address",
      "127.0.0.1:0",
      "--readiness-probe-port",
      "0",
      "--metrics-port",
      "0",
      "--admin-address",
      "127.0.0.1:0",
      // The CreateCertificate tests run against each gRPC server (test/lib/grpc-implementation.ts).
      "--grpc-implementation",
      testGrpcImplementation(),
    ];
    const child = spawn(process.execPath, [MESHSIGN_BIN, "serve", ...defaults, ...args], {
      cwd: options.cwd,
      env: cleanEnv(options.env),
      stdio: ["ignore", "pipe", "pipe"],
    });
    return new ServeProcess(child);
  }

  get stdout(): string {
    return this.#stdout;
  }

  get stderr(): string {
    return this.#stderr;
  }

  /** Resolves with the parsed banner once it is printed; rejects if the process exits first. */
  async banner(timeoutMs = 30_000): Promise<Banner> {
    await this.waitFor(
      () => /metrics: http:\/\/localhost:\d+\/metrics\n/.test(this.#stdout),
      timeoutMs,
      "the banner",
    );
    // The banner is one write() of well under PIPE_BUF bytes, so it arrives whole: the lines after
    // "metrics" (the request command) are already here.
    return parseBanner(this.#stdout);
  }

  /** Resolves when stderr (the JSON log) matches `re`. */
  async logged(re: RegExp, timeoutMs = 15_000): Promise<void> {
    await this.waitFor(() => re.test(this.#stderr), timeoutMs, `a log line matching ${re}`);
  }

  exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return this.#exit;
  }

  get running(): boolean {
    return !this.#closed;
  }

  /** Sends `signal` and waits for the exit (SIGKILL after `timeoutMs`, reported as such). */
  async stop(
    signal: NodeJS.Signals = "SIGTERM",
    timeoutMs = 20_000,
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (!this.running) return this.#exit;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill("SIGKILL"), timeoutMs);
    try {
      return await this.#exit;
    } finally {
      clearTimeout(timer);
    }
  }

  private async waitFor(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      if (!this.running)
        throw new Error(
          `meshsign serve exited before ${what}\nstdout: ${this.#stdout}\nstderr: ${this.#stderr}`,
        );
      if (Date.now() > deadline)
        throw new Error(`no ${what} after ${timeoutMs} ms\nstdout: ${this.#stdout}\nstderr: ${this.#stderr}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}
