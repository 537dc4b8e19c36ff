/**
 * A real recursive resolver in front of knotd: Unbound (Debian package
 * `unbound`, installed by `test/dns/setup.sh`), one per call on 127.0.0.1 on a
 * free port, with a stub zone per knotd zone. It follows CNAMEs across zones,
 * which knotd (authoritative only) does not, so a CA's VA asking it sees a
 * TXT record at a CNAME's target in another zone, as it would on the Internet.
 *
 * No caching of answers (every question reaches knotd), no DNSSEC validation.
 * Readiness is event-driven: start resolves when Unbound's log says the
 * service started.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { freePort } from "../../lib/ports.js";

export interface Unbound {
  /** `127.0.0.1:<port>` */
  readonly nameserver: string;
  log(): string;
  stop(): Promise<void>;
}

export interface UnboundOptions {
  /** Zones (e.g. `example.test.`) answered by asking `host:port` (knotd's `nameserver`). */
  readonly stubZones: readonly { readonly name: string; readonly nameserver: string }[];
}

const READY_TIMEOUT_MS = 60_000;
const START_ATTEMPTS = 5;

function binary(): string {
  const fromEnv = process.env.MESHSIGN_UNBOUND;
  if (fromEnv) return fromEnv;
  for (const dir of ["/usr/sbin", "/sbin", "/usr/local/sbin"]) {
    const p = path.join(dir, "unbound");
    if (existsSync(p)) return p;
  }
  throw new Error("unbound not found: run `bash test/dns/setup.sh` (installs Debian package unbound)");
}

function config(dir: string, port: number, opts: UnboundOptions): string {
  const q = (s: string) => JSON.stringify(s);
  const lines = [
    "server:",
    "    interface: 127.0.0.1",
    `    port: ${port}`,
    "    do-ip6: no",
    "    do-not-query-localhost: no",
    "    access-control: 127.0.0.0/8 allow",
    '    username: ""',
    '    chroot: ""',
    `    directory: ${q(dir)}`,
    '    pidfile: ""',
    '    logfile: ""',
    "    use-syslog: no",
    "    verbosity: 1",
    '    module-config: "iterator"',
    "    cache-max-ttl: 0",
    "    cache-max-negative-ttl: 0",
    "    num-threads: 1",
  ];
  const tlds = new Set(opts.stubZones.map((z) => `${z.name.replace(/\.$/, "").split(".").pop()}.`));
  // Unbound answers RFC 6761 names such as `test.` itself (NXDOMAIN) unless told not to.
  for (const tld of tlds) lines.push(`    local-zone: ${q(tld)} nodefault`);
  for (const z of opts.stubZones) lines.push(`    domain-insecure: ${q(z.name)}`);
  for (const z of opts.stubZones) {
    const [host, p] = z.nameserver.split(":");
    lines.push("stub-zone:", `    name: ${q(z.name)}`, `    stub-addr: ${host}@${p}`);
  }
  return `${lines.join("\n")}\n`;
}

async function startOnce(opts: UnboundOptions): Promise<Unbound | "port-taken"> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "meshsign-unbound-"));
  const port = await freePort();
  const conf = path.join(dir, "unbound.conf");
  await writeFile(conf, config(dir, port, opts));
  const proc: ChildProcess = spawn(binary(), ["-d", "-c", conf], { stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
  const ready = new Promise<"ready" | "port-taken">((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`unbound not ready after ${READY_TIMEOUT_MS} ms:\n${log}`)),
      READY_TIMEOUT_MS,
    );
    const onData = (chunk: Buffer): void => {
      log += chunk.toString();
      if (/can't bind|Address already in use/i.test(log)) {
        clearTimeout(timer);
        resolve("port-taken");
      } else if (log.includes("start of service")) {
        clearTimeout(timer);
        resolve("ready");
      }
    };
    proc.stdout?.on("data", onData);
    proc.stderr?.on("data", onData);
    proc.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`unbound exited with ${code} before it was ready:\n${log}`));
    });
  });
  const stop = async (): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill("SIGTERM");
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  };
  let state: "ready" | "port-taken";
  try {
    state = await ready;
  } catch (err) {
    await stop();
    throw err;
  }
  if (state === "port-taken") {
    await stop();
    return "port-taken";
  }
  return { nameserver: `127.0.0.1:${port}`, log: () => log, stop };
}

/** Starts Unbound on a free loopback port; retries with another port if the chosen one was taken meanwhile. */
export async function startUnbound(opts: UnboundOptions): Promise<Unbound> {
  for (let attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
    const u = await startOnce(opts);
    if (u !== "port-taken") return u;
  }
  throw new Error(`unbound could not bind a free port in ${START_ATTEMPTS} attempts`);
}
