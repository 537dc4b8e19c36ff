/**
 * The Certificate engine: watches Certificates, CertificateRequests, Secrets
 * and Issuers on one {@link Store}, and drives each Certificate through
 * {@link CertificateReconciler} on a deadline queue. It never knows whether
 * the store is the embedded one or Kubernetes.
 */
import type { Registry } from "prom-client";
import { MeshsignError, toMeshsignError } from "../errors/index.js";
import { createDefaultIssuerRegistry, issuerKey, type IssuerRegistry } from "../issuers/registry.js";
import { IndexMap, StringInterner } from "../store/memory/index.js";
import type { Store, Watch, WatchEvent } from "../store/types.js";
import { type BackoffOptions, DEFAULT_TRANSIENT_BACKOFF } from "./backoff.js";
import { type Clock, type RandomSource, systemClock, systemRandom } from "./clock.js";
import { type EventLog, type EventRecorder, noopEventRecorder, StoreEventRecorder } from "./events.js";
import { CRASH_AT_ENV, withCrashHook } from "./crash-hook.js";
import { AcmeControllers, type AcmeOptions } from "./acme/index.js";
import { IssuerController } from "./issuer-controller.js";
import { ANN } from "./lib/annotations.js";
import { LogLimiter } from "./lib/log-limiter.js";
import { type CertificateDigest, changedFromOutside, digestCertificate } from "./lib/certificate-digest.js";
import { CERTIFICATE_REQUESTS, CERTIFICATES, type Certificate, type CertificateRequest, CLUSTER_ISSUERS, type Condition, EVENTS, type EventResource, ISSUERS, type IssuerResource, SECRETS, type Secret } from "./lib/api.js";
import { getCondition, setCondition } from "./lib/conditions.js";
import { b64decode, requestRevision } from "./lib/requests.js";
import { resolveIssuerRef } from "./lib/spec.js";
import { certInfo, splitPemChain } from "./lib/x509-info.js";
import { describeKey, privateKeyFacts } from "./keys.js";
import { engineMetricsFor } from "./metrics.js";
import { CertificateReconciler } from "./reconciler.js";
import { REASON } from "./reasons.js";
import { DEFAULT_CONCURRENCY, Scheduler } from "./scheduler.js";
import type { SecretSink } from "./secret-files.js";

export interface EngineOptions {
  readonly store: Store;
  /** Issuer backends; default: CA and SelfSigned, ClusterIssuer secrets in `meshsign-system`. */
  readonly registry?: IssuerRegistry;
  readonly clock?: Clock;
  /** Jitter source for renewal deadlines. */
  readonly random?: RandomSource;
  /** Where metrics are registered; none when absent. */
  readonly metricsRegistry?: Registry;
  /**
   * Event sink; default writes Events to the store (what Kubernetes mode wants). A recorder with a
   * `list` ({@link MemoryEventRecorder}) is also where `describe` reads them. `false` disables events.
   */
  readonly events?: EventRecorder | false;
  /** Standalone file output of written Secrets. */
  readonly secretSink?: SecretSink;
  /** Certificates reconciled at once. Default 32. */
  readonly concurrency?: number;
  /**
   * Private keys generated at once (libuv's thread pool; RSA 4096 takes a second or more). Default 2:
   * the pool's other threads stay free for the store's fsyncs and the file sink.
   */
  readonly keyGenerationConcurrency?: number;
  /** Back-off after a rejected issuance. Default 1h doubling to 32h. */
  readonly issuanceBackoff?: BackoffOptions;
  /** Retry schedule of a request whose issuer failed transiently. Default 5s doubling to 5min. */
  readonly transientBackoff?: BackoffOptions;
  /**
   * Receives reconcile errors (for the log), at most one per Certificate and error per minute
   * (see {@link EngineOptions.onFailure}). Messages are safe; `cause` may carry detail.
   */
  readonly onError?: (key: string, err: unknown) => void;
  /**
   * Receives every failure, rate-limited: a failed issuance (Issuing=False, retried after the
   * issuance back-off) and a reconcile that threw (a store write refused, say; retried after the
   * transient back-off). At most one call per Certificate and reason per minute and about five a
   * second overall; `suppressed` counts the repeats left out since the last call.
   */
  readonly onFailure?: (failure: EngineFailure) => void;
  /**
   * Which Certificates this engine reconciles (to coexist with an installed
   * cert-manager). A Certificate that does not match is left alone entirely:
   * never reconciled, its requests and Secret untouched. Default: all.
   */
  readonly selectCertificate?: (certificate: Certificate) => boolean;
  /** ACME Orders and Challenges: challenge concurrency, order deadline, self-check, DNS-01 propagation. */
  readonly acme?: AcmeOptions;
}

/** One failure of one Certificate, for the log (never key material or tokens). */
export interface EngineFailure {
  /** "<namespace>/<name>" of the Certificate. */
  readonly certificate: string;
  /**
   * `issuance`: the issuance failed and waits for the issuance back-off; `reconcile`: a step threw;
   * `throttled`: an automatic re-issuance waits for the per-Certificate limit (five an hour after five in a row).
   */
  readonly kind: "issuance" | "reconcile" | "throttled";
  /** The Issuing condition's reason, or the error code of a reconcile that threw. */
  readonly reason: string;
  /** Safe to show. */
  readonly message: string;
  /** Consecutive failed issuances, for `issuance` failures. */
  readonly failedIssuanceAttempts?: number;
  /** When the engine tries again (ISO 8601). */
  readonly retryAt?: string;
  /** Repeats of this failure not reported since the last call (rate limit). */
  readonly suppressed: number;
  /** The error of a `reconcile` failure; its `cause` may carry detail for the log. */
  readonly err?: unknown;
}

/** One row of `meshsign status` / the admin API list. */
export interface CertificateSummary {
  readonly namespace: string;
  readonly name: string;
  readonly secretName: string;
  readonly issuer: string;
  readonly ready: string;
  readonly reason: string;
  readonly notAfter?: string;
  readonly renewalTime?: string;
  /** For the AGE column of `meshsign status`. */
  readonly creationTimestamp?: string;
}

/** One row of `meshsign status issuers`: an Issuer or ClusterIssuer and its Ready condition. */
export interface IssuerSummary {
  readonly kind: "Issuer" | "ClusterIssuer";
  /** Empty for a ClusterIssuer. */
  readonly namespace: string;
  readonly name: string;
  /** The configured backend (`ca`, `selfSigned`, `vault`, `acme`, ...), or "" when none is set. */
  readonly type: string;
  readonly ready: string;
  readonly reason: string;
  readonly message: string;
  readonly creationTimestamp?: string;
}

export interface CertificateDescription extends CertificateSummary {
  readonly conditions: readonly Condition[];
  readonly notBefore?: string;
  readonly revision?: number;
  readonly failedIssuanceAttempts?: number;
  readonly lastFailureTime?: string;
  /** When the engine will next look at this Certificate (renewal, retry, expiry). */
  readonly nextCheck?: string;
  readonly lastRequest?: { name: string; revision?: number; conditions: readonly Condition[]; failureTime?: string };
  readonly events: readonly { type: string; reason: string; message: string; count: number; lastTimestamp: string; object: string }[];
}

export interface CertificateInfoJson {
  readonly subject: string;
  readonly issuer: string;
  readonly serialNumber: string;
  readonly notBefore: string;
  readonly notAfter: string;
  readonly isCA: boolean;
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
  readonly uris: readonly string[];
  readonly emailAddresses: readonly string[];
  readonly publicKeyAlgorithm: string;
  readonly fingerprintSha256: string;
}

export interface SecretInspection {
  readonly namespace: string;
  readonly name: string;
  readonly type: string;
  readonly keys: readonly string[];
  readonly annotations: Readonly<Record<string, string>>;
  readonly certificates: readonly CertificateInfoJson[];
  readonly ca: readonly CertificateInfoJson[];
  /** Facts about tls.key; the key itself is never returned. */
  readonly privateKey: { readonly present: boolean; readonly algorithm?: string; readonly matchesCertificate?: boolean };
}

const keyOf = (ns: string | undefined, name: string | undefined): string => `${ns ?? ""}/${name ?? ""}`;

export class Engine {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #registry: IssuerRegistry;
  readonly #events: EventRecorder;
  readonly #scheduler: Scheduler;
  readonly #reconciler: CertificateReconciler;
  readonly #issuers: IssuerController;
  readonly #acme: AcmeControllers;
  readonly #watches: Watch[] = [];
  /** "<ns>/<name>" -> what the indexes and change detection need of each watched Certificate. */
  readonly #certs = new Map<string, WatchedCertificate>();
  /** "<ns>/<secretName>" -> certificate keys. */
  readonly #bySecret = new IndexMap();
  /** issuer key -> certificate keys. */
  readonly #byIssuer = new IndexMap();
  /** "<ns>/<certName>" -> request names. */
  readonly #requests = new IndexMap();
  /** One instance of each namespace and issuer key (a handful of values, repeated by 10,000s of Certificates). */
  readonly #sharedStrings = new StringInterner();
  #started = false;
  /** One failure line per Certificate and reason per minute (onFailure, onError). */
  readonly #logLimiter: LogLimiter;
  readonly #select: ((certificate: Certificate) => boolean) | undefined;

  constructor(options: EngineOptions) {
    this.#store = options.store;
    this.#select = options.selectCertificate;
    this.#clock = options.clock ?? systemClock;
    this.#logLimiter = new LogLimiter({ clock: this.#clock });
    this.#registry = options.registry ?? createDefaultIssuerRegistry({ now: () => this.#clock.now() });
    this.#events =
      options.events === false
        ? noopEventRecorder
        : (options.events ?? new StoreEventRecorder({ store: options.store, clock: this.#clock }));
    const metrics = options.metricsRegistry === undefined ? undefined : engineMetricsFor(options.metricsRegistry);
    // The crash tests' hook (crash-hook.ts): the same store and sink unless MESHSIGN_TEST_CRASH_AT is set.
    const issuance = withCrashHook(process.env[CRASH_AT_ENV], this.#store, options.secretSink);
    this.#reconciler = new CertificateReconciler({
      store: issuance.store,
      clock: this.#clock,
      random: options.random ?? systemRandom,
      registry: this.#registry,
      events: this.#events,
      metrics,
      sink: issuance.sink,
      ...(options.issuanceBackoff ? { issuanceBackoff: options.issuanceBackoff } : {}),
      ...(options.transientBackoff ? { transientBackoff: options.transientBackoff } : {}),
      ...(options.keyGenerationConcurrency ? { keyGenerationConcurrency: options.keyGenerationConcurrency } : {}),
      onIssuanceFailure: (cert, reason, message, attempts, retryAtMs) => {
        const key = keyOf(cert.metadata.namespace, cert.metadata.name);
        const allowed = this.#logLimiter.allow(`${key}\u0000${reason}`);
        if (allowed === undefined) return;
        options.onFailure?.({ certificate: key, kind: "issuance", reason, message, failedIssuanceAttempts: attempts, ...(retryAtMs !== undefined ? { retryAt: new Date(retryAtMs).toISOString() } : {}), suppressed: allowed.suppressed });
      },
      onReissueLimited: (cert, reason, message, retryAtMs) => {
        const key = keyOf(cert.metadata.namespace, cert.metadata.name);
        const allowed = this.#logLimiter.allow(`${key}\u0000${reason}`);
        if (allowed === undefined) return;
        options.onFailure?.({ certificate: key, kind: "throttled", reason, message, retryAt: new Date(retryAtMs).toISOString(), suppressed: allowed.suppressed });
      },
      requestNames: (ns, cert) => this.#requests.get(keyOf(ns, cert)),
      noteRequest: (ns, cert, name, present) => this.#noteRequest(keyOf(ns, cert), name, present),
      certificatesForSecret: (ns, secret) =>
        this.#bySecret.get(keyOf(ns, secret)).map((k) => this.#certs.get(k)).filter((c): c is WatchedCertificate => c !== undefined),
    });
    this.#scheduler = new Scheduler({
      clock: this.#clock,
      concurrency: options.concurrency ?? DEFAULT_CONCURRENCY,
      // A reconcile that throws (a store write refused, a conflict) is retried 5 s doubling to 5 min,
      // as cert-manager's CertificateRequest controllers: never a tight loop.
      errorBackoff: options.transientBackoff ?? DEFAULT_TRANSIENT_BACKOFF,
      handler: (key) => {
        const slash = key.indexOf("/");
        return this.#reconciler.reconcile(key.slice(0, slash), key.slice(slash + 1));
      },
      onError: (key, err) => this.#reportError(key, err, options),
    });
    this.#acme = new AcmeControllers({
      store: this.#store,
      clock: this.#clock,
      registry: this.#registry,
      events: this.#events,
      ...(options.acme ?? {}),
      onOrderChanged: (ns, cert) => this.#scheduler.enqueue(keyOf(ns, cert)),
      onError: (key, err) => this.#reportError(key, err, options),
    });
    metrics?.trackAcme(() => this.#acme.stateCounts());
    this.#issuers = new IssuerController({
      store: this.#store,
      registry: this.#registry,
      clock: this.#clock,
      events: this.#events,
      services: { acmeOrders: this.#acme.signer },
      onChange: (key) => {
        for (const c of this.#byIssuer.get(key)) this.#scheduler.enqueue(c);
        this.#acme.issuerChanged();
      },
      ...(options.onError ? { onError: (err: unknown) => options.onError?.("issuers", err) } : {}),
    });
  }

  /** The HTTP-01 solver listener answered for `token` (see AcmeOptions.http01ServedSignals). */
  noteHttp01Served(token: string): void {
    this.#acme.noteHttp01Served(token);
  }

  /** The issuer registry the engine signs through (shared with the CSR service). */
  get registry(): IssuerRegistry {
    return this.#registry;
  }

  /** Starts watching and reconciling; resolves once every existing object was seen. */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    if (this.#events instanceof StoreEventRecorder) await this.#events.start();
    await this.#issuers.start();
    await this.#acme.start();
    const requests = this.#store.watch<CertificateRequest>(CERTIFICATE_REQUESTS, (e) => this.#onRequest(e));
    const secrets = this.#store.watch<Secret>(SECRETS, (e) => {
      for (const k of this.#bySecret.get(keyOf(e.object.metadata.namespace, e.object.metadata.name))) this.#scheduler.enqueue(k);
    });
    this.#watches.push(requests, secrets);
    await Promise.all([requests.synced, secrets.synced]);
    const certs = this.#store.watch<Certificate>(CERTIFICATES, (e) => this.#onCertificate(e));
    this.#watches.push(certs);
    await certs.synced;
    this.#scheduler.start();
  }

  /** Stops watching and waits for reconciles in flight. Pending requests stay Pending in the store and resume on the next start. */
  async stop(): Promise<void> {
    if (!this.#started) return;
    this.#started = false;
    for (const w of this.#watches.splice(0)) w.stop();
    this.#issuers.stop();
    await this.#scheduler.stop();
    await this.#acme.stop();
    await this.#issuers.settled();
    if (this.#events instanceof StoreEventRecorder) {
      await this.#events.flush();
      this.#events.stop();
    }
  }

  /** Resolves when no reconcile is running or due now (tests, benchmarks). */
  async idle(): Promise<void> {
    // Reconciles cause watch events that queue more work: settle until a full pass finds nothing to do.
    for (;;) {
      await this.#issuers.settled();
      await this.#scheduler.idle();
      await this.#acme.idle();
      if (this.#events instanceof StoreEventRecorder) await this.#events.flush();
      await new Promise((r) => setImmediate(r));
      if (!this.#scheduler.busy && !this.#issuers.busy && !this.#acme.busy) return;
    }
  }

  /** Manual renewal (`meshsign renew`, cmctl renew): Issuing=True ManuallyTriggered, bypassing back-off. */
  async renew(namespace: string, name: string): Promise<void> {
    const cert = await this.#store.get<Certificate>(CERTIFICATES, namespace, name);
    if (cert === undefined) throw new MeshsignError("ERR_NOT_FOUND", `Certificate ${namespace}/${name} not found`);
    if (this.#select !== undefined && !this.#select(cert)) {
      throw new MeshsignError("ERR_NOT_FOUND", `Certificate ${namespace}/${name} is not managed by this meshsign (--certificate-selector, --certificate-issuer-groups)`);
    }
    if (getCondition(cert.status?.conditions, "Issuing")?.status === "True") return;
    const now = new Date(this.#clock.now()).toISOString().replace(/\.\d{3}Z$/, "Z");
    await this.#store.updateStatus<Certificate>(CERTIFICATES, {
      ...cert,
      status: {
        ...cert.status,
        conditions: setCondition(cert.status?.conditions, { type: "Issuing", status: "True", reason: REASON.manuallyTriggered, message: "Certificate re-issuance manually triggered", ...(cert.metadata.generation !== undefined ? { observedGeneration: cert.metadata.generation } : {}) }, now),
      },
    });
    this.#scheduler.enqueue(keyOf(namespace, name));
  }

  async list(namespace?: string): Promise<CertificateSummary[]> {
    const certs = await this.#store.list<Certificate>(CERTIFICATES, namespace === undefined ? {} : { namespace });
    return certs.filter((c) => this.#select === undefined || this.#select(c)).map((c) => summarize(c)).sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
  }

  /** Every ClusterIssuer (unless a namespace is asked for) and the Issuers of `namespace` (all when absent), with their Ready condition. */
  async listIssuers(namespace?: string): Promise<IssuerSummary[]> {
    const [clusterIssuers, issuers] = await Promise.all([
      namespace === undefined ? this.#store.list<IssuerResource>(CLUSTER_ISSUERS) : Promise.resolve([]),
      this.#store.list<IssuerResource>(ISSUERS, namespace === undefined ? {} : { namespace }),
    ]);
    const rows = [...clusterIssuers.map((i) => summarizeIssuer(i, "ClusterIssuer")), ...issuers.map((i) => summarizeIssuer(i, "Issuer"))];
    return rows.sort((a, b) => a.kind.localeCompare(b.kind) || a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
  }

  async describe(namespace: string, name: string): Promise<CertificateDescription> {
    const cert = await this.#store.get<Certificate>(CERTIFICATES, namespace, name);
    if (cert === undefined) throw new MeshsignError("ERR_NOT_FOUND", `Certificate ${namespace}/${name} not found`);
    const names = this.#requests.get(keyOf(namespace, name));
    const requests = (await Promise.all(names.map((n) => this.#store.get<CertificateRequest>(CERTIFICATE_REQUESTS, namespace, n)))).filter((r): r is CertificateRequest => r !== undefined);
    const last = requests.sort((a, b) => (requestRevision(b) ?? 0) - (requestRevision(a) ?? 0))[0];
    const involved = new Set([name, ...names]);
    const recorded = isEventLog(this.#events) ? this.#events.list(namespace) : await this.#store.list<EventResource>(EVENTS, { namespace });
    const events = recorded
      .filter((e) => involved.has(e.involvedObject.name) && (e.involvedObject.kind === "Certificate" || e.involvedObject.kind === "CertificateRequest"))
      .sort((a, b) => a.lastTimestamp.localeCompare(b.lastTimestamp))
      .slice(-20)
      .map((e) => ({ type: e.type, reason: e.reason, message: e.message, count: e.count, lastTimestamp: e.lastTimestamp, object: `${e.involvedObject.kind}/${e.involvedObject.name}` }));
    const deadline = this.#scheduler.deadlineOf(keyOf(namespace, name));
    const s = cert.status ?? {};
    return {
      ...summarize(cert),
      conditions: s.conditions ?? [],
      ...(s.notBefore !== undefined ? { notBefore: s.notBefore } : {}),
      ...(s.revision !== undefined ? { revision: s.revision } : {}),
      ...(s.failedIssuanceAttempts !== undefined ? { failedIssuanceAttempts: s.failedIssuanceAttempts } : {}),
      ...(s.lastFailureTime !== undefined ? { lastFailureTime: s.lastFailureTime } : {}),
      ...(deadline !== undefined ? { nextCheck: new Date(deadline).toISOString() } : {}),
      ...(last !== undefined
        ? {
            lastRequest: {
              name: last.metadata.name ?? "",
              ...(requestRevision(last) !== undefined ? { revision: requestRevision(last) } : {}),
              conditions: last.status?.conditions ?? [],
              ...(last.status?.failureTime !== undefined ? { failureTime: last.status.failureTime } : {}),
            },
          }
        : {}),
      events,
    };
  }

  /** Decoded certificate facts of a Secret; never returns the private key. */
  async inspectSecret(namespace: string, name: string): Promise<SecretInspection> {
    const secret = await this.#store.get<Secret>(SECRETS, namespace, name);
    if (secret === undefined) throw new MeshsignError("ERR_NOT_FOUND", `Secret ${namespace}/${name} not found`);
    const chain = splitPemChain(b64decode(secret.data?.["tls.crt"]));
    const certificates = chain.flatMap((pem) => infoJson(pem));
    const ca = splitPemChain(b64decode(secret.data?.["ca.crt"])).flatMap((pem) => infoJson(pem));
    const keyPem = b64decode(secret.data?.["tls.key"]);
    const key = keyPem === "" ? undefined : privateKeyFacts(keyPem);
    let matches: boolean | undefined;
    if (key !== undefined && chain[0] !== undefined) {
      try {
        matches = certInfo(chain[0]).spki.equals(key.spki);
      } catch {
        matches = false;
      }
    }
    const annotations: Record<string, string> = {};
    for (const [k, v] of Object.entries(secret.metadata.annotations ?? {})) if (k.startsWith("cert-manager.io/")) annotations[k] = v;
    return {
      namespace,
      name,
      type: secret.type ?? "Opaque",
      keys: Object.keys(secret.data ?? {}).sort(),
      annotations,
      certificates,
      ca,
      privateKey: { present: keyPem !== "", ...(key !== undefined ? { algorithm: describeKey(key) } : {}), ...(matches !== undefined ? { matchesCertificate: matches } : {}) },
    };
  }

  #reportError(key: string, err: unknown, options: EngineOptions): void {
    const e = toMeshsignError(err);
    const allowed = this.#logLimiter.allow(`${key}\u0000${e.code}`);
    if (allowed === undefined) return;
    options.onError?.(key, err);
    const retryAt = this.#scheduler.deadlineOf(key);
    options.onFailure?.({
      certificate: key,
      kind: "reconcile",
      reason: e.code,
      message: e.code === "ERR_INTERNAL" ? "internal error" : e.message,
      ...(retryAt !== undefined ? { retryAt: new Date(retryAt).toISOString() } : {}),
      suppressed: allowed.suppressed,
      err,
    });
  }

  #onCertificate(e: WatchEvent<Certificate>): void {
    const c = e.object;
    const key = keyOf(c.metadata.namespace, c.metadata.name);
    const prev = this.#certs.get(key);
    this.#unindex(key, prev);
    if (e.type !== "DELETED" && this.#select !== undefined && !this.#select(c)) {
      // Someone else's Certificate (or one that stopped matching): forget it without cleaning anything up.
      this.#certs.delete(key);
      return;
    }
    if (e.type === "DELETED") {
      this.#certs.delete(key);
      this.#scheduler.enqueue(key);
      return;
    }
    const digest = digestCertificate(c);
    const next: WatchedCertificate = {
      ...digest,
      namespace: this.#sharedStrings.string(digest.namespace),
      issuerKey: this.#sharedStrings.string(issuerKeyOf(c)),
    };
    this.#certs.set(key, next);
    this.#index(key, next);
    // Our own status writes come back as events; only changes someone else made need a reconcile.
    if (prev !== undefined && !changedFromOutside(prev, next)) return;
    this.#scheduler.enqueue(key);
  }

  #onRequest(e: WatchEvent<CertificateRequest>): void {
    const r = e.object;
    const cert = r.metadata.annotations?.[ANN.certificateName] ?? r.metadata.ownerReferences?.find((o) => o.kind === "Certificate")?.name;
    if (cert === undefined) return;
    const certKey = keyOf(r.metadata.namespace, cert);
    this.#noteRequest(certKey, r.metadata.name ?? "", e.type !== "DELETED");
    // An external approver may deny a request; react to that (our own writes never set Denied).
    if (e.type === "MODIFIED" && getCondition(r.status?.conditions, "Denied")?.status === "True") this.#scheduler.enqueue(certKey);
  }

  #noteRequest(certKey: string, name: string, present: boolean): void {
    if (present) this.#requests.add(certKey, name);
    else this.#requests.delete(certKey, name);
  }

  #index(key: string, c: WatchedCertificate): void {
    this.#bySecret.add(keyOf(c.namespace, c.secretName), key);
    this.#byIssuer.add(c.issuerKey, key);
  }

  #unindex(key: string, c: WatchedCertificate | undefined): void {
    if (c === undefined) return;
    this.#bySecret.delete(keyOf(c.namespace, c.secretName), key);
    this.#byIssuer.delete(c.issuerKey, key);
  }
}

interface WatchedCertificate extends CertificateDigest {
  readonly issuerKey: string;
}

function isEventLog(r: EventRecorder): r is EventLog {
  return typeof (r as Partial<EventLog>).list === "function";
}

function issuerKeyOf(c: Certificate): string {
  const ref = resolveIssuerRef(c.spec.issuerRef);
  return issuerKey(ref.kind === "ClusterIssuer" ? "ClusterIssuer" : "Issuer", c.metadata.namespace, ref.name);
}

function summarizeIssuer(i: IssuerResource, kind: IssuerSummary["kind"]): IssuerSummary {
  const ready = getCondition(i.status?.conditions, "Ready");
  return {
    kind,
    namespace: kind === "Issuer" ? (i.metadata.namespace ?? "") : "",
    name: i.metadata.name ?? "",
    type: Object.keys(i.spec ?? {}).find((k) => k !== "caBundle") ?? "",
    ready: ready?.status ?? "Unknown",
    reason: ready?.reason ?? "",
    message: ready?.message ?? "",
    ...(i.metadata.creationTimestamp !== undefined ? { creationTimestamp: i.metadata.creationTimestamp } : {}),
  };
}

function summarize(c: Certificate): CertificateSummary {
  const ready = getCondition(c.status?.conditions, "Ready");
  const ref = resolveIssuerRef(c.spec.issuerRef);
  return {
    namespace: c.metadata.namespace ?? "",
    name: c.metadata.name ?? "",
    secretName: c.spec.secretName,
    issuer: `${ref.kind}/${ref.name}`,
    ready: ready?.status ?? "Unknown",
    reason: ready?.reason ?? "",
    ...(c.status?.notAfter !== undefined ? { notAfter: c.status.notAfter } : {}),
    ...(c.status?.renewalTime !== undefined ? { renewalTime: c.status.renewalTime } : {}),
    ...(c.metadata.creationTimestamp !== undefined ? { creationTimestamp: c.metadata.creationTimestamp } : {}),
  };
}

function infoJson(pem: string): CertificateInfoJson[] {
  try {
    const i = certInfo(pem);
    return [
      {
        subject: i.subjectString,
        issuer: i.issuerString,
        serialNumber: i.serialHex,
        notBefore: new Date(i.notBeforeMs).toISOString(),
        notAfter: new Date(i.notAfterMs).toISOString(),
        isCA: i.isCA,
        dnsNames: i.dnsNames,
        ipAddresses: i.ipAddresses,
        uris: i.uris,
        emailAddresses: i.emailAddresses,
        publicKeyAlgorithm: i.keyAlgorithm,
        fingerprintSha256: i.fingerprintSha256,
      },
    ];
  } catch {
    return [];
  }
}
