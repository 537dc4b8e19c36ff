/**
 * Publishes the mesh roots as ConfigMap `istio-ca-root-cert` (key
 * `root-cert.pem`, label `istio.io/config=true`) in every namespace that
 * matches a label selector, where istio-agent and istiod read them
 * (istio-csr `pkg/controller/configmap.go`, reference §2.5):
 * - created for every selected namespace, including ones created later;
 * - repaired when edited: wrong data updated, any extra key removed, the
 *   label restored (other labels kept);
 * - re-published everywhere when the roots change (a rotation publishes
 *   old + new roots as one bundle);
 * - terminating namespaces are skipped; ConfigMaps are never deleted.
 * Only the leader runs it. Reads bypass any cache (store.get).
 */
import { EVERYTHING, type LabelSelector, labelSelectorFromSet } from "../api/label-selector.js";
import { CONFIGMAPS, type ConfigMap, NAMESPACES, type Namespace } from "../api/types.js";
import { isMeshsignError } from "../errors/index.js";
import type { Store, Watch } from "../store/types.js";
import { planRootConfigMap, type RootConfigMapPlan } from "./lib/root-configmap-plan.js";
import { WorkQueue } from "./lib/work-queue.js";
import type { RootsSource } from "./roots-source.js";

export const ROOT_CERT_CONFIGMAP = "istio-ca-root-cert";
export const ROOT_CERT_KEY = "root-cert.pem";
export const ISTIO_CONFIG_LABEL = "istio.io/config";
/** The ConfigMaps the distributor watches: its own, by their label. */
const LABELLED = labelSelectorFromSet({ [ISTIO_CONFIG_LABEL]: "true" });
const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 30_000;

export interface RootConfigMapOptions {
  readonly store: Store;
  readonly roots: RootsSource;
  /** Label selector of the namespaces (istio-csr `--configmap-namespace-selector`); default: all. */
  readonly namespaceSelector?: LabelSelector;
  /** Istio's PILOT_CA_CERT_CONFIGMAP; default istio-ca-root-cert. */
  readonly configMapName?: string;
  /** A namespace's reconcile failed; it is retried with back-off. */
  readonly onError?: (namespace: string, err: unknown) => void;
  /** A ConfigMap was created or repaired (for logs, metrics and tests). */
  readonly onChanged?: (namespace: string, action: "create" | "update") => void;
}

export class RootConfigMapDistributor {
  readonly #opts: RootConfigMapOptions;
  readonly #name: string;
  readonly #selector: LabelSelector;
  readonly #queue: WorkQueue;
  /** Selected namespaces, as the namespace watch last reported them. */
  readonly #namespaces = new Set<string>();
  #watches: Watch[] = [];
  #unsubscribe: (() => void) | undefined;

  constructor(options: RootConfigMapOptions) {
    this.#opts = options;
    this.#name = options.configMapName ?? ROOT_CERT_CONFIGMAP;
    this.#selector = options.namespaceSelector ?? EVERYTHING;
    this.#queue = new WorkQueue((ns) => this.reconcile(ns).then(() => undefined), {
      retryMinMs: RETRY_MIN_MS,
      retryMaxMs: RETRY_MAX_MS,
      onError: (ns, err) => options.onError?.(ns, err),
    });
  }

  /** Starts watching; resolves once both watches delivered their initial objects. */
  async start(): Promise<void> {
    const { store, roots } = this.#opts;
    this.#unsubscribe = roots.subscribe(() => {
      for (const ns of this.#namespaces) this.#queue.add(ns);
    });
    const namespaces = store.watch<Namespace>(
      NAMESPACES,
      (e) => {
        const name = e.object.metadata.name ?? "";
        if (e.type === "DELETED") {
          this.#namespaces.delete(name);
          return;
        }
        this.#namespaces.add(name);
        this.#queue.add(name);
      },
      { labelSelector: this.#selector },
    );
    // Only labelled ConfigMaps are watched: an edit that drops the label
    // arrives as DELETED and is repaired like any other change.
    const configMaps = store.watch<ConfigMap>(
      CONFIGMAPS,
      (e) => {
        const ns = e.object.metadata.namespace ?? "";
        if (e.object.metadata.name === this.#name && this.#namespaces.has(ns)) this.#queue.add(ns);
      },
      { labelSelector: LABELLED },
    );
    this.#watches = [namespaces, configMaps];
    await Promise.all(this.#watches.map((w) => w.synced));
  }

  /** Resolves when no reconcile is queued or running. */
  idle(): Promise<void> {
    return this.#queue.idle();
  }

  stop(): void {
    this.#unsubscribe?.();
    for (const w of this.#watches) w.stop();
    this.#watches = [];
    this.#queue.stop();
  }

  /**
   * Brings one namespace's ConfigMap to the wanted state. Conflicts and races
   * (created meanwhile, changed meanwhile) are thrown so the queue retries
   * with a fresh read.
   */
  async reconcile(namespace: string): Promise<RootConfigMapPlan> {
    const { store, roots } = this.#opts;
    const [ns, cm] = await Promise.all([
      store.get<Namespace>(NAMESPACES, undefined, namespace),
      store.get<ConfigMap>(CONFIGMAPS, namespace, this.#name).catch((err: unknown) => {
        // Reading in a namespace that vanished meanwhile: treat as absent, the namespace check decides.
        if (isMeshsignError(err, "ERR_NOT_FOUND")) return undefined;
        throw err;
      }),
    ]);
    const plan = planRootConfigMap({
      namespace: ns,
      configMap: cm,
      roots: roots.current(),
      selector: this.#selector,
      name: this.#name,
      key: ROOT_CERT_KEY,
      label: [ISTIO_CONFIG_LABEL, "true"],
    });
    if (plan.action === "create") {
      await store.create(CONFIGMAPS, plan.configMap);
      this.#opts.onChanged?.(namespace, "create");
    } else if (plan.action === "update") {
      await store.update(CONFIGMAPS, plan.configMap);
      this.#opts.onChanged?.(namespace, "update");
    }
    return plan;
  }
}
