/**
 * A real ACME server for meshsign's ACME suite: Let's Encrypt's Pebble and
 * pebble-challtestsrv, built from Go modules by `test/acme/setup.sh`, started
 * on loopback on free ports.
 *
 * - Pebble's VA resolves every name through pebble-challtestsrv's DNS server,
 *   which answers A 127.0.0.1 for any name (no AAAA: the VA dials the first
 *   address it gets and the solver listens on 127.0.0.1 only).
 * - `httpPort` is the port of the HTTP-01 solver listener the test starts.
 * - `PEBBLE_VA_NOSLEEP=1`; Pebble's default 5% bad-nonce rejection is kept
 *   on purpose (the client must retry them).
 * - One alternate root (`PEBBLE_ALTERNATE_ROOTS=1`) for preferredChain.
 * - Profiles `default` (90 days) and `shortlived` (6 days), and, with
 *   `eab: true`, `externalAccountBindingRequired` with examples/acme-eab.yaml's key.
 * - Pebble's TLS certificate is a throw-away self-signed one made here with
 *   openssl; `tlsCaPem` is the bundle a client must trust to talk to it.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, existsSync, readFileSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { openssl } from "../lib/openssl.js";
import { pebbleDeadlock } from "./pebble-deadlock.js";
import { freePort } from "../lib/ports.js";

/** The EAB key id and HMAC key of examples/acme-eab.yaml. */
export const EAB_KID = "kid-1";
export const EAB_HMAC_KEY = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W";

export const SHORTLIVED_SECONDS = 518_400;
export const DEFAULT_PROFILE_SECONDS = 7_776_000;

const READY_TIMEOUT_MS = 30_000;

export interface Pebble {
  /** https://127.0.0.1:<port>/dir */
  readonly directoryUrl: string;
  /** PEM bundle that verifies Pebble's TLS certificate (ACME and management ports). */
  readonly tlsCaPem: string;
  /** The root that signs issued chains (index 0 = default chain, 1 = alternate). */
  root(index?: number): Promise<string>;
  /** Points `name`'s A record at `ip` in pebble-challtestsrv (e.g. an address nothing listens on). */
  addARecord(name: string, ip: string): Promise<void>;
  /** Freezes Pebble (SIGSTOP): connections are accepted by the kernel and never answered, as a hung CA. */
  pause(): void;
  /** Lets a paused Pebble run again (SIGCONT), its state intact. */
  resume(): void;
  /** Pebble's stdout and stderr so far (for failure messages). */
  log(): string;
  /**
   * Ends Pebble with SIGQUIT, on which the Go runtime prints every goroutine's stack, and
   * returns that dump (see pebble-deadlock.ts). Pebble is gone afterwards.
   */
  quitWithGoroutineDump(): Promise<string>;
  /**
   * Undefined while Pebble answers a request that reads its store (its management API's
   * certificate status) within 5 s; otherwise why not, from its goroutines (Pebble is ended to
   * read them): its own deadlock (pebble-deadlock.ts), or that it stopped answering.
   */
  whyStalled(): Promise<string | undefined>;
  /** Process ids of Pebble and pebble-challtestsrv (the benchmark reads their CPU time from /proc). */
  readonly pids: { readonly pebble: number; readonly challtestsrv: number };
  stop(): Promise<void>;
}

export interface PebbleOptions {
  /** The port Pebble's VA fetches HTTP-01 challenges from (the solver listener's). */
  readonly httpPort: number;
  /** Run with `externalAccountBindingRequired` and EAB_KID/EAB_HMAC_KEY. */
  readonly eab?: boolean;
  /**
   * `host:port` of the DNS server Pebble's VA asks instead of pebble-challtestsrv's, e.g. a knotd
   * holding the DNS-01 TXT records a provider wrote (it must also answer any A lookups needed).
   */
  readonly dnsServer?: string;
}

function binary(name: "pebble" | "pebble-challtestsrv"): string {
  const key = `MESHSIGN_${name.toUpperCase().replaceAll("-", "_")}`;
  const fromEnv = process.env[key];
  if (fromEnv) return fromEnv;
  const envFile = path.join(
    process.env.MESHSIGN_CACHE ?? path.join(os.homedir(), ".cache/meshsign"),
    "bin/harness.env",
  );
  if (existsSync(envFile)) {
    for (const line of readFileSync(envFile, "utf8").split("\n")) {
      if (line.startsWith(`${key}=`)) {
        const p = line.slice(key.length + 1);
        if (existsSync(p)) return p;
      }
    }
  }
  throw new Error(`${name} not found: run \`bash test/acme/setup.sh\` (needs Go) or set ${key}`);
}

function get(url: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca, headers: { "user-agent": "meshsign-test-harness" } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    req.setTimeout(5_000, () => req.destroy(new Error(`timeout GET ${url}`)));
  });
}

/** POSTs JSON to pebble-challtestsrv's plain-HTTP management API. */
function post(url: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const r = http.request(
      url,
      { method: "POST", headers: { "content-type": "application/json" } },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    r.on("error", reject);
    r.end(body);
  });
}

function launch(
  bin: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  logPath: string,
  sinks: readonly string[][],
): ChildProcess {
  const child = spawn(bin, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  const file = createWriteStream(logPath);
  for (const stream of [child.stdout, child.stderr]) {
    stream?.on("data", (c: Buffer) => {
      file.write(c);
      for (const sink of sinks) sink.push(c.toString());
    });
  }
  // "close", not "exit": output still in the pipes when the process exits (a Go panic's dump)
  // must reach the log file too.
  child.on("close", () => file.end());
  return child;
}

async function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}

const live = new Set<ChildProcess>();
const livePebbles = new Set<Pebble>();

/**
 * Why each running Pebble of this process stopped answering, if one did (Pebble.whyStalled): the
 * ACME suite prints it when a test fails (test/acme/stall-report.ts).
 */
export async function whyPebblesStalled(): Promise<string[]> {
  const reasons: string[] = [];
  for (const p of livePebbles) {
    const why = await p.whyStalled();
    if (why !== undefined) reasons.push(why);
  }
  return reasons;
}
process.once("exit", () => {
  for (const c of live) c.kill("SIGKILL");
});

/** Starts pebble-challtestsrv and Pebble; resolves once Pebble's directory answers. */
export async function startPebble(options: PebbleOptions): Promise<Pebble> {
  const pebbleBin = binary("pebble");
  const challBin = binary("pebble-challtestsrv");
  const dir = await mkdtemp(path.join(os.tmpdir(), "meshsign-pebble-"));
  const children: ChildProcess[] = [];
  const logs: string[] = [];
  const stop = async (): Promise<void> => {
    for (const c of [...children].reverse()) {
      await terminate(c);
      live.delete(c);
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const cert = path.join(dir, "tls.pem");
    const key = path.join(dir, "tls.key");
    const r = openssl([
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      key,
      "-out",
      cert,
      "-days",
      "2",
      "-subj",
      "/CN=pebble test TLS",
      "-addext",
      "subjectAltName=DNS:localhost,IP:127.0.0.1",
    ]);
    if (r.status !== 0) throw new Error(`openssl could not make Pebble's TLS certificate: ${r.output}`);
    const tlsCaPem = await readFile(cert, "utf8");

    const dnsPort = await freePort();
    const challMgmtPort = await freePort();
    const chall = launch(
      challBin,
      [
        "-dnsserver",
        `127.0.0.1:${dnsPort}`,
        "-management",
        `127.0.0.1:${challMgmtPort}`,
        "-defaultIPv4",
        "127.0.0.1",
        "-defaultIPv6",
        "",
        "-http01",
        "",
        "-https01",
        "",
        "-tlsalpn01",
        "",
        "-doh",
        "",
      ],
      { PATH: process.env.PATH },
      path.join(dir, "challtestsrv.log"),
      [logs],
    );
    children.push(chall);
    live.add(chall);

    const acmePort = await freePort();
    const mgmtPort = await freePort();
    const config = {
      pebble: {
        listenAddress: `127.0.0.1:${acmePort}`,
        managementListenAddress: `127.0.0.1:${mgmtPort}`,
        certificate: cert,
        privateKey: key,
        httpPort: options.httpPort,
        tlsPort: 1, // TLS-ALPN-01 is not used: nothing listens there
        ocspResponderURL: "",
        externalAccountBindingRequired: options.eab === true,
        externalAccountMACKeys: options.eab === true ? { [EAB_KID]: EAB_HMAC_KEY } : {},
        // Retry-After (seconds) on pending authorizations and orders: the client polls at
        // that pace (Pebble's own config says 3 and 5; 1 keeps the suite quick).
        retryAfter: { authz: 1, order: 1 },
        keyAlgorithm: "ecdsa",
        profiles: {
          default: { description: "The profile you know and love", validityPeriod: DEFAULT_PROFILE_SECONDS },
          shortlived: { description: "A short-lived cert profile", validityPeriod: SHORTLIVED_SECONDS },
        },
      },
    };
    const configPath = path.join(dir, "pebble-config.json");
    await writeFile(configPath, JSON.stringify(config));
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      PEBBLE_VA_NOSLEEP: "1",
      PEBBLE_ALTERNATE_ROOTS: "1",
      // Fresh authorizations for every order, so every order exercises its challenges.
      PEBBLE_AUTHZREUSE: "0",
    };
    const pebbleOutput: string[] = [];
    const pebble = launch(
      pebbleBin,
      ["-config", configPath, "-dnsserver", options.dnsServer ?? `127.0.0.1:${dnsPort}`],
      env,
      path.join(dir, "pebble.log"),
      [logs, pebbleOutput],
    );
    children.push(pebble);
    live.add(pebble);

    const directoryUrl = `https://127.0.0.1:${acmePort}/dir`;
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (pebble.exitCode !== null) throw new Error(`pebble exited: ${logs.join("")}`);
      if (chall.exitCode !== null) throw new Error(`pebble-challtestsrv exited: ${logs.join("")}`);
      const ok = await get(directoryUrl, tlsCaPem).then(
        (res) => res.status === 200,
        () => false,
      );
      const dnsUp = await new Promise<boolean>((resolve) => {
        const s = net.connect(dnsPort, "127.0.0.1", () => {
          s.destroy();
          resolve(true);
        });
        s.on("error", () => resolve(false));
      });
      if (ok && dnsUp) break;
      if (Date.now() > deadline) throw new Error(`Pebble did not start in time: ${logs.join("")}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }

    const handle: Pebble = {
      directoryUrl,
      tlsCaPem,
      async root(index = 0) {
        const res = await get(`https://127.0.0.1:${mgmtPort}/roots/${index}`, tlsCaPem);
        if (res.status !== 200) throw new Error(`Pebble root ${index}: HTTP ${res.status}`);
        return res.body;
      },
      async addARecord(name, ip) {
        const status = await post(
          `http://127.0.0.1:${challMgmtPort}/add-a`,
          JSON.stringify({ host: name, addresses: [ip] }),
        );
        if (status !== 200) throw new Error(`pebble-challtestsrv add-a: HTTP ${status}`);
      },
      pause: () => {
        pebble.kill("SIGSTOP");
      },
      resume: () => {
        pebble.kill("SIGCONT");
      },
      log: () => logs.join(""),
      async quitWithGoroutineDump() {
        if (pebble.exitCode !== null || pebble.signalCode !== null) return "";
        const from = pebbleOutput.length;
        // "close": the dump is in the pipe when the process exits.
        const closed = new Promise<void>((resolve) => pebble.once("close", () => resolve()));
        pebble.kill("SIGCONT");
        pebble.kill("SIGQUIT");
        const timer = setTimeout(() => pebble.kill("SIGKILL"), 10_000);
        await closed;
        clearTimeout(timer);
        return pebbleOutput.slice(from).join("");
      },
      async whyStalled() {
        if (pebble.exitCode !== null || pebble.signalCode !== null) return undefined;
        // Any answer will do (404: no such certificate); Pebble looks in its store first.
        const answered = await get(`https://127.0.0.1:${mgmtPort}/cert-status-by-serial/1`, tlsCaPem).then(
          () => true,
          () => false,
        );
        if (answered) return undefined;
        const why = pebbleDeadlock(await handle.quitWithGoroutineDump());
        return why ?? "Pebble answered nothing in 5 s, and its goroutines show no deadlock of its own";
      },
      pids: { pebble: pebble.pid as number, challtestsrv: chall.pid as number },
      stop: async () => {
        livePebbles.delete(handle);
        pebble.kill("SIGCONT");
        await stop();
      },
    };
    livePebbles.add(handle);
    return handle;
  } catch (err) {
    await stop();
    throw err;
  }
}
