/**
 * Starts Istio's own CA server (bench/peer/istio-ca, built by bench/peer/setup.sh): istiod's
 * CreateCertificate server and CA with an ECDSA P-256 self-signed root and Istio's JWT
 * authenticator fetching the token keys from `jwksUri`. It prints its address once listening and
 * exits when its stdin closes, so it cannot outlive the benchmark.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { LoadTarget } from "./load-protocol.js";

export interface IstioCaProcess {
  readonly pid: number;
  readonly target: LoadTarget;
  /** The root that verifies the serving certificate (and signs the workload certificates). */
  readonly rootCertFile: string;
  stop(graceMs?: number): Promise<number | null>;
}

export async function startIstioCa(options: {
  readonly binary: string;
  readonly jwksUri: string;
  readonly issuer: string;
  /** A command to run it under, e.g. `["taskset", "-c", "0"]` (must exec it in place). */
  readonly launcher?: readonly string[];
  readonly startTimeoutMs?: number;
}): Promise<IstioCaProcess> {
  const dir = mkdtempSync(path.join(tmpdir(), "istio-ca-bench-"));
  const [command, ...prefix] = [...(options.launcher ?? []), options.binary];
  const child = spawn(
    command as string,
    [...prefix, "-addr", "127.0.0.1:0", "-jwks-uri", options.jwksUri, "-issuer", options.issuer, "-dir", dir],
    { stdio: ["pipe", "pipe", "pipe"] },
  );
  let stderr = "";
  child.stderr?.on("data", (b: Buffer) => {
    stderr = (stderr + b.toString()).slice(-8192);
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  try {
    const ready = await new Promise<{ addr: string; rootCertFile: string }>((resolve, reject) => {
      let out = "";
      const timer = setTimeout(
        () => reject(new Error(`no address within ${options.startTimeoutMs ?? 60_000} ms`)),
        options.startTimeoutMs ?? 60_000,
      );
      child.stdout?.on("data", (b: Buffer) => {
        out += b.toString();
        const nl = out.indexOf("\n");
        if (nl < 0) return;
        clearTimeout(timer);
        try {
          resolve(JSON.parse(out.slice(0, nl)));
        } catch (err) {
          reject(err as Error);
        }
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`exited with ${code} before listening`));
      });
    });
    return {
      pid: child.pid as number,
      rootCertFile: ready.rootCertFile,
      target: {
        address: ready.addr,
        rootsPem: readFileSync(ready.rootCertFile, "utf8"),
        serverName: "localhost",
      },
      stop: async (graceMs = 10_000) => {
        child.stdin?.end();
        const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
        const code = await exited;
        clearTimeout(timer);
        cleanup();
        return code;
      },
    };
  } catch (err) {
    child.kill("SIGKILL");
    await exited;
    cleanup();
    throw new Error(`Istio's CA did not start: ${(err as Error).message}\n--- its stderr ---\n${stderr}`);
  }
}
