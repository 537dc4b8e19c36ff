import cluster, { type Worker } from "node:cluster";
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import path from "node:path";
import { setFlagsFromString } from "node:v8";
import type { Logger } from "pino";
import { AggregatorRegistry, collectDefaultMetrics, register as globalRegistry, Registry } from "prom-client";
import { MeshsignError } from "../errors/index.js";
import { SharedIssuers } from "../issuers/instance-pool.js";
import type { Store } from "../store/types.js";
import { RootsFileWatcher } from "../trust/index.js";
import { startAdminServer } from "./admin.js";
import { startConfiguredBundleEndpoint } from "./bundle-endpoint.js";
import { type Config, MAX_WORKERS } from "./config.js";
import { buildCsrStack, type CaMaterial, type CsrStack, rootsBundle } from "./csr-stack.js";
import { dataDirPaths, ensureDataDir, loadOrCreateAdminToken, loadOrCreateRootCa } from "./data-dir.js";
import { wireDns01Webhooks } from "./dns01-webhooks.js";
import { startStandaloneEngine } from "./engine-host.js";
import { GrpcFrontend, grpcLimitsOf } from "./grpc-frontend.js";
import { IssuanceLog } from "./issuance-log.js";

/** The standalone issuance history in the data dir (JSON lines, rotated to `.1`). */
const ISSUANCE_FILE = "issuances.jsonl";

import type { Watch } from "../store/types.js";
import type { IssuerReference } from "./kube-ca.js";
import { cgroupCpuQuota, defaultServingProcesses, usableCoreCount } from "./lib/cpu-quota.js";
import { endStartupHeap } from "./lib/startup-heap.js";
import { flagsNotGivenByUser, nodeOptionsGiven } from "./lib/v8-flags.js";
import { createLogger } from "./logger.js";
import { controlPlaneIssuerRef } from "./mesh-ca-issuer.js";
import { type ReadinessCheck, registryMetrics, startObservability } from "./observability.js";
import { PrimaryVault } from "./primary-vault.js";
import { ServingCertificate } from "./serving-cert.js";
import type { ServingKeyPair } from "./tls/rotating-credentials.js";
import { servingTlsOptions } from "./tls/serving-settings.js";
import { VERSION } from "./version.js";
import type { FromWorker, RemoteIssuerInfo, ToWorker } from "./worker-protocol.js";
import {
  buildRemoteWorkloadIssuer,
  isRemoteIssuer,
  refuseAcmeWorkloadIssuer,
  type RemoteWorkloadIssuer,
  watchRemoteIssuer,
} from "./workload-issuer.js";

/**
 * V8 heap limits of the CreateCertificate workers. A worker's live heap is
 * about 25 MB, yet with V8's defaults it grows to ~220 MB under sustained
 * load (old space is collected lazily), which put the process tree near
 * 480 MB against issue 2's 300 MB target. Capped, workers stay near 100 MB at
 * the same CPU per request (bench, docs/benchmarks.md). A flag the user sets
 * (node flags or NODE_OPTIONS) wins over each of these.
 *
 * `--single-threaded-gc`: there is one worker per core, so V8's parallel and
 * concurrent GC helper threads only compete with the other workers for the
 * same cores. Without them a worker's GC share of CPU fell from ~10% to ~5%
 * and CreateCertificate p99 at 64 in flight from ~35 to ~29-31 ms with ~10%
 * more throughput (bench, docs/benchmarks.md). Single-threaded, a 4 MB young
 * generation let each worker's RSS grow ~8 MB (tree 288-309 MB against the
 * 300 MB target); 2 MB keeps it at ~92 MB with the same p99 and CPU.
 */
export const WORKER_V8_FLAGS: readonly string[] = [
  "--max-old-space-size=96",
  "--max-semi-space-size=2",
  "--single-threaded-gc",
];

/**
 * GC settings of the primary (engine + embedded store). With 10,000
 * Certificates its live heap is ~95 MB, but V8's defaults left it in
 * 180-360 MB of fragmented, committed heap after full GCs (tree ~590 MB
 * against issue 3's 400 MB). Growing the heap by 50% per GC instead of V8's
 * dynamic factor and compacting on every full GC keep it near the live size,
 * for ~80 ms per full GC (docs/benchmarks.md, engine case). Both are read by
 * V8 at each GC, so they are set here at start-up rather than on the command
 * line, which a user's `node bin/meshsign.js serve` would not carry.
 */
const PRIMARY_GC_FLAGS = ["--heap-growing-percent=50", "--compact-on-every-full-gc"];

/**
 * GC settings of a primary that serves CreateCertificate itself (one worker,
 * e.g. a one-core pod): no compaction on every full GC. Under CreateCertificate
 * load that turned each full GC, every ~1.3 s, into a 40-120 ms pause of every
 * call in flight (p99 at 64 in flight ~100 ms against ~25 ms at p50); without
 * it the pauses were 15-20 ms and the process no larger (V8 still compacts
 * fragmented pages by its own heuristics).
 */
const SERVING_PRIMARY_GC_FLAGS = ["--heap-growing-percent=50"];

/**
 * Largest young-generation semi-space of a primary that serves CreateCertificate
 * itself, in MB: V8's default grows to 16 MB under the load (32 MB resident for
 * the young generation alone); 4 MB kept the process at ~110 MB instead of
 * ~140-160 MB with the same CPU per call.
 */
const SERVING_PRIMARY_SEMI_SPACE_MB = 4;

function workerExecArgv(): string[] {
  return [...process.execArgv, ...flagsNotGivenByUser(WORKER_V8_FLAGS, nodeOptionsGiven())];
}

function workerCount(config: Config, cores: number): number {
  return config.workers > 0 ? config.workers : defaultServingProcesses(cores, MAX_WORKERS);
}

/** Cores this process tree may use: its CPU affinity within the container's CPU limit. */
function usableCores(): number {
  return usableCoreCount(availableParallelism(), cgroupCpuQuota(), Number.MAX_SAFE_INTEGER);
}

/**
 * The primary process: data dir, CA, engine (standalone) or controllers
 * (Kubernetes), meshsign's serving certificate, health, metrics, admin API,
 * and the CreateCertificate workers (or the port itself when workers = 1).
 */
export async function runPrimary(config: Config): Promise<void> {
  const cores = usableCores();
  const n = workerCount(config, cores);
  for (const flag of flagsNotGivenByUser(n === 1 ? SERVING_PRIMARY_GC_FLAGS : PRIMARY_GC_FLAGS, nodeOptionsGiven()))
    setFlagsFromString(flag);
  const log = createLogger({ level: config.logLevel, format: config.logFormat });
  const paths = dataDirPaths(config.dataDir);
  ensureDataDir(paths);
  const ca = await loadCaMaterial(config, paths, log);
  const adminToken = loadOrCreateAdminToken(paths, true);
  // Built in the primary too: it creates the dev token key once, before workers race for it,
  // and signs the serving certificate.
  // The thread pool only where cores would otherwise be idle: fewer CreateCertificate processes than usable cores.
  const cryptoOnThreadPool = n < cores;
  const stack = await buildCsrStack(config, ca, log, globalRegistry, { dataDir: paths.dir, cryptoOnThreadPool });

  // Standalone: the history survives restarts in the data dir. Kubernetes: the audit log lines
  // are the durable trail (the pod's data dir is not persistent); the ring covers this process.
  let lastHistoryWarning = 0;
  const issuances = new IssuanceLog(
    config.mode === "standalone"
      ? {
          file: path.join(paths.dir, ISSUANCE_FILE),
          onError: (err) => {
            if (Date.now() - lastHistoryWarning < 60_000) return;
            lastHistoryWarning = Date.now();
            log.warn(
              { err, file: path.join(paths.dir, ISSUANCE_FILE) },
              "cannot write the issuance history (audit log lines are unaffected)",
            );
          },
        }
      : {},
  );
  let shuttingDown = false;
  const primaryRegistry = n === 1 ? globalRegistry : new Registry();
  if (n === 1) collectDefaultMetrics({ register: globalRegistry });
  // With workers, the aggregated nodejs_* / process_* figures are theirs; the primary's own (RSS,
  // heap, event-loop lag of the engine and store process) get a prefix so the names do not clash.
  else collectDefaultMetrics({ register: primaryRegistry, prefix: "meshsign_primary_" });
  await wireDns01Webhooks(config);
  // One instance per Issuer resource in this process tree: the engine's Certificates and
  // CreateCertificate (the workers with its token, primary-vault.ts) share a Vault issuer's login.
  const sharedIssuers = new SharedIssuers();
  const engine =
    config.mode === "standalone"
      ? await startStandaloneEngine(config, paths, ca, log, primaryRegistry, sharedIssuers)
      : undefined;
  const kube =
    config.mode === "kubernetes"
      ? await (await import("./kube-mode.js")).startKubernetesControllers({
          config,
          rootsPem: ca.workloadIssuerRemote && !config.rootCaFile ? undefined : ca.rootsPem,
          log,
          metrics: primaryRegistry,
          sharedIssuers,
        })
      : undefined;
  const certificates = engine?.control ?? kube?.control;
  const store = (engine?.store ?? kube?.store) as Store;

  // meshsign's own serving certificate is a Certificate the engine keeps (in Kubernetes mode, the leader's).
  const serving = new ServingCertificate({
    store,
    namespace: config.clusterResourceNamespace,
    dnsNames: config.servingDnsNames,
    ipAddresses: config.servingIpAddresses,
    durationMs: config.servingCertificateDuration,
    issuerRef: controlPlaneIssuerRef(config),
    log,
  });
  let frontend: (GrpcFrontend & { port: number }) | undefined;
  let workers: Awaited<ReturnType<typeof startWorkers>> | undefined;
  let bundle: Awaited<ReturnType<typeof startConfiguredBundleEndpoint>>;
  const publishBundle = (pem: string) =>
    void bundle?.endpoint
      .setRoots(pem)
      .catch((err: unknown) => log.error({ err }, "SPIFFE bundle not updated"));

  const checks = (): ReadinessCheck[] => [
    { name: "shutdown", ready: () => !shuttingDown },
    { name: "ca", ready: () => stack.issuer.status().ready },
    { name: "serving_certificate", ready: () => serving.valid(), reason: () => serving.waitingReason() },
    { name: "grpc_server", ready: () => (frontend ? frontend.serving : (workers?.allReady() ?? false)) },
    ...(engine ? [{ name: "engine", ready: () => engine.ready() }] : []),
    // A full or read-only disk refuses the engine's writes: not ready, and /readyz says why.
    ...(engine?.storeHealth
      ? [
          {
            name: "store",
            ready: () => engine.storeHealth?.().ok ?? true,
            reason: () => engine.storeHealth?.().reason,
          },
        ]
      : []),
    ...(kube ? [{ name: "controllers", ready: () => kube.ready() }] : []),
    ...(config.bundleEndpointAddress
      ? [{ name: "bundle_endpoint", ready: () => bundle?.ready() ?? false }]
      : []),
  ];
  // Probes answer from the start: /healthz at once, /readyz once everything below is up.
  const aggregator = new AggregatorRegistry();
  const obs = await startObservability({
    healthPort: config.readinessProbePort,
    metricsPort: config.metricsPort,
    checks,
    metrics:
      n === 1
        ? registryMetrics(globalRegistry)
        : async () => ({
            contentType: aggregator.contentType,
            body: `${await aggregator.clusterMetrics()}\n${await primaryRegistry.metrics()}`,
          }),
  });

  // Standalone --issuer-name may name a ClusterIssuer from --manifests, which then signs the serving certificate too.
  if (config.issuerName) await engine?.loadManifests();
  // An ACME issuer cannot sign workload certificates (nor the serving certificate through the engine).
  if (config.issuerName) await refuseAcmeWorkloadIssuer(store, { name: config.issuerName, kind: config.issuerKind, group: config.issuerGroup, namespace: config.issuerNamespace });
  const pair = await serving.start();
  // Start-up is over: from here on (manifests, engine, load) the young generation grows again.
  endStartupHeap(n === 1 ? { maxSemiSpaceMb: SERVING_PRIMARY_SEMI_SPACE_MB } : {});
  await engine?.loadManifests();

  // A remote workload issuer (Vault) logs in here; with workers, each calls Vault itself with this
  // process's token (primary-vault.ts), so the single-process path is the same as without workers.
  let remote: RemoteWorkloadIssuer | undefined;
  let remoteWatch: Watch | undefined;
  const vaultForWorkers = n > 1 ? new PrimaryVault({ workers: () => workers?.all ?? [], log }) : undefined;
  const remoteInfo = (): RemoteIssuerInfo | undefined => vaultForWorkers?.info();
  const dropRemote = () => {
    remoteWatch?.stop();
    remoteWatch = undefined;
    vaultForWorkers?.drop();
    remote?.close();
    remote = undefined;
  };
  const announceRemote = (r: RemoteWorkloadIssuer) => {
    frontend?.updateRoots(r.rootsPem);
    const info = remoteInfo();
    if (info) for (const w of workers?.all ?? []) w.send({ type: "remote", remote: info } satisfies ToWorker);
    kube?.setRoots(r.rootsPem);
    publishBundle(r.rootsPem);
  };
  /** Builds the remote issuer `ref` names, switches to it (self-test first) and follows changes to it and its Secrets. */
  const useRemote = async (ref: IssuerReference): Promise<RemoteWorkloadIssuer> => {
    // With workers, theirs are the guards that see the calls (and export the metrics); this one only self-tests.
    const metrics = n === 1 ? primaryRegistry : new Registry();
    const next = await buildRemoteWorkloadIssuer({ store, ref, config, log, metrics, sharedIssuers });
    try {
      await stack.setRemote(next);
    } catch (err) {
      next.close();
      throw err;
    }
    dropRemote();
    remote = next;
    await vaultForWorkers?.use(next);
    remoteWatch = watchRemoteIssuer(store, ref, next, () => {
      useRemote(ref).then(
        (r) => {
          announceRemote(r);
          log.info({ issuer: r.origin }, "workload issuer rebuilt after a change to it or its Secrets");
        },
        (err: unknown) =>
          log.error(
            { err, issuer: ref },
            "changed workload issuer refused; the previous instance keeps signing",
          ),
      );
    });
    await remoteWatch.synced;
    return next;
  };
  const startRef: IssuerReference | undefined = config.issuerName
    ? {
        name: config.issuerName,
        kind: config.issuerKind,
        group: config.issuerGroup,
        namespace: config.issuerNamespace,
      }
    : undefined;
  if (startRef && (await isRemoteIssuer(store, startRef))) {
    const r = await useRemote(startRef);
    kube?.setRoots(r.rootsPem);
    log.info({ issuer: r.origin }, "workload certificates are signed by a remote issuer");
  }
  if (n === 1) frontend = await startInProcess(config, stack, pair, issuances, log);
  else
    workers = await startWorkers(
      n,
      cryptoOnThreadPool,
      config,
      () => serving.current ?? pair,
      ca,
      remoteInfo,
      (w, m) => vaultForWorkers?.answer(w, m),
      issuances,
      log,
      () => shuttingDown,
    );
  serving.onRenew((p) => {
    frontend?.updateServing(p);
    for (const w of workers?.all ?? []) w.send({ type: "serving", pair: p } satisfies ToWorker);
    admin.updateServing(p);
  });
  // The SPIFFE trust bundle endpoint (off unless --bundle-endpoint-address is set), once CreateCertificate
  // serves: with https_spiffe it waits for its SVID, which a follower gets only from the leader's engine.
  bundle = await startConfiguredBundleEndpoint({
    config,
    store,
    dataDir: paths.dir,
    roots: stack.roots(),
    serving,
    log,
  });

  // --root-ca-file is watched: a rotation (old + new roots) reaches every worker, the
  // responses' last element and istio-ca-root-cert without a restart.
  const rootsFile = config.rootCaFile
    ? await RootsFileWatcher.open({
        path: config.rootCaFile,
        onError: (err) => log.error({ err }, "--root-ca-file unreadable; keeping the last good roots"),
      })
    : undefined;
  rootsFile?.subscribe((pem) => {
    stack.setRoots(pem).then(
      () => {
        log.info({ file: config.rootCaFile }, "mesh roots changed");
        frontend?.updateRoots(pem);
        for (const w of workers?.all ?? []) w.send({ type: "roots", pem } satisfies ToWorker);
        kube?.setRoots(pem);
        publishBundle(pem);
      },
      (err: unknown) =>
        log.error(
          { err },
          "new --root-ca-file refused: the CA does not chain to it; keeping the last good roots",
        ),
    );
  });

  // Kubernetes: istio-csr's runtime issuance ConfigMap switches the signing issuer without a restart.
  const runtimeIssuer =
    kube && config.runtimeIssuanceConfigMapName
      ? (await import("./runtime-issuer.js")).watchRuntimeIssuer({
          store: kube.store,
          namespace: config.runtimeIssuanceConfigMapNamespace,
          name: config.runtimeIssuanceConfigMapName,
          issuerNamespace: config.issuerNamespace,
          log,
          onChange: (ref) => {
            // A Vault issuer signs remotely; deleting the ConfigMap returns to the start-up issuer, which may be one.
            const target = ref ?? startRef;
            const isRemote = target
              ? isRemoteIssuer(kube.store, target).catch(() => false)
              : Promise.resolve(false);
            void isRemote.then(async (yes) => {
              if (target && yes) {
                try {
                  const r = await useRemote(target);
                  announceRemote(r);
                  log.info({ issuer: r.origin }, "signing issuer switched");
                } catch (err) {
                  log.error(
                    { err, issuer: target },
                    "runtime issuer refused; the current issuer keeps signing",
                  );
                }
                return;
              }
              const load = ref
                ? import("./kube-ca.js").then((m) => m.loadIssuerCa(config, ref))
                : Promise.resolve(ca);
              load
                .then(async (next) => {
                  await stack.setCa(next);
                  dropRemote();
                  frontend?.updateRoots(next.rootsPem);
                  for (const w of workers?.all ?? []) w.send({ type: "ca", ca: next } satisfies ToWorker);
                  kube.setRoots(next.rootsPem);
                  publishBundle(next.rootsPem);
                  log.info({ issuer: next.origin }, "signing issuer switched");
                })
                .catch((err: unknown) =>
                  log.error({ err, issuer: ref }, "runtime issuer refused; the current issuer keeps signing"),
                );
            });
          },
        })
      : undefined;

  const [adminHost, adminPort] = splitHostPort(config.adminAddress);
  const admin = await startAdminServer({
    host: adminHost,
    port: adminPort,
    token: adminToken,
    serving: pair,
    sources: {
      version: VERSION,
      mode: config.mode,
      trustDomain: config.trustDomain,
      roots: stack.roots,
      checks,
      issuances,
      ...(certificates ? { certificates } : {}),
    },
  });

  const grpcPort = frontend ? frontend.port : (workers?.port ?? 0);
  const address = `${splitHostPort(config.servingAddress)[0]}:${grpcPort}`;
  const extra = bundle ? [`  SPIFFE bundle:  ${bundle.url} (${bundle.profile})`] : [];
  process.stdout.write(
    banner(
      config,
      remote
        ? `${remote.origin} (mesh roots: ${config.rootCaFile || "its root"})`
        : config.mode === "kubernetes"
          ? ca.origin
          : paths.rootCert,
      address,
      admin.port,
      obs.healthPort,
      obs.metricsPort,
      extra,
    ),
  );
  log.info({ address, workers: n, trustDomain: config.trustDomain, mode: config.mode }, "meshsign serving");

  const shutdown = async (signal: string) => {
    if (shuttingDown) return;
    shuttingDown = true;
    log.info({ signal, gracePeriodMs: config.shutdownGracePeriod }, "shutting down");
    serving.stop();
    rootsFile?.close();
    runtimeIssuer?.stop();
    remoteWatch?.stop();
    await Promise.all([
      frontend?.shutdown(config.shutdownGracePeriod),
      workers?.shutdown(config.shutdownGracePeriod + 2000),
      engine?.stop(),
      kube?.stop(),
    ]);
    await Promise.all([admin.close(), obs.close(), bundle?.stop()]);
    issuances.flush();
    dropRemote();
    await stack.close();
    log.info("stopped");
    log.flush();
    process.exit(0);
  };
  process.once("SIGTERM", () => void shutdown("SIGTERM"));
  process.once("SIGINT", () => void shutdown("SIGINT"));
}

async function startInProcess(
  config: Config,
  stack: CsrStack,
  pair: ServingKeyPair,
  issuances: IssuanceLog,
  log: Logger,
): Promise<GrpcFrontend & { port: number }> {
  const frontend = new GrpcFrontend(stack.deps((r) => issuances.add(r)), pair, {
    address: config.servingAddress,
    requestClientCertificate: config.enableClientCertAuthenticator,
    clientCaPem: stack.roots(),
    log,
    limits: grpcLimitsOf(config),
    implementation: config.grpcImplementation,
    ...(stack.clientChains ? { clientChains: stack.clientChains } : {}),
    tls: servingTlsOptions(config),
  });
  const port = await frontend.start();
  return Object.assign(frontend, { port });
}

async function startWorkers(
  n: number,
  cryptoOnThreadPool: boolean,
  config: Config,
  current: () => ServingKeyPair,
  ca: CaMaterial,
  remote: () => RemoteIssuerInfo | undefined,
  onTokenRejected: (w: Worker, m: Extract<FromWorker, { type: "vault-token-rejected" }>) => void,
  issuances: IssuanceLog,
  log: Logger,
  shuttingDown: () => boolean,
): Promise<{ all: Worker[]; port: number; allReady(): boolean; shutdown(graceMs: number): Promise<void> }> {
  const all: Worker[] = [];
  const ready = new Set<number>();
  let port = 0;
  const fork = (): Promise<void> =>
    new Promise((resolve, reject) => {
      cluster.setupPrimary({ execArgv: workerExecArgv() });
      const w = cluster.fork();
      all.push(w);
      w.on("message", (m: FromWorker) => {
        if (m.type === "hello") {
          // The worker has built its CSR stack and listens for messages now.
          const r = remote();
          w.send({
            type: "init",
            config,
            pair: current(),
            ca,
            ...(r ? { remote: r } : {}),
            cryptoOnThreadPool,
          } satisfies ToWorker);
        } else if (m.type === "ready") {
          ready.add(w.id);
          port = m.port;
          resolve();
        } else if (m.type === "issued") {
          for (const record of m.records) issuances.add(record);
        } else if (m.type === "vault-token-rejected") {
          onTokenRejected(w, m);
        }
      });
      w.once("exit", (code, signal) => {
        ready.delete(w.id);
        all.splice(all.indexOf(w), 1);
        if (shuttingDown()) return;
        log.error({ worker: w.id, code, signal }, "worker exited; starting a new one");
        reject(new Error(`worker ${w.id} exited with ${code ?? signal}`));
        setTimeout(() => void fork().catch(() => {}), 1000).unref();
      });
    });
  await Promise.all(Array.from({ length: n }, fork));
  return {
    all,
    get port() {
      return port;
    },
    allReady: () => all.length > 0 && all.every((w) => ready.has(w.id)),
    shutdown: async (graceMs) => {
      const exits = all.map((w) => new Promise<void>((resolve) => w.once("exit", () => resolve())));
      for (const w of all) w.send({ type: "shutdown" } satisfies ToWorker);
      await Promise.race([Promise.all(exits), new Promise((r) => setTimeout(r, graceMs).unref())]);
      for (const w of all) if (!w.isDead()) w.kill("SIGKILL");
    },
  };
}

/**
 * The signing CA and the roots: standalone, the data dir's root (created on
 * first start); `--root-ca-file` overrides the roots returned to clients.
 */
async function loadCaMaterial(
  config: Config,
  paths: ReturnType<typeof dataDirPaths>,
  log: Logger,
): Promise<CaMaterial> {
  if (config.mode === "kubernetes") {
    const { loadOrCreateKubeCa } = await import("./kube-ca.js");
    return loadOrCreateKubeCa(config, log);
  }
  const root = await loadOrCreateRootCa(paths, {
    algorithm: config.caKeyAlgorithm,
    durationMs: config.caDuration,
    trustDomain: config.trustDomain,
  });
  if (root.created)
    log.info({ rootCert: paths.rootCert, algorithm: config.caKeyAlgorithm }, "created a new root CA");
  const rootsFile = config.rootCaFile || paths.rootCert;
  return {
    certificatePem: root.certificatePem,
    privateKeyPem: readFileSync(paths.rootKey, "utf8"),
    origin: `file ${paths.rootCert}`,
    rootsPem: rootsBundle(readRootsFile(rootsFile), `--root-ca-file ${rootsFile}`),
  };
}

function readRootsFile(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw new MeshsignError("ERR_CONFIG_INVALID", `--root-ca-file: cannot read ${path}`, { cause: err });
  }
}

export function splitHostPort(address: string): [string, number] {
  const i = address.lastIndexOf(":");
  const host = address.slice(0, i).replace(/^\[|\]$/g, "") || "0.0.0.0";
  return [host, Number(address.slice(i + 1))];
}

function banner(
  config: Config,
  rootCa: string,
  address: string,
  adminPort: number,
  healthPort: number,
  metricsPort: number,
  extra: readonly string[] = [],
): string {
  const host = address.startsWith("0.0.0.0:") ? `localhost:${address.split(":").pop()}` : address;
  const dataDir = config.dataDir === ".meshsign" ? "" : ` --data-dir ${config.dataDir}`;
  const lines = [
    `meshsign ${VERSION} serving Istio CreateCertificate on ${address} (TLS)`,
    `  trust domain:   ${config.trustDomain}`,
    `  root CA:        ${rootCa}`,
    `  admin API:      https://${splitHostPort(config.adminAddress)[0]}:${adminPort}`,
    `  health:         http://localhost:${healthPort}/readyz   metrics: http://localhost:${metricsPort}/metrics`,
    ...extra,
  ];
  if (config.devTokenIssuer) {
    lines.push(
      "  dev tokens:     ON (for trying meshsign out; turn off with --dev-token-issuer=false)",
      "",
      "Get a certificate as an Istio sidecar would:",
      `  npx meshsign request --namespace default --service-account demo --address ${host}${dataDir}`,
    );
  }
  return `${lines.join("\n")}\n`;
}
