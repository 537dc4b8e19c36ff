/**
 * A real authoritative DNS server for the DNS suite and the DNS-01 parts of
 * other suites: Knot DNS (Debian package `knot`, installed by
 * `test/dns/setup.sh`), one knotd per call on 127.0.0.1 on a free port, with a
 * private temporary config, zone files and journal.
 *
 * Default zones (each with its own SOA, `NS ns1.<zone>` and `ns1 A 127.0.0.1`,
 * so the zone's authoritative server is this knotd, asked on `port`):
 * - `example.test.`: `www A 127.0.0.1` and `_acme-challenge.alias CNAME
 *   alias.delegated.test.` (a challenge name delegated to another zone);
 * - `delegated.test.`: the CNAME target zone.
 *
 * One TSIG key per algorithm (HMAC-MD5, SHA1, SHA256, SHA512), random per
 * start, each allowed to UPDATE every zone (RFC 2136). No recursion: knotd
 * answers only for its zones, which is all the DNS-01 code asks it.
 *
 * Readiness is event-driven: start() resolves when knotd's log says the
 * server started, its control socket is bound and every zone is loaded.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { freePort } from "../../lib/ports.js";
import { promisify } from "node:util";

const execFileP = promisify(execFile);

/** The spec's names (`tsigAlgorithm` of cert-manager's rfc2136 solver). */
export type KnotTsigAlgorithm = "HMACMD5" | "HMACSHA1" | "HMACSHA256" | "HMACSHA512";

export const KNOT_TSIG_ALGORITHMS: readonly KnotTsigAlgorithm[] = [
  "HMACMD5",
  "HMACSHA1",
  "HMACSHA256",
  "HMACSHA512",
];

export interface KnotTsigKey {
  /** Key name with a trailing dot, e.g. `meshsign-hmacsha256.` */
  readonly name: string;
  readonly algorithm: KnotTsigAlgorithm;
  /** Base64 secret, as a `tsigSecretSecretRef` Secret holds it. */
  readonly secret: string;
}

export interface KnotZone {
  /** Zone apex, e.g. `example.test.` */
  readonly name: string;
  /** Extra zone-file lines relative to the apex, e.g. `www A 127.0.0.1`. */
  readonly records?: readonly string[];
}

export interface KnotOptions {
  /** Default: {@link DEFAULT_KNOT_ZONES}. */
  readonly zones?: readonly KnotZone[];
  /** Default: one random key per algorithm (`meshsign-<algorithm>.`). */
  readonly tsigKeys?: readonly KnotTsigKey[];
  /** Also listen on [::1] (same port), for `[v6]:port` nameservers. */
  readonly ipv6?: boolean;
}

export interface Knot {
  readonly host: "127.0.0.1";
  readonly port: number;
  /** `127.0.0.1:<port>`, the rfc2136 `nameserver` and a recursive nameserver for the propagation check. */
  readonly nameserver: string;
  /** `[::1]:<port>` when started with `ipv6: true`. */
  readonly nameserver6?: string;
  readonly zones: readonly KnotZone[];
  readonly tsigKeys: readonly KnotTsigKey[];
  /** The key of one algorithm (throws when the server has none). */
  key(algorithm: KnotTsigAlgorithm): KnotTsigKey;
  /** The TXT values knotd holds at `fqdn` (read with knotc, not over DNS). */
  txt(fqdn: string): Promise<string[]>;
  /**
   * Replaces the TXT values at `fqdn` (TTL 60) through knotc, not DNS UPDATE:
   * for tests that keep knotd in step with another provider. `[]` removes them.
   */
  setTxt(fqdn: string, values: readonly string[]): Promise<void>;
  /** Runs knotc against this server; returns its stdout. */
  knotc(...args: string[]): Promise<string>;
  /** knotd's log so far (for failure messages). */
  log(): string;
  /** knotd's process id (the benchmark reads its CPU time from /proc). */
  readonly pid: number;
  stop(): Promise<void>;
}

export const DEFAULT_KNOT_ZONES: readonly KnotZone[] = [
  {
    name: "example.test.",
    records: ["www A 127.0.0.1", "_acme-challenge.alias CNAME alias.delegated.test."],
  },
  { name: "delegated.test." },
];

const KNOT_ALGORITHM: Record<KnotTsigAlgorithm, string> = {
  HMACMD5: "hmac-md5",
  HMACSHA1: "hmac-sha1",
  HMACSHA256: "hmac-sha256",
  HMACSHA512: "hmac-sha512",
};

const READY_TIMEOUT_MS = 60_000;
const START_ATTEMPTS = 5;

function tool(name: "knotd" | "knotc"): string {
  const fromEnv = process.env[`MESHSIGN_${name.toUpperCase()}`];
  if (fromEnv) return fromEnv;
  for (const dir of ["/usr/sbin", "/sbin", "/usr/local/sbin"]) {
    const p = path.join(dir, name);
    if (existsSync(p)) return p;
  }
  throw new Error(`${name} not found: run \`bash test/dns/setup.sh\` (installs Debian package knot)`);
}

/** Random keys, one per algorithm. */
export function randomTsigKeys(): KnotTsigKey[] {
  return KNOT_TSIG_ALGORITHMS.map((algorithm) => ({
    name: `meshsign-${algorithm.toLowerCase()}.`,
    algorithm,
    secret: randomBytes(32).toString("base64"),
  }));
}

function fqdn(name: string): string {
  return name.endsWith(".") ? name : `${name}.`;
}

function config(
  dir: string,
  port: number,
  zones: readonly KnotZone[],
  keys: readonly KnotTsigKey[],
  ipv6: boolean,
): string {
  const q = (s: string) => JSON.stringify(s);
  const lines = [
    "server:",
    `    rundir: ${q(dir)}`,
    ipv6 ? `    listen: [ 127.0.0.1@${port}, ::1@${port} ]` : `    listen: 127.0.0.1@${port}`,
    "    udp-workers: 1",
    "    tcp-workers: 1",
    "    background-workers: 1",
    "database:",
    `    storage: ${q(path.join(dir, "db"))}`,
    "control:",
    `    listen: ${q(path.join(dir, "knot.sock"))}`,
    "log:",
    "  - target: stderr",
    "    any: info",
  ];
  if (keys.length > 0) {
    lines.push("key:");
    for (const k of keys)
      lines.push(
        `  - id: ${fqdn(k.name)}`,
        `    algorithm: ${KNOT_ALGORITHM[k.algorithm]}`,
        `    secret: ${k.secret}`,
      );
    lines.push("acl:");
    keys.forEach((k, i) => {
      lines.push(`  - id: update-${i}`, `    key: ${fqdn(k.name)}`, "    action: update");
    });
  }
  lines.push(
    "template:",
    "  - id: default",
    `    storage: ${q(dir)}`,
    '    file: "%s.zone"',
    "    zonefile-sync: -1",
    "zone:",
  );
  for (const z of zones) {
    lines.push(`  - domain: ${fqdn(z.name)}`);
    if (keys.length > 0) lines.push(`    acl: [${keys.map((_, i) => `update-${i}`).join(", ")}]`);
  }
  return `${lines.join("\n")}\n`;
}

function zoneFile(zone: KnotZone): string {
  return [
    `$ORIGIN ${fqdn(zone.name)}`,
    "$TTL 60",
    "@ SOA ns1 hostmaster 1 3600 600 86400 60",
    "@ NS ns1",
    "ns1 A 127.0.0.1",
    ...(zone.records ?? []),
    "",
  ].join("\n");
}

/** knotd's zone file name for a zone ("%s" = the zone name without the trailing dot). */
function zoneFileName(zone: KnotZone): string {
  return `${fqdn(zone.name).slice(0, -1)}.zone`;
}

/** Parses `knotc zone-read` TXT lines: each value's quoted strings joined. */
function parseTxt(out: string): string[] {
  const values: string[] = [];
  for (const line of out.split("\n")) {
    const m = /\sTXT\s+(.*)$/.exec(line);
    if (m?.[1] === undefined) continue;
    const parts = [...m[1].matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((p) => (p[1] ?? "").replace(/\\(.)/g, "$1"));
    values.push(parts.join(""));
  }
  return values;
}

async function startOnce(opts: KnotOptions): Promise<Knot | "port-taken"> {
  const zones = opts.zones ?? DEFAULT_KNOT_ZONES;
  const keys = opts.tsigKeys ?? randomTsigKeys();
  const dir = await mkdtemp(path.join(os.tmpdir(), "meshsign-knot-"));
  const port = await freePort();
  const conf = path.join(dir, "knot.conf");
  // knotd keeps its journal (where dynamic updates go) under the database storage, which must exist.
  await mkdir(path.join(dir, "db"));
  const ipv6 = opts.ipv6 === true;
  await writeFile(conf, config(dir, port, zones, keys, ipv6));
  for (const z of zones) await writeFile(path.join(dir, zoneFileName(z)), zoneFile(z));

  const proc: ChildProcess = spawn(tool("knotd"), ["-c", conf], { stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
  const ready = new Promise<"ready" | "port-taken">((resolve, reject) => {
    const pending = new Set(zones.map((z) => `[${fqdn(z.name)}] loaded`));
    let started = false;
    let control = false;
    const timer = setTimeout(
      () => reject(new Error(`knotd not ready after ${READY_TIMEOUT_MS} ms:\n${log}`)),
      READY_TIMEOUT_MS,
    );
    const onData = (chunk: Buffer): void => {
      log += chunk.toString();
      if (/cannot bind|failed to bind|Address already in use/i.test(log)) {
        clearTimeout(timer);
        resolve("port-taken");
        return;
      }
      for (const p of [...pending]) if (log.includes(p)) pending.delete(p);
      started ||= log.includes("server started");
      control ||= log.includes("control, binding");
      if (started && control && pending.size === 0) {
        clearTimeout(timer);
        resolve("ready");
      }
    };
    proc.stdout?.on("data", onData);
    proc.stderr?.on("data", onData);
    proc.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`knotd exited with ${code} before it was ready:\n${log}`));
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

  const socket = path.join(dir, "knot.sock");
  const knotc = async (...args: string[]): Promise<string> => {
    const { stdout } = await execFileP(tool("knotc"), ["-s", socket, ...args]);
    return stdout;
  };

  const zoneOf = (name: string): string => {
    const n = fqdn(name).toLowerCase();
    const zone = [...zones]
      .map((z) => fqdn(z.name).toLowerCase())
      .filter((z) => n === z || n.endsWith(`.${z}`))
      .sort((a, b) => b.length - a.length)[0];
    if (zone === undefined) throw new Error(`${name} is in none of this knotd's zones`);
    return zone;
  };
  const noSuch = (err: unknown): boolean => {
    const e = err as { stdout?: string; stderr?: string };
    return /no such (node|record)/i.test(`${e.stdout ?? ""}${e.stderr ?? ""}`);
  };

  return {
    host: "127.0.0.1",
    port,
    nameserver: `127.0.0.1:${port}`,
    ...(ipv6 ? { nameserver6: `[::1]:${port}` } : {}),
    zones,
    tsigKeys: keys,
    key(algorithm) {
      const k = keys.find((x) => x.algorithm === algorithm);
      if (k === undefined) throw new Error(`this knotd has no ${algorithm} key`);
      return k;
    },
    async txt(name) {
      const zone = zoneOf(name);
      try {
        return parseTxt(await knotc("zone-read", zone, fqdn(name).toLowerCase(), "TXT"));
      } catch (err) {
        // knotc fails when the name or type does not exist: no values.
        if (noSuch(err)) return [];
        throw err;
      }
    },
    async setTxt(name, values) {
      const zone = zoneOf(name);
      const owner = fqdn(name).toLowerCase();
      await knotc("zone-begin", zone);
      try {
        try {
          await knotc("zone-unset", zone, owner, "TXT");
        } catch (err) {
          if (!noSuch(err)) throw err;
        }
        for (const v of values) await knotc("zone-set", zone, owner, "60", "TXT", JSON.stringify(v));
        await knotc("zone-commit", zone);
      } catch (err) {
        await knotc("zone-abort", zone).catch(() => {});
        throw err;
      }
    },
    knotc,
    log: () => log,
    pid: proc.pid as number,
    stop,
  };
}

/** Starts knotd on a free loopback port; retries with another port if the chosen one was taken meanwhile. */
export async function startKnot(opts: KnotOptions = {}): Promise<Knot> {
  for (let attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
    const knot = await startOnce(opts);
    if (knot !== "port-taken") return knot;
  }
  throw new Error(`knotd could not bind a free port in ${START_ATTEMPTS} attempts`);
}
