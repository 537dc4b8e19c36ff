import { rm } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { AcmeClientMetrics, inspectOrder, listLeftoverDns01Records, orderOfRequest } from "../acme/index.js";
import { matchesLabelSelector } from "../api/label-selector.js";
import { createDefaultIssuerRegistry } from "../issuers/registry.js";
import type { SharedIssuers } from "../issuers/instance-pool.js";
import { dnsPropagation } from "../engine/acme/index.js";
import { Engine, FileSecretSink, MemoryEventRecorder, StoreEventRecorder, systemClock } from "../engine/index.js";
import { openEmbeddedStore } from "../store/embedded/index.js";
import type { Store } from "../store/types.js";
import type { CertificateControl } from "./admin.js";
import type { Config } from "./config.js";
import type { DataDirPaths } from "./data-dir.js";
import type { CaMaterial } from "./csr-stack.js";
import { startAcmeSolverListener } from "./acme-solver.js";
import { RepeatLimiter } from "./lib/repeat-limiter.js";
import { ensureMeshCaIssuer } from "./mesh-ca-issuer.js";
import { startShims } from "./shims-host.js";

/** The Certificate engine as the server process hosts it. */
export interface EngineHost {
  readonly control: CertificateControl;
  readonly store: Store;
  /**
   * Standalone `--manifests`: applies the directory and follows it. Called once
   * meshsign's own serving certificate is issued, so thousands of manifests
   * never queue the gRPC port's certificate behind them.
   */
  loadManifests(): Promise<void>;
  ready(): boolean;
  /** Standalone: whether the embedded store takes writes now, and why not (full or read-only disk). */
  storeHealth?(): { ok: boolean; reason?: string };
  /** The HTTP-01 solver listener answered for `token` (standalone: the listener runs beside this engine). */
  noteHttp01Served(token: string): void;
  stop(): Promise<void>;
}

/**
 * Runs the engine on a store: the embedded store under the data dir in
 * standalone mode (with Secrets also published as files under
 * `--output-dir`, and manifests from `--manifests`), or the Kubernetes store
 * when the leader starts it.
 */
export async function startEngine(options: {
  config: Config;
  store: Store;
  log: Logger;
  metrics: Registry;
  outputDir?: string;
  onStop?: () => Promise<void>;
  /** The process's pool of issuer instances, shared with the CreateCertificate path (one Vault login). */
  sharedIssuers?: SharedIssuers;
}): Promise<EngineHost> {
  const { config, store, log } = options;
  const hook = config.secretHook.trim() ? config.secretHook.trim().split(/\s+/) : undefined;
  const secretSink = options.outputDir
    ? new FileSecretSink({
        outputDir: options.outputDir,
        ...(hook ? { hook } : {}),
        onHookResult: (r) => {
          if (!r.ok) log.warn({ secret: `${r.ref.namespace}/${r.ref.secretName}`, exitCode: r.exitCode, signal: r.signal, error: r.error }, "secret hook failed");
        },
      })
    : undefined;
  // The same failure for many Certificates (a full disk) is one warning and a count, not thousands.
  const repeats = new RepeatLimiter({
    onSummary: (message, n, last) => log.warn({ repeated: n, lastCertificate: last }, `reconcile failed ${n} more time(s) in the last minute with the same error: ${message}`),
  });
  // Kubernetes: Vault's and Route53's serviceAccountRef log in with a TokenRequest token.
  const tokens = config.mode === "kubernetes" ? await (await import("./kube-token-request.js")).kubeServiceAccountTokens(config) : undefined;
  const engine = new Engine({
    store,
    acme: {
      maxConcurrentChallenges: config.maxConcurrentChallenges,
      orderTimeoutMs: config.acmeOrderDeadline,
      dns01Propagation: dnsPropagation({
        ...(config.dns01RecursiveNameservers.length > 0 ? { recursiveNameservers: config.dns01RecursiveNameservers } : {}),
        ...(config.dns01RecursiveNameserversOnly ? { recursiveOnly: true } : {}),
      }),
      ...(tokens !== undefined ? { requestServiceAccountToken: tokens } : {}),
      // Standalone: the solver listener runs in this process and says what it served.
      ...(config.mode === "standalone" && config.acmeHttp01SolverAddress ? { http01ServedSignals: true } : {}),
      // Kubernetes: the CA reaches the solver listener through meshsign's Service, routed per Challenge.
      ...(config.mode === "kubernetes" && config.acmeHttp01SolverAddress ? { http01Routes: { service: { name: "meshsign", namespace: config.clusterResourceNamespace, port: Number(config.acmeHttp01SolverAddress.slice(config.acmeHttp01SolverAddress.lastIndexOf(":") + 1)) } } } : {}),
    },
    // Standalone: Events stay in memory (the embedded store holds every object in memory and a
    // burst of issuances writes several Events each); Kubernetes: real Events, expired by the API server.
    events:
      config.mode === "standalone"
        ? new MemoryEventRecorder({ clock: systemClock })
        : new StoreEventRecorder({ store, clock: systemClock, expire: false }),
    registry: createDefaultIssuerRegistry({
      clusterResourceNamespace: config.clusterResourceNamespace,
      observeAcmeRequest: acmeMetricsFor(options.metrics).observe,
      ...(tokens !== undefined ? { requestServiceAccountToken: tokens } : {}),
      ...(options.sharedIssuers !== undefined ? { shared: options.sharedIssuers } : {}),
    }),
    metricsRegistry: options.metrics,
    ...(secretSink ? { secretSink } : {}),
    // One line per failure (rate-limited per Certificate by the engine): the Certificate, the reason
    // and when it is retried; the same error across many Certificates is then folded by `repeats`.
    onFailure: ({ certificate, kind, reason, message, failedIssuanceAttempts, retryAt, suppressed, err }) =>
      repeats.admit(`${kind} ${reason} ${err !== undefined ? errorKey(err) : message}`, certificate) &&
      log.warn({ certificate, reason, failedIssuanceAttempts, retryAt, ...(suppressed > 0 ? { suppressed } : {}), ...(err !== undefined ? { err } : {}) }, kind === "issuance" ? `certificate issuance failed: ${message}` : kind === "throttled" ? `certificate re-issuance limited: ${message}` : `reconcile failed: ${message}`),
    ...selection(config),
  });
  let started = false;
  await engine.start();
  // Certificates from annotated Ingresses and Gateways, on the same store (and, standalone, from --manifests).
  const shims = await startShims({ config, store, log });
  started = true;

  log.info({ store: config.mode === "standalone" ? "embedded" : "kubernetes" }, "certificate engine started");
  return {
    store,
    loadManifests: async () => {},
    noteHttp01Served: (token) => engine.noteHttp01Served(token),
    control: {
      list: (ns) => engine.list(ns),
      listIssuers: (ns) => engine.listIssuers(ns),
      describe: (ns, name) => describeWithOrder(store, engine, ns, name),
      renew: (ns, name) => engine.renew(ns, name),
      inspectSecret: (ns, name) => engine.inspectSecret(ns, name),
      inspectOrder: (ns, name) => inspectOrder(store, ns, name),
      listLeftoverDns01Records: (ns) => listLeftoverDns01Records(store, ns),
    },
    ready: () => started,
    stop: async () => {
      started = false;
      await shims?.stop();
      await engine.stop();
      repeats.flush();
      await options.onStop?.();
    },
  };
}

/** Standalone: the embedded store under `<data-dir>/store`, manifests from `--manifests`. */
export async function startStandaloneEngine(
  config: Config,
  paths: DataDirPaths,
  ca: CaMaterial,
  log: Logger,
  metrics: Registry,
  sharedIssuers?: SharedIssuers,
): Promise<EngineHost> {
  const problems = new RepeatLimiter({ onSummary: (message, n) => log.warn({ store: join(paths.dir, "store"), repeated: n }, `${n} more time(s) in the last minute: ${message}`) });
  const store = await openEmbeddedStore({
    dataDir: paths.dir,
    onProblem: (message) => {
      if (problems.admit(message)) log.warn({ store: join(paths.dir, "store") }, message);
    },
    onWatchError: (err) => log.error({ err }, "store watch callback failed"),
  });
  // The control plane's certificates (meshsign's serving certificate) come from the mesh CA.
  await ensureMeshCaIssuer(store, config, ca);
  let stopManifests: (() => Promise<void>) | undefined;
  let served: ((token: string) => void) | undefined;
  const solver = config.acmeHttp01SolverAddress
    ? startAcmeSolverListener({ store, address: config.acmeHttp01SolverAddress, log, onServed: (token) => served?.(token) })
    : undefined;
  const host = await startEngine({
    config,
    store,
    log,
    metrics,
    ...(sharedIssuers !== undefined ? { sharedIssuers } : {}),
    outputDir: config.outputDir || paths.secrets,
    onStop: async () => {
      await stopManifests?.();
      await solver?.stop();
      await store.close();
    },
  });
  served = host.noteHttp01Served;
  return {
    ...host,
    storeHealth: () => store.health(),
    loadManifests: async () => {
      if (stopManifests) return;
      if (!config.manifests) {
        // A report from an earlier run with --manifests would show problems of a folder no longer read.
        await rm(paths.manifestsReport, { force: true });
        return;
      }
      const { watchManifests } = await import("./manifests-host.js");
      stopManifests = await watchManifests(config.manifests, store, log, { strictFields: config.strictManifests, reportFile: paths.manifestsReport });
    },
  };
}

/** cert-manager's ACME client metrics, registered once per registry (a new leader term starts the engine again). */
const acmeMetrics = new WeakMap<Registry, AcmeClientMetrics>();
function acmeMetricsFor(registry: Registry): AcmeClientMetrics {
  let m = acmeMetrics.get(registry);
  if (m === undefined) {
    m = new AcmeClientMetrics(registry);
    acmeMetrics.set(registry, m);
  }
  return m;
}

/** What makes two reconcile failures "the same" for the log: their code and message (never the Certificate). */
function errorKey(err: unknown): string {
  if (err instanceof Error) return `${(err as { code?: unknown }).code ?? err.name}: ${err.message}`;
  return String(err);
}

/**
 * `--certificate-selector` / `--certificate-issuer-groups`: which Certificates
 * meshsign reconciles, so it can share a cluster with cert-manager (meshsign
 * takes the labelled ones, or those whose issuer group it serves).
 */
function selection(config: Config): { selectCertificate?: (c: { metadata: { labels?: Record<string, string> }; spec?: { issuerRef?: { group?: string } } }) => boolean } {
  const selector = config.certificateSelector;
  const groups = new Set(config.certificateIssuerGroups);
  if (selector.requirements.length === 0 && groups.size === 0) return {};
  return {
    // meshsign's own Certificates (serving, istiod) are always its to keep.
    selectCertificate: (c) =>
      c.metadata.labels?.["app.kubernetes.io/managed-by"] === "meshsign" ||
      matchesLabelSelector(selector, c.metadata.labels) &&
      (groups.size === 0 || groups.has(c.spec?.issuerRef?.group || "cert-manager.io")),
  };
}

/**
 * The engine's description of a Certificate plus, when its last request went
 * to an ACME issuer, that request's Order and Challenges (state, solver,
 * presented, reason), so `meshsign status ns/name` shows where issuance waits.
 */
async function describeWithOrder(store: Store, engine: Engine, namespace: string, name: string): Promise<object> {
  const description = await engine.describe(namespace, name);
  const request = description.lastRequest?.name;
  const acme = request === undefined ? undefined : await orderOfRequest(store, namespace, request);
  return acme === undefined ? description : { ...description, order: acme.order, challenges: acme.challenges };
}
