import { join } from "node:path";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { createDefaultIssuerRegistry } from "../issuers/registry.js";
import { Engine, FileSecretSink, MemoryEventRecorder, StoreEventRecorder, systemClock } from "../engine/index.js";
import { openEmbeddedStore } from "../store/embedded/index.js";
import type { Store } from "../store/types.js";
import type { CertificateControl } from "./admin.js";
import { parseLabelSelector, type Config } from "./config.js";
import type { DataDirPaths } from "./data-dir.js";
import type { CaMaterial } from "./csr-stack.js";
import { ensureMeshCaIssuer } from "./mesh-ca-issuer.js";

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
  const engine = new Engine({
    store,
    // Standalone: Events stay in memory (the embedded store holds every object in memory and a
    // burst of issuances writes several Events each); Kubernetes: real Events, expired by the API server.
    events:
      config.mode === "standalone"
        ? new MemoryEventRecorder({ clock: systemClock })
        : new StoreEventRecorder({ store, clock: systemClock, expire: false }),
    registry: createDefaultIssuerRegistry({ clusterResourceNamespace: config.clusterResourceNamespace }),
    metricsRegistry: options.metrics,
    ...(secretSink ? { secretSink } : {}),
    // One line per failure (rate-limited by the engine): the Certificate, the reason and when it is retried.
    onFailure: ({ certificate, kind, reason, message, failedIssuanceAttempts, retryAt, suppressed, err }) =>
      log.warn({ certificate, reason, failedIssuanceAttempts, retryAt, ...(suppressed > 0 ? { suppressed } : {}), ...(err !== undefined ? { err } : {}) }, kind === "issuance" ? `certificate issuance failed: ${message}` : kind === "throttled" ? `certificate re-issuance limited: ${message}` : `reconcile failed: ${message}`),
    ...selection(config),
  });
  let started = false;
  await engine.start();
  started = true;
  log.info({ store: config.mode === "standalone" ? "embedded" : "kubernetes" }, "certificate engine started");
  return {
    store,
    loadManifests: async () => {},
    control: {
      list: (ns) => engine.list(ns),
      describe: (ns, name) => engine.describe(ns, name),
      renew: (ns, name) => engine.renew(ns, name),
      inspectSecret: (ns, name) => engine.inspectSecret(ns, name),
    },
    ready: () => started,
    stop: async () => {
      started = false;
      await engine.stop();
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
): Promise<EngineHost> {
  const store = await openEmbeddedStore({
    dataDir: paths.dir,
    onProblem: (message) => log.warn({ store: join(paths.dir, "store") }, message),
    onWatchError: (err) => log.error({ err }, "store watch callback failed"),
  });
  // The control plane's certificates (meshsign's serving certificate) come from the mesh CA.
  await ensureMeshCaIssuer(store, config, ca);
  let stopManifests: (() => Promise<void>) | undefined;
  const host = await startEngine({
    config,
    store,
    log,
    metrics,
    outputDir: config.outputDir || paths.secrets,
    onStop: async () => {
      await stopManifests?.();
      await store.close();
    },
  });
  return {
    ...host,
    loadManifests: async () => {
      if (!config.manifests || stopManifests) return;
      const { watchManifests } = await import("./manifests-host.js");
      stopManifests = await watchManifests(config.manifests, store, log);
    },
  };
}

/**
 * `--certificate-selector` / `--certificate-issuer-groups`: which Certificates
 * meshsign reconciles, so it can share a cluster with cert-manager (meshsign
 * takes the labelled ones, or those whose issuer group it serves).
 */
function selection(config: Config): { selectCertificate?: (c: { metadata: { labels?: Record<string, string> }; spec?: { issuerRef?: { group?: string } } }) => boolean } {
  const labels = parseLabelSelector(config.certificateSelector);
  const groups = new Set(config.certificateIssuerGroups);
  if (Object.keys(labels).length === 0 && groups.size === 0) return {};
  return {
    // meshsign's own Certificates (serving, istiod) are always its to keep.
    selectCertificate: (c) =>
      c.metadata.labels?.["app.kubernetes.io/managed-by"] === "meshsign" ||
      Object.entries(labels).every(([k, v]) => c.metadata.labels?.[k] === v) &&
      (groups.size === 0 || groups.has(c.spec?.issuerRef?.group || "cert-manager.io")),
  };
}
