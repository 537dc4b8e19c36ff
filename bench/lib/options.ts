/** `npm run bench -- [flags]`: parsed once, validated, with named defaults. */
import { availableParallelism } from "node:os";
import { parseArgs } from "node:util";

export interface BenchOptions {
  /** Case names to run, in order; `all` = every case in the default run. */
  readonly cases: readonly string[];
  /** Measured window of each reused-connection load case, seconds. */
  readonly durationSeconds: number;
  /** The soak case's length, seconds: `--duration` when given, else {@link DEFAULTS.soakSeconds}. */
  readonly soakSeconds: number;
  /** The peer case's measured window and warm-up, seconds: `--duration` / `--warmup` when given, else 20 and 5. */
  readonly peerSeconds: number;
  readonly peerWarmupSeconds: number;
  /** The peer case's parts: `pinned`, `shared` (ghz runs), `cold` (new connection per request). */
  readonly peerParts: readonly PeerPart[];
  /** The soak case's request rate as a fraction of the capacity it measures first. */
  readonly soakLoad: number;
  /** Unmeasured warm-up before each window, seconds. */
  readonly warmupSeconds: number;
  /** Requests in flight in the reused-connection cases (split over `channels`). */
  readonly concurrency: number;
  /** grpc-js channels (one HTTP/2 connection each) in the reused-connection cases. */
  readonly channels: number;
  /** `meshsign serve --workers` (and the echo server's worker count). */
  readonly workers: number;
  /** `--workers` as given on the command line (the peer case runs meshsign's default without it). */
  readonly workersGiven: number | undefined;
  /** Load-generator processes. */
  readonly clients: number;
  /** Requests of the cold-connection case, and how many run at once. */
  readonly coldRequests: number;
  readonly coldConcurrency: number;
  /** Identities and keys per identity in the CSR pools. */
  readonly identities: number;
  readonly keysPerIdentity: number;
  /** Where the Markdown report goes; empty = do not write. */
  readonly out: string;
  /** Where the raw JSON goes; empty = do not write. */
  readonly json: string;
  /**
   * The meshsign to run: `<serverRoot>/bin/meshsign.js`. Empty (the default): this checkout compiled
   * into a temporary directory (see `release-build.ts`), or run through tsx with {@link fromSource}.
   */
  readonly serverRoot: string;
  /** Run this checkout's TypeScript through tsx instead of the compiled build. */
  readonly fromSource: boolean;
  /** Extra node options for meshsign (and its workers), e.g. `--max-semi-space-size=8`. */
  readonly serverNodeArgs: readonly string[];
  /** Append meshsign's output (banner, JSON logs) to this file; empty = keep only a tail for errors. */
  readonly serverLog: string;
  /** Certificates of the engine case. */
  readonly engineCertificates: number;
  /** When set, meshsign runs under `node --cpu-prof` and writes one .cpuprofile per process here. */
  readonly profileDir: string;
}

export const PEER_PARTS = ["pinned", "shared", "cold"] as const;
export type PeerPart = (typeof PEER_PARTS)[number];

export const DEFAULTS = {
  durationSeconds: 15,
  warmupSeconds: 3,
  concurrency: 64,
  channels: 8,
  clients: 1,
  coldRequests: 2000,
  coldConcurrency: 16,
  identities: 32,
  keysPerIdentity: 2,
  engineCertificates: 10_000,
  soakSeconds: 30 * 60,
  soakLoad: 0.7,
  peerSeconds: 20,
  peerWarmupSeconds: 5,
  out: "docs/benchmarks.md",
} as const;

export const USAGE = `npm run bench -- [options]
  --case NAMES           comma-separated cases; "all" (default) is every case but engine,
                         soak, vault, peer, kube, acme and acme-dns01, which run when named,
                         e.g. --case all,engine, --case soak or --case acme,acme-dns01
  --duration D           measured time per load case: seconds, or with a unit (90s, 3m, 1h)
                         (default ${DEFAULTS.durationSeconds} s; the soak case's length, default 30m;
                         the peer case's, default ${DEFAULTS.peerSeconds} s)
  --soak-load F          soak request rate as a fraction of the measured capacity
                         (default ${DEFAULTS.soakLoad})
  --peer-parts LIST      the peer case's parts: pinned, shared, cold (default all three)
  --warmup S             unmeasured warm-up seconds (default ${DEFAULTS.warmupSeconds}; peer ${DEFAULTS.peerWarmupSeconds})
  --concurrency N        requests in flight, reused connections (default ${DEFAULTS.concurrency})
  --channels N           grpc-js channels = TLS connections (default ${DEFAULTS.channels})
  --workers N            meshsign serve --workers (default: cores; the peer case: meshsign's own default)
  --clients N            load-generator processes (default ${DEFAULTS.clients})
  --cold-requests N      requests of the cold-connection case (default ${DEFAULTS.coldRequests})
  --cold-concurrency N   cold requests at once (default ${DEFAULTS.coldConcurrency})
  --identities N         identities in each CSR pool (default ${DEFAULTS.identities})
  --keys-per-identity N  keys/CSRs per identity (default ${DEFAULTS.keysPerIdentity})
  --engine-certificates N  Certificates of the engine case (default ${DEFAULTS.engineCertificates})
  --from-source          run this checkout through tsx (default: compile it with tsc into a
                         temporary directory and run that, as npm start and the image do)
  --server-root DIR      run DIR/bin/meshsign.js (e.g. another checkout or build)
  --server-log FILE      append meshsign's output (logs) to FILE
  --server-node-args "A B"  node options for meshsign and its workers (e.g. --max-semi-space-size=8)
  --out FILE             Markdown report (default ${DEFAULTS.out}); --no-write to skip
  --json FILE            also write the raw figures as JSON
  --profile DIR          run meshsign under node --cpu-prof, profiles in DIR
                         (summarize with: node --import tsx bench/profile-summary.ts DIR/*.cpuprofile)
`;

export function parseBenchOptions(argv: readonly string[]): BenchOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      case: { type: "string", default: "all" },
      duration: { type: "string" },
      "soak-load": { type: "string" },
      "peer-parts": { type: "string", default: PEER_PARTS.join(",") },
      warmup: { type: "string" },
      concurrency: { type: "string" },
      channels: { type: "string" },
      workers: { type: "string" },
      clients: { type: "string" },
      "cold-requests": { type: "string" },
      "cold-concurrency": { type: "string" },
      identities: { type: "string" },
      "keys-per-identity": { type: "string" },
      "engine-certificates": { type: "string" },
      "server-root": { type: "string", default: "" },
      "from-source": { type: "boolean", default: false },
      "server-log": { type: "string", default: "" },
      "server-node-args": { type: "string", default: "" },
      out: { type: "string", default: DEFAULTS.out },
      "no-write": { type: "boolean", default: false },
      json: { type: "string", default: "" },
      profile: { type: "string", default: "" },
      help: { type: "boolean", default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const int = (flag: string, raw: string | undefined, dflt: number, min: number, max: number): number => {
    if (raw === undefined) return dflt;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new Error(`--${flag}: must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
    return n;
  };
  const duration = values.duration === undefined ? undefined : parseDuration(values.duration);
  const soakLoad = values["soak-load"] === undefined ? DEFAULTS.soakLoad : Number(values["soak-load"]);
  if (!(soakLoad > 0 && soakLoad <= 2))
    throw new Error(
      `--soak-load: must be a number above 0 and at most 2, got ${JSON.stringify(values["soak-load"])}`,
    );
  const peerParts = (values["peer-parts"] ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const unknownPart = peerParts.find((p) => !(PEER_PARTS as readonly string[]).includes(p));
  if (unknownPart !== undefined || peerParts.length === 0)
    throw new Error(
      `--peer-parts: a comma-separated list of ${PEER_PARTS.join(", ")}, got ${JSON.stringify(values["peer-parts"])}`,
    );
  const concurrency = int("concurrency", values.concurrency, DEFAULTS.concurrency, 1, 4096);
  const channels = int("channels", values.channels, DEFAULTS.channels, 1, 256);
  if (concurrency % channels !== 0)
    throw new Error(`--concurrency (${concurrency}) must be a multiple of --channels (${channels})`);
  return {
    cases: (values.case ?? "all")
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean),
    durationSeconds: duration ?? DEFAULTS.durationSeconds,
    soakSeconds: duration ?? DEFAULTS.soakSeconds,
    soakLoad,
    peerSeconds: duration ?? DEFAULTS.peerSeconds,
    peerParts: peerParts as PeerPart[],
    peerWarmupSeconds: int("warmup", values.warmup, DEFAULTS.peerWarmupSeconds, 0, 60),
    warmupSeconds: int("warmup", values.warmup, DEFAULTS.warmupSeconds, 0, 60),
    concurrency,
    channels,
    workers: int("workers", values.workers, availableParallelism(), 1, 64),
    workersGiven: values.workers === undefined ? undefined : int("workers", values.workers, 1, 1, 64),
    clients: int("clients", values.clients, DEFAULTS.clients, 1, 64),
    coldRequests: int("cold-requests", values["cold-requests"], DEFAULTS.coldRequests, 1, 1_000_000),
    coldConcurrency: int("cold-concurrency", values["cold-concurrency"], DEFAULTS.coldConcurrency, 1, 1024),
    identities: int("identities", values.identities, DEFAULTS.identities, 1, 10_000),
    keysPerIdentity: int("keys-per-identity", values["keys-per-identity"], DEFAULTS.keysPerIdentity, 1, 100),
    serverRoot: values["server-root"] ?? "",
    fromSource: values["from-source"] ?? false,
    serverLog: values["server-log"] ?? "",
    serverNodeArgs: (values["server-node-args"] ?? "").split(/\s+/).filter(Boolean),
    engineCertificates: int(
      "engine-certificates",
      values["engine-certificates"],
      DEFAULTS.engineCertificates,
      1,
      100_000,
    ),
    out: values["no-write"] ? "" : (values.out ?? DEFAULTS.out),
    json: values.json ?? "",
    profileDir: values.profile ?? "",
  };
}

/** Longest `--duration`: a day. */
const MAX_DURATION_SECONDS = 24 * 3600;

/** `--duration`: whole seconds, or a number with a unit: `90s`, `3m`, `1h`. */
export function parseDuration(raw: string): number {
  const m = /^(\d+)(s|m|h)?$/.exec(raw.trim());
  const seconds = m ? Number(m[1]) * { s: 1, m: 60, h: 3600 }[(m[2] ?? "s") as "s" | "m" | "h"] : Number.NaN;
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > MAX_DURATION_SECONDS)
    throw new Error(
      `--duration: must be whole seconds or a number with s, m or h (e.g. 15, 90s, 30m), from 1 s to 24h, got ${JSON.stringify(raw)}`,
    );
  return seconds;
}
