/**
 * CreateCertificate through a Vault ClusterIssuer next to the in-process CA
 * issuer in the same run, in two serving configurations one after the other:
 * meshsign's default (no `--workers`: one process on a machine of up to two
 * usable cores) and `--workers 2` (the shipped manifests; each worker calls
 * Vault itself). Each is a pair of `meshsign serve`s under the same load
 * (ECDSA P-256 CSRs, reused connections), one signing with its own CA, one
 * with `--issuer-name` naming a Vault ClusterIssuer from `--manifests`.
 * Reports meshsign's CPU per request and Vault's (from /proc) and a target
 * line per configuration, then stops Vault and measures how fast
 * CreateCertificate answers UNAVAILABLE. Needs the Vault binary of
 * test/vault/setup.sh.
 */
import { X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { IstioCaClient } from "../../src/csr-service/client.js";
import { SIGN_POLICY, VaultServer } from "../../test/vault/harness.js";
import * as f from "../lib/format.js";
import { type LoadOutcome, reusedLoadJob, runLoad } from "../lib/load.js";
import type { LoadItem, LoadTarget } from "../lib/load-protocol.js";
import { errorNote, LOAD_HEADER, loadRow } from "../lib/load-rows.js";
import { type MeshsignProcess, startMeshsign } from "../lib/meshsign.js";
import { cpuDelta, cpuMs, processTree, treeCpuMs } from "../lib/proc.js";
import { summarize } from "../lib/stats.js";
import { buildWorkload } from "../lib/workload.js";
import type { BenchCase, BenchContext, CaseReport, TargetCheck } from "./types.js";

/** meshsign's own CPU per request through Vault, over the CA issuer's. */
const TARGET_EXTRA_CPU_MS = 0.5;
/** Calls made one after another once Vault is stopped. */
const STOPPED_CALLS = 50;
/**
 * Each server's (and Vault's) CPU is also measured idle for this long before
 * its load: timers, health checks and GC cost the same per second whatever
 * the load, and at the few hundred requests per second Vault signs (tens on
 * a busy machine) they would count as per-request cost.
 */
const IDLE_MS = 5_000;
/**
 * The equal-rate pair runs both servers at this share of the slower one's closed-loop rate (the
 * Vault-backed one: Vault signs 90-550 a second here), and never below {@link MIN_EQUAL_RATE}. Near
 * the slower server's capacity the fixed costs of a wake-up, timers and GC are shared by as many
 * calls as the closed loop shares them, so the difference between the two is what the issuer adds;
 * at a few dozen calls a second those costs are several milliseconds per call and the difference
 * drowns in them.
 */
const EQUAL_RATE_SHARE = 0.7;
const MIN_EQUAL_RATE = 50;

/** One call before timing: the chain must verify link by link up to the target's root (Vault's has an intermediate). */
async function checkChain(target: LoadTarget, item: LoadItem): Promise<void> {
  const client = new IstioCaClient({
    address: target.address,
    rootsPem: target.rootsPem,
    serverName: target.serverName,
  });
  try {
    const chain = (
      await client.createCertificate({ csr: item.csr, token: item.token, deadlineMs: 30_000 })
    ).map((p) => new X509Certificate(p));
    const root = new X509Certificate(target.rootsPem);
    if (chain.length < 2 || !chain.at(-1)?.raw.equals(root.raw))
      throw new Error(`the chain of ${chain.length} does not end with the expected root`);
    for (let i = 0; i + 1 < chain.length; i++) {
      const [child, parent] = [chain[i] as X509Certificate, chain[i + 1] as X509Certificate];
      if (!child.checkIssued(parent) || !child.verify(parent.publicKey))
        throw new Error(`element ${i} of the chain is not signed by element ${i + 1}`);
    }
  } finally {
    client.close();
  }
}

/** The serving configurations measured: what a user gets without flags, and what the manifests ship. */
const CONFIGS: readonly { readonly label: string; readonly workers: number | undefined }[] = [
  { label: "default (no --workers)", workers: undefined },
  { label: "--workers 2", workers: 2 },
];

type Run = {
  label: string;
  server: MeshsignProcess;
  target: LoadTarget;
  items?: LoadItem[];
  outcome?: LoadOutcome;
  vaultCpuMs?: number;
  /** CPU ms per second while idle: meshsign's process tree, and Vault. */
  idle?: { serverMsPerS: number; vaultMsPerS: number };
  /** meshsign's CPU over the measured window split by process: the primary, and its workers together. */
  split?: { primaryMs: number; workersMs: number };
};

/** The figures of one configuration's CA/Vault pair. */
interface PairResult {
  readonly label: string;
  readonly ca: Run;
  readonly vault: Run;
  readonly caEqual: Run;
  readonly vaultEqual: Run;
  /** meshsign's own CPU per request through Vault minus through its CA: net of idle, raw, and at the equal rate. */
  readonly extraMs: number;
  readonly rawExtraMs: number;
  readonly equalExtraMs: number;
  /** The equal-rate pair's rate, requests per second. */
  readonly equalRate: number;
  readonly vaultPerReqMs: number;
  readonly equalVaultPerReqMs: number;
}

const perReq = (cpu: number, o: LoadOutcome) => (o.requests > 0 ? cpu / o.requests : Number.NaN);
/** CPU per request without what the process spends idle over the same window. */
const netPerReq = (cpu: number, idleMsPerS: number, o: LoadOutcome) =>
  perReq(Math.max(0, cpu - (idleMsPerS * o.windowMs) / 1000), o);

export const vaultCase: BenchCase = {
  name: "vault",
  summary:
    "CreateCertificate through a Vault issuer next to the in-process CA issuer (default and --workers 2), and with Vault stopped",
  inDefaultRun: false,
  run: async (ctx: BenchContext): Promise<CaseReport> => {
    const { options } = ctx;
    const vault = new VaultServer();
    const dir = mkdtempSync(path.join(tmpdir(), "meshsign-bench-vault-"));
    const servers: MeshsignProcess[] = [];
    try {
      ctx.log("vault: starting vault server -dev and configuring PKI");
      await vault.start();
      await vault.configure();
      const token = await vault.token([SIGN_POLICY], "4h");
      const b64 = (s: string) => Buffer.from(s).toString("base64");
      writeFileSync(
        path.join(dir, "vault.yaml"),
        [
          "apiVersion: v1\nkind: Secret\nmetadata: {name: vault-token, namespace: meshsign-system}",
          `data: {token: ${b64(token)}}\n---`,
          "apiVersion: cert-manager.io/v1\nkind: ClusterIssuer\nmetadata: {name: vault}\nspec:\n  vault:",
          `    server: ${vault.url}\n    path: pki_int/sign/mesh\n    caBundle: ${b64(vault.caPem)}`,
          "    auth:\n      tokenSecretRef: {name: vault-token, key: token}\n",
        ].join("\n"),
      );
      const vaultPid = vault.pid as number;
      /** One `meshsign serve`; `viaVault` names the Vault ClusterIssuer. --profile: under --cpu-prof, in DIR/<config>/<ca|vault>. */
      const start = async (workers: number | undefined, viaVault: boolean): Promise<MeshsignProcess> => {
        const flag = workers === undefined ? "" : ` --workers ${workers}`;
        ctx.log(`vault: starting meshsign serve${flag}${viaVault ? " --issuer-name vault" : ""}`);
        const profile = options.profileDir
          ? [
              "--cpu-prof",
              "--cpu-prof-dir",
              path.resolve(options.profileDir, workers === undefined ? "default" : `workers-${workers}`, viaVault ? "vault" : "ca"),
            ]
          : [];
        const server = await startMeshsign({
          repoRoot: ctx.serverRoot,
          workers,
          nodeArgs: [...options.serverNodeArgs, ...profile],
          extraArgs: [
            "--identity-rate-limit",
            "0",
            ...(viaVault
              ? [
                  "--manifests",
                  dir,
                  "--issuer-name",
                  "vault",
                  "--issuer-kind",
                  "ClusterIssuer",
                  "--serving-certificate-dns-names",
                  "localhost",
                ]
              : []),
          ],
        });
        servers.push(server);
        return server;
      };
      /** One load against `run`'s server: closed loop (options.concurrency in flight), or open loop at `rate`. */
      const measure = async (run: Run, items: LoadItem[], rate?: number): Promise<Run> => {
        const out: Run = { ...run };
        let vaultBefore = 0;
        let primaryBefore = 0;
        let workersBefore = new Map<number, number>();
        const workerPids = () => processTree(run.server.pid).filter((p) => p !== run.server.pid);
        const job = reusedLoadJob(options, run.target, "create-certificate", items);
        ctx.log(
          `vault: ${run.label}: ${rate === undefined ? `${options.concurrency} in flight` : `${rate} req/s`}, ${options.warmupSeconds}s warm-up + ${options.durationSeconds}s`,
        );
        out.outcome = await runLoad(
          rate === undefined ? job : { ...job, ratePerSecond: rate, maxInFlight: options.concurrency },
          {
            serverPid: run.server.pid,
            clients: options.clients,
            onMeasuring: () => {
              vaultBefore = cpuMs(vaultPid);
              primaryBefore = cpuMs(run.server.pid);
              workersBefore = treeCpuMs(workerPids());
            },
          },
        );
        out.vaultCpuMs = cpuMs(vaultPid) - vaultBefore;
        out.split = {
          primaryMs: cpuMs(run.server.pid) - primaryBefore,
          workersMs: cpuDelta(workersBefore, treeCpuMs(workerPids())),
        };
        ctx.log(
          `vault: ${run.label}: ${f.int(out.outcome.requestsPerSecond)} req/s, p99 ${f.ms(out.outcome.latency.p99Ms)} ms, ${out.outcome.errors} errors`,
        );
        return out;
      };
      /** The CA/Vault pair of one configuration: closed loop, then the same at one rate both hold. */
      const pair = async (label: string, workers: number | undefined, keepVault: boolean): Promise<PairResult> => {
        const ca = await start(workers, false);
        const viaVault = await start(workers, true);
        // Its serving certificate and every answer chain to Vault's root.
        const runs: Run[] = [
          { label: `${label}: in-process CA issuer`, server: ca, target: ca.target },
          { label: `${label}: Vault issuer`, server: viaVault, target: { ...viaVault.target, rootsPem: vault.rootPem } },
        ];
        for (const [i, run] of runs.entries()) {
          const items = await buildWorkload({
            tokens: run.server.tokens,
            keyType: "ecdsa-p256",
            identities: options.identities,
            keysPerIdentity: options.keysPerIdentity,
          });
          await checkChain(run.target, items[0] as LoadItem);
          const idleServer = treeCpuMs(processTree(run.server.pid));
          const idleVault = cpuMs(vaultPid);
          await new Promise((r) => setTimeout(r, IDLE_MS));
          run.items = items;
          run.idle = {
            serverMsPerS: (cpuDelta(idleServer, treeCpuMs(processTree(run.server.pid))) * 1000) / IDLE_MS,
            vaultMsPerS: ((cpuMs(vaultPid) - idleVault) * 1000) / IDLE_MS,
          };
          runs[i] = await measure(run, items);
        }
        // The same again at one rate both can hold (open loop): CPU per request falls as the rate rises
        // (more calls share each wake-up, read and write), and the closed loop runs the CA several times
        // faster than Vault signs, so this pair shows what the issuer alone adds.
        const slower = Math.min(...runs.map((r) => r.outcome?.requestsPerSecond ?? 0));
        const equalRate = Math.max(MIN_EQUAL_RATE, Math.floor((slower * EQUAL_RATE_SHARE) / 10) * 10);
        const equal: Run[] = [];
        for (const run of runs) equal.push(await measure(run, run.items as LoadItem[], equalRate));
        await ca.stop();
        if (!keepVault) await viaVault.stop();
        const [caRun, vaultRun] = runs as [Run, Run];
        const [caEqual, vaultEqual] = equal as [Run, Run];
        const o = (r: Run) => r.outcome as LoadOutcome;
        const caIdle = caRun.idle?.serverMsPerS ?? 0;
        const vaultIdle = vaultRun.idle?.serverMsPerS ?? 0;
        const vaultOwnIdle = vaultRun.idle?.vaultMsPerS ?? 0;
        return {
          label,
          ca: caRun,
          vault: vaultRun,
          caEqual,
          vaultEqual,
          rawExtraMs: perReq(o(vaultRun).cpu.serverMs, o(vaultRun)) - perReq(o(caRun).cpu.serverMs, o(caRun)),
          extraMs:
            netPerReq(o(vaultRun).cpu.serverMs, vaultIdle, o(vaultRun)) -
            netPerReq(o(caRun).cpu.serverMs, caIdle, o(caRun)),
          equalRate,
          equalExtraMs:
            netPerReq(o(vaultEqual).cpu.serverMs, vaultIdle, o(vaultEqual)) -
            netPerReq(o(caEqual).cpu.serverMs, caIdle, o(caEqual)),
          vaultPerReqMs: netPerReq(vaultRun.vaultCpuMs ?? 0, vaultOwnIdle, o(vaultRun)),
          equalVaultPerReqMs: netPerReq(vaultEqual.vaultCpuMs ?? 0, vaultOwnIdle, o(vaultEqual)),
        };
      };
      const pairs: PairResult[] = [];
      for (const [i, c] of CONFIGS.entries()) pairs.push(await pair(c.label, c.workers, i === CONFIGS.length - 1));
      const last = pairs.at(-1) as PairResult;

      // Vault gone: every call should come back UNAVAILABLE, fast (through the last configuration's server).
      ctx.log(`vault: stopping Vault, then ${STOPPED_CALLS} calls one after another (${last.label})`);
      const stoppedTarget = last.vault.target;
      const items = await buildWorkload({
        tokens: last.vault.server.tokens,
        keyType: "ecdsa-p256",
        identities: 1,
        keysPerIdentity: 4,
      });
      await vault.stop();
      const client = new IstioCaClient({
        address: stoppedTarget.address,
        rootsPem: stoppedTarget.rootsPem,
        serverName: stoppedTarget.serverName,
      });
      const latencies = new Float64Array(STOPPED_CALLS);
      const codes = new Map<string, number>();
      try {
        for (let i = 0; i < STOPPED_CALLS; i++) {
          const item = items[i % items.length] as LoadItem;
          const t0 = performance.now();
          const code = await client
            .createCertificate({ csr: item.csr, token: item.token, deadlineMs: 30_000 })
            .then(
              () => "OK",
              (err: unknown) => String((err as { code?: number }).code ?? "error"),
            );
          latencies[i] = performance.now() - t0;
          codes.set(code, (codes.get(code) ?? 0) + 1);
        }
      } finally {
        client.close();
      }
      const first = latencies[0] as number;
      const stopped = summarize(latencies);

      /** Primary and workers CPU per request (raw: the idle figure is the whole tree's). */
      const splitText = (r: Run) => {
        const o = r.outcome;
        if (r.split === undefined || o === undefined || o.requests === 0) return "-";
        return `primary ${f.us((r.split.primaryMs * 1000) / o.requests)} + workers ${f.us((r.split.workersMs * 1000) / o.requests)}`;
      };
      const codeText = [...codes].map(([k, v]) => `${k === "14" ? "UNAVAILABLE" : k}: ${v}`).join(", ");
      const targets: TargetCheck[] = [
        ...pairs.map((p) => ({
          name: `${p.label}: meshsign's own CPU per request through Vault over the CA issuer's, both at ${p.equalRate} req/s (net of idle)`,
          target: `< ${TARGET_EXTRA_CPU_MS} ms`,
          measured: `${p.equalExtraMs.toFixed(2)} ms (closed loop, at different rates: ${p.extraMs.toFixed(2)} ms)`,
          pass: p.equalExtraMs < TARGET_EXTRA_CPU_MS,
        })),
        {
          name: `calls with Vault stopped answered UNAVAILABLE (${last.label})`,
          target: `${STOPPED_CALLS} of ${STOPPED_CALLS}`,
          measured: `${codes.get("14") ?? 0} of ${STOPPED_CALLS}`,
          pass: (codes.get("14") ?? 0) === STOPPED_CALLS,
        },
      ];
      const out = (r: Run) => r.outcome as LoadOutcome;
      return {
        title: `CreateCertificate through Vault next to the in-process CA, default and --workers 2 (${options.concurrency} in flight, ECDSA P-256 CSRs)`,
        table: {
          header: [...LOAD_HEADER, "Vault CPU/req"],
          rows: [
            ...pairs.flatMap((p) => [
              [...loadRow(`${p.label}: in-process CA issuer`, out(p.ca)), "-"],
              [...loadRow(`${p.label}: Vault issuer (token auth)`, out(p.vault)), f.us(p.vaultPerReqMs * 1000)],
              [...loadRow(`${p.label}: in-process CA issuer at ${p.equalRate} req/s`, out(p.caEqual)), "-"],
              [...loadRow(`${p.label}: Vault issuer at ${p.equalRate} req/s`, out(p.vaultEqual)), f.us(p.equalVaultPerReqMs * 1000)],
            ]),
            [
              `${last.label}: Vault stopped (one call at a time)`,
              "-",
              f.ms(stopped.p50Ms),
              f.ms(stopped.p99Ms),
              f.ms(stopped.maxMs),
              codeText,
              "-",
              "-",
              "-",
              "-",
              "-",
            ],
          ],
        },
        targets,
        notes: [
          `Per configuration (${CONFIGS.map((c) => c.label).join(", then ")}), two meshsign serve processes against the same load: one signs with its in-process ECDSA P-256 CA, one names a Vault ClusterIssuer (HashiCorp Vault v1.21.4, vault server -dev -dev-tls on loopback, PKI intermediate with an EC P-256 key, token auth) through --issuer-name; whichever process serves CreateCertificate calls Vault over its own kept-alive HTTPS connection. ` +
            "Server CPU/req is meshsign's process tree over the measured window per counted request (utime + stime from /proc); Vault CPU/req is the vault process's, net of its idle CPU.",
          ...pairs.map(
            (p) =>
              `${p.label}: idle CPU before each load (${IDLE_MS / 1000} s) meshsign with its CA ${f.ms(p.ca.idle?.serverMsPerS ?? 0)} ms/s, through Vault ${f.ms(p.vault.idle?.serverMsPerS ?? 0)} ms/s, Vault ${f.ms(p.vault.idle?.vaultMsPerS ?? 0)} ms/s; meshsign's own CPU per request through Vault minus through its CA ${p.equalExtraMs.toFixed(2)} ms at ${p.equalRate} req/s net of idle, ${p.extraMs.toFixed(2)} ms in the closed loop (raw ${p.rawExtraMs.toFixed(2)} ms); Vault's ${p.vaultPerReqMs.toFixed(2)} ms (${p.equalVaultPerReqMs.toFixed(2)} ms at ${p.equalRate} req/s). By process (raw): with its CA ${splitText(p.ca)}, through Vault ${splitText(p.vault)}; at ${p.equalRate} req/s ${splitText(p.caEqual)} / ${splitText(p.vaultEqual)}.`,
          ),
          `The target is judged on the equal-rate pair (open loop, both servers at ${Math.round(EQUAL_RATE_SHARE * 100)}% of the slower one's closed-loop rate, at least ${MIN_EQUAL_RATE} req/s), net of idle CPU: in the closed loop the CA path runs several times faster than Vault signs, and CPU per request falls as the rate rises (more calls share each wake-up, read and write, timers and GC), so that difference mixes the rate with the issuer.`,
          `With Vault stopped (${last.label}): the first call answered in ${f.ms(first)} ms; ${STOPPED_CALLS} calls one after another took p50 ${f.ms(stopped.p50Ms)} / p99 ${f.ms(stopped.p99Ms)} / max ${f.ms(stopped.maxMs)} ms (${codeText}): connection refused until a circuit opens after 5 failures, then refused without calling Vault.`,
          ...pairs.flatMap((p) => [
            ...errorNote(out(p.ca), `${p.label}: in-process CA issuer`),
            ...errorNote(out(p.vault), `${p.label}: Vault issuer`),
            ...errorNote(out(p.caEqual), `${p.label}: in-process CA issuer at ${p.equalRate} req/s`),
            ...errorNote(out(p.vaultEqual), `${p.label}: Vault issuer at ${p.equalRate} req/s`),
          ]),
        ],
        data: {
          equalRateShare: EQUAL_RATE_SHARE,
          configurations: pairs.map((p) => ({
            label: p.label,
            ca: p.ca.outcome,
            vault: p.vault.outcome,
            vaultCpuMs: p.vault.vaultCpuMs,
            idle: { ca: p.ca.idle, vault: p.vault.idle },
            split: { ca: p.ca.split, vault: p.vault.split, caEqual: p.caEqual.split, vaultEqual: p.vaultEqual.split },
            equal: { rate: p.equalRate, ca: p.caEqual.outcome, vault: p.vaultEqual.outcome },
            extraCpuMsPerRequest: { net: p.extraMs, raw: p.rawExtraMs, equalRate: p.equalExtraMs },
            vaultCpuMsPerRequest: { closedLoop: p.vaultPerReqMs, equalRate: p.equalVaultPerReqMs },
          })),
          stopped: { configuration: last.label, firstMs: first, ...stopped, codes: Object.fromEntries(codes) },
        },
      };
    } finally {
      for (const s of servers) await s.stop();
      await vault.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
