import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { CERTIFICATES } from "../api/types.js";
import { isMeshsignError, MeshsignError } from "../errors/index.js";
import { KubeStore } from "../store/kube/index.js";
import type { KubeObject, Store } from "../store/types.js";
import { RootConfigMapDistributor, RootsBroadcaster } from "../trust/index.js";
import type { CertificateControl } from "./admin.js";
import type { Config } from "./config.js";
import { startAcmeSolverListener } from "./acme-solver.js";
import type { SharedIssuers } from "../issuers/instance-pool.js";
import { startEngine, type EngineHost } from "./engine-host.js";
import { istiodCertificate } from "./istiod-certificate.js";
import { controlPlaneIssuerRef, createIfAbsent, ensureMeshCaIssuer } from "./mesh-ca-issuer.js";
import { loadKubeConfig } from "./kube-config.js";
import { DEFAULT_RETRY_PERIOD_MS, LeaderElector } from "./leader-election.js";

export interface KubernetesControllers {
  readonly control: CertificateControl;
  readonly store: Store;
  /** Publishes new mesh roots (rotation) to istio-ca-root-cert. */
  setRoots(pem: string): void;
  isLeader(): boolean;
  ready(): boolean;
  stop(): Promise<void>;
}

/**
 * Kubernetes mode: every replica serves CreateCertificate; the replica that
 * holds the `meshsign-leader` Lease also runs the Certificate engine on the
 * API server, publishes `istio-ca-root-cert` to the selected namespaces and
 * keeps istiod's certificate (every replica answers ACME HTTP-01 challenges
 * from the Challenges on the API server). Losing the Lease stops those at once; another
 * replica takes over within the lease duration.
 */
export async function startKubernetesControllers(options: {
  config: Config;
  /** The mesh roots to publish; undefined publishes nothing until setRoots (a remote issuer's roots are not known yet). */
  rootsPem: string | undefined;
  log: Logger;
  metrics: Registry;
  /** The process's pool of issuer instances, shared with the CreateCertificate path (one Vault login). */
  sharedIssuers?: SharedIssuers;
}): Promise<KubernetesControllers> {
  const { config, log } = options;
  const kubeConfig = await loadKubeConfig(config);
  const store = new KubeStore({
    kubeConfig,
    onWatchError: (type, err) => log.warn({ kind: type.kind, err }, "watch failed; retrying"),
  });
  const roots = new RootsBroadcaster(options.rootsPem);
  // Every replica answers ACME HTTP-01 challenges, leader or not.
  const solver = config.acmeHttp01SolverAddress ? startAcmeSolverListener({ store, address: config.acmeHttp01SolverAddress, log }) : undefined;
  let engine: EngineHost | undefined;
  let trust: RootConfigMapDistributor | undefined;
  let leading = false;
  let stopping: Promise<void> | undefined;
  let closing = false;

  const lead = async (signal: AbortSignal) => {
    const issuerRef = controlPlaneIssuerRef(config);
    if (!config.issuerName) await ensureMeshCaIssuer(store, config);
    // Each await may outlast this term: once `signal` aborted, onStoppedLeading has stopped what
    // this term had started, and a next term may be starting its own. What this term starts
    // afterwards is its own to stop; it must neither run nor replace the next term's.
    if (signal.aborted) return;
    const started = await startEngine({ config, store, log, metrics: options.metrics, ...(options.sharedIssuers !== undefined ? { sharedIssuers: options.sharedIssuers } : {}) });
    if (signal.aborted) {
      await started.stop();
      return;
    }
    engine = started;
    trust = new RootConfigMapDistributor({
      store,
      roots,
      namespaceSelector: config.configmapNamespaceSelector,
      onError: (ns, err) => log.warn({ namespace: ns, err }, "istio-ca-root-cert reconcile failed; retrying"),
      onChanged: (ns, action) => log.info({ namespace: ns, action }, "istio-ca-root-cert published"),
    });
    await trust.start();
    if (signal.aborted) return;
    if (config.istiodCertificateEnable) ensureIstiodCertificate(istiodCertificate(config, issuerRef) as KubeObject, signal);
  };
  // istiod's namespace may not exist yet (meshsign installed before Istio): keep trying while leading.
  const ensureIstiodCertificate = (certificate: KubeObject, signal: AbortSignal) => {
    createIfAbsent(store, CERTIFICATES, certificate).catch((err: unknown) => {
      if (signal.aborted) return;
      const missing = isMeshsignError(err, "ERR_NOT_FOUND");
      log.warn({ namespace: config.istioNamespace, err: missing ? undefined : err }, missing ? "istio namespace does not exist yet; istiod's certificate waits for it" : "cannot create istiod's certificate; retrying");
      setTimeout(() => ensureIstiodCertificate(certificate, signal), 30_000).unref();
    });
  };
  const follow = async () => {
    const e = engine;
    const t = trust;
    engine = undefined;
    trust = undefined;
    t?.stop();
    await e?.stop();
  };

  const identity = `${process.env.POD_NAME || hostname()}_${randomBytes(4).toString("hex")}`;
  const elector = new LeaderElector({
    store,
    namespace: config.leaderElectionNamespace,
    name: "meshsign-leader",
    identity,
    onStartedLeading: (signal) => {
      leading = true;
      log.info({ identity }, "became leader: running the engine and the distributors");
      lead(signal).catch((err: unknown) => {
        // A term already over has no Lease to give up (a later term may hold it).
        if (signal.aborted) return log.warn({ err }, "leader start failed after this term ended");
        log.error({ err }, "leader start failed; giving up the lease");
        // Campaign again after a retry period (not at once: the same failure would loop
        // on the API server), unless the process is shutting down meanwhile.
        void elector.stop({ release: true }).then(() => {
          setTimeout(() => {
            if (!closing) elector.start();
          }, DEFAULT_RETRY_PERIOD_MS).unref();
        });
      });
    },
    onStoppedLeading: () => {
      leading = false;
      log.info({ identity }, "stopped leading");
      stopping = follow();
    },
    onNewLeader: (leader) => log.info({ leader }, "leader observed"),
    onError: (err) => log.warn({ err }, "leader election API call failed"),
  });
  elector.start();

  const control: CertificateControl = {
    list: (ns) => active().list(ns),
    listIssuers: (ns) => active().listIssuers(ns),
    describe: (ns, name) => active().describe(ns, name),
    renew: (ns, name) => active().renew(ns, name),
    inspectSecret: (ns, name) => active().inspectSecret(ns, name),
    inspectOrder: (ns, name) => active().inspectOrder(ns, name),
    listLeftoverDns01Records: (ns) => active().listLeftoverDns01Records(ns),
  };
  const active = (): CertificateControl => {
    if (!engine) throw new MeshsignError("ERR_NOT_FOUND", "this replica is not the leader; ask the leader's admin API");
    return engine.control;
  };
  return {
    control,
    store,
    setRoots: (pem) => void roots.set(pem),
    isLeader: () => leading,
    // A follower is ready: it serves CreateCertificate; the leader is ready once its engine runs.
    ready: () => !leading || engine !== undefined,
    stop: async () => {
      closing = true;
      await elector.stop({ release: true });
      await (stopping ?? follow());
      await solver?.stop();
      await store.close();
    },
  };
}

