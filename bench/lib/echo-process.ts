/**
 * Starts bench/lib/echo-server.ts as a child process (the server of the
 * ceiling cases) with a throw-away ECDSA P-256 CA certificate for localhost
 * as its serving certificate and trust anchor, and waits for its port.
 */
import { spawn } from "node:child_process";
import path from "node:path";
import {
  encodePem,
  generateKeySync,
  privateKeyToPem,
  publicKeySpki,
  selfSignedSigner,
  signCertificate,
} from "../../src/pki/index.js";
import type { LoadTarget } from "./load-protocol.js";

export interface EchoServerOptions {
  readonly repoRoot: string;
  readonly workers: number;
  /** `empty` (the no-op call) or `floor` (CreateCertificate's least work). */
  readonly mode: "empty" | "floor";
  /** Extra environment (e.g. FLOOR_JWKS). */
  readonly env?: Readonly<Record<string, string>>;
  /** node options of the server and its cluster workers (they inherit them). */
  readonly nodeArgs?: readonly string[];
}

export interface EchoServer {
  readonly port: number;
  readonly pid: number;
  /** Where the load generator reaches it; the serving certificate is also the trust anchor. */
  readonly target: LoadTarget;
  stop(): Promise<void>;
}

export async function startEchoServer(options: EchoServerOptions): Promise<EchoServer> {
  const { certPem, keyPem } = echoCertificate();
  const script = path.join(options.repoRoot, "bench/lib/echo-server.ts");
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), "--import", "tsx", script], {
    cwd: options.repoRoot,
    env: {
      ...process.env,
      ...options.env,
      ECHO_MODE: options.mode,
      ECHO_WORKERS: String(options.workers),
      ECHO_CERT_PEM: certPem,
      ECHO_KEY_PEM: keyPem,
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    child.kill("SIGTERM");
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  };
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let out = "";
      const timer = setTimeout(() => reject(new Error("echo server did not start in 30 s")), 30_000);
      child.stdout?.on("data", (b: Buffer) => {
        out += b.toString();
        const m = out.match(/listening (\d+)/);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
      child.once("exit", (code) => reject(new Error(`echo server exited with ${code}`)));
    });
    const target = { address: `127.0.0.1:${port}`, rootsPem: certPem, serverName: "localhost" };
    return { port, pid: child.pid as number, target, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** A throw-away ECDSA P-256 CA certificate for localhost / 127.0.0.1, its own trust anchor. */
function echoCertificate(): { certPem: string; keyPem: string } {
  const key = generateKeySync({ type: "ec", curve: "P-256" });
  const now = Date.now();
  const template = {
    publicKeySpki: publicKeySpki(key),
    subject: [[{ type: "2.5.4.3", value: "meshsign bench echo" }]],
    dnsNames: ["localhost"],
    ipAddresses: ["127.0.0.1"],
    isCA: true,
    keyUsage: ["digitalSignature", "keyCertSign"] as const,
    extKeyUsage: ["serverAuth"] as const,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 3_600_000),
  };
  const der = signCertificate(template, selfSignedSigner(template, key));
  return { certPem: encodePem("CERTIFICATE", der), keyPem: privateKeyToPem(key) };
}
