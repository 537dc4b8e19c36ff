/**
 * Keeps one live {@link Issuer} per Issuer/ClusterIssuer resource in the
 * registry, rebuilt when the resource or a Secret it reads changes (or after
 * the delay a backend asks for following a transient failure), and writes
 * its `status.conditions` Ready (cert-manager reasons such as
 * KeyPairVerified / ErrGetKeyPair / ACMEAccountRegistered) and, for ACME
 * issuers, `status.acme`. A backend whose readiness changes on its own
 * (Vault sealed, then unsealed) reports it through `watchStatus`, and the
 * condition follows without a rebuild.
 */
import type { Issuer, IssuerStatus } from "../issuers/issuer.js";
import type { IssuerRegistry, IssuerResourceKind, IssuerServices } from "../issuers/registry.js";
import { issuerKey } from "../issuers/registry.js";
import type { Store, Watch, WatchEvent } from "../store/types.js";
import type { Clock, Timer } from "./clock.js";
import type { EventRecorder } from "./events.js";
import { CLUSTER_ISSUERS, type Condition, ISSUERS, type IssuerResource, SECRETS, type Secret } from "./lib/api.js";

export interface IssuerControllerOptions {
  readonly store: Store;
  readonly registry: IssuerRegistry;
  readonly clock: Clock;
  readonly events?: EventRecorder;
  /** Called after an issuer instance was (re)built or removed, with its key. */
  readonly onChange?: (key: string) => void;
  readonly onError?: (err: unknown) => void;
  /** Lent to backends that keep state in the store (ACME Orders). */
  readonly services?: IssuerServices;
}

export class IssuerController {
  readonly #o: IssuerControllerOptions;
  readonly #watches: Watch[] = [];
  /** "<ns>/<secret>" -> issuer keys that read it. */
  readonly #secretIndex = new Map<string, Set<string>>();
  readonly #resources = new Map<string, IssuerResource>();
  /** Per-key build chain, so builds of one issuer never interleave. */
  readonly #chains = new Map<string, Promise<void>>();
  /** Rebuilds a backend asked for after a transient failure (an ACME server down). */
  readonly #retries = new Map<string, Timer>();
  /** The live instance per key and how to stop following its status. */
  readonly #live = new Map<string, { issuer: Issuer; unwatch?: () => void }>();

  constructor(options: IssuerControllerOptions) {
    this.#o = options;
  }

  /** Starts the watches; resolves once every existing issuer was built. */
  async start(): Promise<void> {
    const onIssuer = (kind: IssuerResourceKind) => (e: WatchEvent<IssuerResource>) => {
      const key = issuerKey(kind, e.object.metadata.namespace, e.object.metadata.name ?? "");
      if (e.type === "DELETED") {
        this.#resources.delete(key);
        this.#enqueue(key);
        return;
      }
      const prev = this.#resources.get(key);
      this.#resources.set(key, e.object);
      // Our own status writes come back as MODIFIED events; only a spec change needs a rebuild.
      if (prev !== undefined && JSON.stringify(prev.spec) === JSON.stringify(e.object.spec)) return;
      this.#enqueue(key);
    };
    const issuers = this.#o.store.watch<IssuerResource>(ISSUERS, onIssuer("Issuer"));
    const clusterIssuers = this.#o.store.watch<IssuerResource>(CLUSTER_ISSUERS, onIssuer("ClusterIssuer"));
    const secrets = this.#o.store.watch<Secret>(SECRETS, (e) => {
      const keys = this.#secretIndex.get(`${e.object.metadata.namespace ?? ""}/${e.object.metadata.name ?? ""}`);
      for (const key of keys ?? []) this.#enqueue(key);
    });
    this.#watches.push(issuers, clusterIssuers, secrets);
    await Promise.all([issuers.synced, clusterIssuers.synced, secrets.synced]);
    await this.settled();
  }

  stop(): void {
    for (const w of this.#watches.splice(0)) w.stop();
    for (const t of this.#retries.values()) t.cancel();
    this.#retries.clear();
    for (const key of [...this.#live.keys()]) this.#retire(key);
  }

  /** Stops following the instance of `key` and releases it. */
  #retire(key: string): void {
    const live = this.#live.get(key);
    this.#live.delete(key);
    live?.unwatch?.();
    live?.issuer.close?.();
  }

  get busy(): boolean {
    return this.#chains.size > 0;
  }

  /** Resolves when every queued build finished. */
  async settled(): Promise<void> {
    while (this.#chains.size > 0) await Promise.all([...this.#chains.values()]);
  }

  #enqueue(key: string, step: () => Promise<void> = () => this.#build(key)): void {
    const prev = this.#chains.get(key) ?? Promise.resolve();
    const next = prev
      .then(step)
      .catch((err) => this.#o.onError?.(err))
      .finally(() => {
        if (this.#chains.get(key) === next) this.#chains.delete(key);
      });
    this.#chains.set(key, next);
  }

  async #build(key: string): Promise<void> {
    this.#retries.get(key)?.cancel();
    this.#retries.delete(key);
    for (const set of this.#secretIndex.values()) set.delete(key);
    const resource = this.#resources.get(key);
    if (resource === undefined) {
      this.#retire(key);
      this.#o.registry.delete(key);
      this.#o.onChange?.(key);
      return;
    }
    const registry = this.#o.registry;
    const ns = registry.secretNamespaceOf(resource);
    const built = await registry.build(resource, async (name) => {
      const s = await this.#o.store.get<Secret>(SECRETS, ns, name);
      if (s === undefined) return undefined;
      const out: Record<string, string> = {};
      for (const [k, v] of Object.entries(s.data ?? {})) out[k] = Buffer.from(v, "base64").toString("utf8");
      return out;
    }, {
      createSecret: async (name, data, labels) => {
        const encoded: Record<string, string> = {};
        for (const [k, v] of Object.entries(data)) encoded[k] = Buffer.from(v, "utf8").toString("base64");
        await this.#o.store.create<Secret>(SECRETS, { apiVersion: "v1", kind: "Secret", type: "Opaque", metadata: { name, namespace: ns, labels: { ...labels } }, data: encoded });
      },
      ...(this.#o.services !== undefined ? { services: this.#o.services } : {}),
    });
    if (built.retryAfterMs !== undefined && this.#watches.length > 0) {
      this.#retries.set(key, this.#o.clock.setTimer(this.#o.clock.now() + built.retryAfterMs, () => {
        this.#retries.delete(key);
        this.#enqueue(key);
      }));
    }
    for (const name of built.secretNames) {
      const idx = `${ns}/${name}`;
      let set = this.#secretIndex.get(idx);
      if (set === undefined) {
        set = new Set();
        this.#secretIndex.set(idx, set);
      }
      set.add(key);
    }
    this.#retire(key);
    registry.set(key, built.issuer);
    const issuer = built.issuer;
    // Status changes of this instance go through the key's chain, so they never overtake a rebuild.
    const unwatch = issuer.watchStatus?.(() =>
      this.#enqueue(key, async () => {
        const current = this.#resources.get(key);
        if (current !== undefined && this.#live.get(key)?.issuer === issuer) await this.#writeStatus(current, issuer.status());
      }),
    );
    this.#live.set(key, { issuer, ...(unwatch !== undefined ? { unwatch } : {}) });
    await this.#writeStatus(resource, built.issuer.status());
    this.#o.onChange?.(key);
  }

  async #writeStatus(resource: IssuerResource, status: IssuerStatus): Promise<void> {
    const type = resource.kind === "ClusterIssuer" ? CLUSTER_ISSUERS : ISSUERS;
    const fresh = await this.#o.store.get<IssuerResource>(type, resource.metadata.namespace, resource.metadata.name ?? "");
    if (fresh === undefined) return;
    const conditions = fresh.status?.conditions ?? [];
    const current = conditions.find((c) => c.type === "Ready");
    const want: Condition["status"] = status.ready ? "True" : "False";
    // status.acme is kept once written (cert-manager keeps the last registered account while not ready).
    const acme = status.acme !== undefined ? { ...status.acme } : fresh.status?.acme;
    const conditionSame = current?.status === want && current.reason === status.reason && current.message === status.message && current.observedGeneration === fresh.metadata.generation;
    if (conditionSame && JSON.stringify(acme) === JSON.stringify(fresh.status?.acme)) return;
    const cond: Condition = {
      type: "Ready",
      status: want,
      reason: status.reason,
      message: status.message,
      lastTransitionTime: current?.status === want && current.lastTransitionTime !== undefined ? current.lastTransitionTime : new Date(this.#o.clock.now()).toISOString(),
      ...(fresh.metadata.generation !== undefined ? { observedGeneration: fresh.metadata.generation } : {}),
    };
    await this.#o.store.updateStatus<IssuerResource>(type, {
      ...fresh,
      status: { ...(fresh.status ?? {}), ...(acme !== undefined ? { acme } : {}), conditions: [...conditions.filter((c) => c.type !== "Ready"), cond] },
    });
    if (conditionSame) return;
    this.#o.events?.record(fresh, status.ready ? "Normal" : "Warning", status.reason, status.message);
  }
}
