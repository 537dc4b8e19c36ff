/**
 * ACME issuance end to end: `meshsign serve --manifests` with an ACME
 * ClusterIssuer against Pebble (`PEBBLE_VA_NOSLEEP=1`, pebble-challtestsrv
 * answering A 127.0.0.1 for every name) and N Certificates, HTTP-01 answered
 * by meshsign's own solver listener on Pebble's httpPort. Measures the wall
 * time from meshsign's start to every Certificate Ready, the peak Orders and
 * Challenges in flight (read from meshsign's store), the CPU meshsign, Pebble
 * and pebble-challtestsrv spent over that window (from /proc), and meshsign's
 * peak RSS. N is `MESHSIGN_BENCH_ACME_CERTIFICATES` (default 200). Needs the
 * Pebble binaries of test/acme/setup.sh.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { CERTIFICATES, CHALLENGES, type Challenge, ORDERS, type Order } from "../../src/api/types.js";
import type { Certificate } from "../../src/engine/lib/api.js";
import { openEmbeddedStore } from "../../src/store/embedded/index.js";
import { freePort, type Pebble, startPebble } from "../../test/acme/harness.js";
import * as f from "../lib/format.js";
import { type MeshsignProcess, startMeshsign } from "../lib/meshsign.js";
import { cpuMs, RssSampler } from "../lib/proc.js";
import type { BenchCase, BenchContext, CaseReport } from "./types.js";

const DEFAULT_CERTIFICATES = 200;
const NAMESPACE = "bench-acme";
/** How long every Certificate may take to be Ready before the case gives up (a loaded machine is slow). */
const READY_TIMEOUT_MS = 30 * 60_000;
const POLL_MS = 500;

const FINAL_ORDER_STATES = new Set(["valid", "invalid", "errored", "expired"]);
const FINAL_CHALLENGE_STATES = new Set(["valid", "invalid", "errored", "expired"]);

function certificateCount(): number {
  const raw = process.env.MESHSIGN_BENCH_ACME_CERTIFICATES;
  if (raw === undefined || raw === "") return DEFAULT_CERTIFICATES;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 100_000)
    throw new Error(`MESHSIGN_BENCH_ACME_CERTIFICATES must be an integer from 1 to 100000, got ${raw}`);
  return n;
}

function manifests(pebble: Pebble, count: number): string {
  const docs = [
    `apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: { name: pebble }
spec:
  acme:
    server: ${pebble.directoryUrl}
    email: ops@example.com
    caBundle: ${Buffer.from(pebble.tlsCaPem).toString("base64")}
    privateKeySecretRef: { name: pebble-account }
    solvers:
      # The names resolve to 127.0.0.1 only in Pebble's DNS: no self-check, accept at once.
      - waitInsteadOfSelfCheck: 0s
        http01: { ingress: {} }`,
  ];
  for (let i = 0; i < count; i++) {
    docs.push(`apiVersion: cert-manager.io/v1
kind: Certificate
metadata: { name: c-${i}, namespace: ${NAMESPACE} }
spec:
  secretName: c-${i}-tls
  dnsNames: [c-${i}.bench.example.com]
  issuerRef: { name: pebble, kind: ClusterIssuer }`);
  }
  return `${docs.join("\n---\n")}\n`;
}

interface Progress {
  ready: number;
  ordersInFlight: number;
  challengesInFlight: number;
  orders: number;
}

/** One read of meshsign's store (another process owns it; opened read-only). */
async function progress(dataDir: string): Promise<Progress> {
  const store = await openEmbeddedStore({ dataDir, readOnly: true });
  try {
    const [certs, orders, challenges] = await Promise.all([
      store.list<Certificate>(CERTIFICATES, { namespace: NAMESPACE }),
      store.list<Order>(ORDERS, { namespace: NAMESPACE }),
      store.list<Challenge>(CHALLENGES, { namespace: NAMESPACE }),
    ]);
    return {
      ready: certs.filter((c) => c.status?.conditions?.some((x) => x.type === "Ready" && x.status === "True"))
        .length,
      ordersInFlight: orders.filter((o) => !FINAL_ORDER_STATES.has(o.status?.state ?? "")).length,
      challengesInFlight: challenges.filter((c) => !FINAL_CHALLENGE_STATES.has(c.status?.state ?? "")).length,
      orders: orders.length,
    };
  } finally {
    await store.close();
  }
}

export const acmeCase: BenchCase = {
  name: "acme",
  summary: "Certificates issued through an ACME ClusterIssuer against Pebble, HTTP-01",
  inDefaultRun: false,
  run: async (ctx: BenchContext): Promise<CaseReport> => {
    const count = certificateCount();
    const dir = mkdtempSync(path.join(tmpdir(), "meshsign-bench-acme-"));
    let pebble: Pebble | undefined;
    let server: MeshsignProcess | undefined;
    try {
      const solverPort = await freePort();
      ctx.log("acme: starting Pebble and pebble-challtestsrv");
      pebble = await startPebble({ httpPort: solverPort });
      writeFileSync(path.join(dir, "acme.yaml"), manifests(pebble, count));
      const pebbleBefore = cpuMs(pebble.pids.pebble);
      const challBefore = cpuMs(pebble.pids.challtestsrv);
      ctx.log(`acme: starting meshsign serve --workers 1 --manifests with ${count} Certificates`);
      const t0 = performance.now();
      server = await startMeshsign({
        repoRoot: ctx.serverRoot,
        workers: 1,
        extraArgs: [
          "--manifests",
          dir,
          "--acme-http01-solver-address",
          `127.0.0.1:${solverPort}`,
          "--serving-certificate-dns-names",
          "localhost",
        ],
      });
      const startupCpu = cpuMs(server.pid);
      const rss = new RssSampler(server.pid);
      let peakOrders = 0;
      let peakChallenges = 0;
      let last: Progress = { ready: 0, ordersInFlight: 0, challengesInFlight: 0, orders: 0 };
      let lastLogged = 0;
      const deadline = Date.now() + READY_TIMEOUT_MS;
      for (;;) {
        last = await progress(server.dataDir).catch(() => last);
        peakOrders = Math.max(peakOrders, last.ordersInFlight);
        peakChallenges = Math.max(peakChallenges, last.challengesInFlight);
        if (last.ready >= count) break;
        if (Date.now() > deadline)
          throw new Error(
            `${last.ready} of ${count} Certificates Ready after ${READY_TIMEOUT_MS / 60_000} min`,
          );
        if (Date.now() - lastLogged > 10_000) {
          lastLogged = Date.now();
          ctx.log(
            `acme: ${last.ready}/${count} Ready, ${last.ordersInFlight} orders and ${last.challengesInFlight} challenges in flight`,
          );
        }
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
      const wallSeconds = (performance.now() - t0) / 1000;
      const meshsignTotalCpu = cpuMs(server.pid);
      // Per certificate without the start-up (module loading, CA, listeners) before the banner.
      const meshsignCpu = meshsignTotalCpu - startupCpu;
      const pebbleCpu = cpuMs(pebble.pids.pebble) - pebbleBefore;
      const challCpu = cpuMs(pebble.pids.challtestsrv) - challBefore;
      const mem = rss.stop();
      const orderCount = last.orders;
      const total = meshsignCpu + pebbleCpu + challCpu;
      ctx.log(`acme: ${count} Ready in ${wallSeconds.toFixed(1)} s, ${orderCount} orders`);
      const perCert = (ms: number) => `${f.ms(ms / count)} ms`;
      return {
        title: `${count} Certificates through an ACME ClusterIssuer (Pebble, HTTP-01 on meshsign's solver listener)`,
        table: {
          header: [
            "Certificates",
            "all Ready",
            "certs/s",
            "peak orders in flight",
            "peak challenges in flight",
            "meshsign CPU/cert",
            "Pebble CPU/cert",
            "challtestsrv CPU/cert",
            "meshsign CPU share",
            "meshsign peak RSS",
          ],
          rows: [
            [
              String(count),
              `${wallSeconds.toFixed(1)} s`,
              (count / wallSeconds).toFixed(1),
              String(peakOrders),
              String(peakChallenges),
              perCert(meshsignCpu),
              perCert(pebbleCpu),
              perCert(challCpu),
              f.pct(meshsignCpu, total),
              f.mb(mem.peakRss),
            ],
          ],
        },
        targets: [],
        notes: [
          `meshsign serve --workers 1 --manifests holding one ACME ClusterIssuer and ${count} Certificates (one DNS name each, ECDSA P-256 keys), started with Pebble already up; "all Ready" is from spawning meshsign to the last Certificate Ready in its store (polled every ${POLL_MS} ms, so it includes meshsign's start-up). ` +
            "Pebble runs with PEBBLE_VA_NOSLEEP=1, fresh authorizations for every order (PEBBLE_AUTHZREUSE=0), Retry-After 1 s and its default 5% bad-nonce rejection; pebble-challtestsrv answers A 127.0.0.1 for every name, and the solver has waitInsteadOfSelfCheck: 0s.",
          `CPU is utime + stime from /proc: Pebble's and pebble-challtestsrv's over the whole window, meshsign's from its banner to the last Ready (its start-up before the banner, ${f.ms(startupCpu)} ms, left out); the share is meshsign's of the three. Orders and Challenges in flight are those not yet in a final state, sampled from the store; ${orderCount} Orders were made in all.`,
        ],
        data: {
          count,
          wallSeconds,
          peakOrders,
          peakChallenges,
          orders: orderCount,
          meshsignCpuMs: meshsignCpu,
          meshsignStartupCpuMs: startupCpu,
          pebbleCpuMs: pebbleCpu,
          challtestsrvCpuMs: challCpu,
          memory: mem,
        },
      };
    } finally {
      await server?.stop();
      await pebble?.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
