/**
 * The certificate shims' controller: watches Ingresses, Gateway API Gateways
 * and ListenerSets, and Istio Gateways on a {@link Store} and keeps the Certificates their
 * annotations ask for (see desired.ts for what is asked). The same code runs
 * on the Kubernetes API server and on the embedded store fed by
 * `--manifests`.
 *
 * What it promises:
 * - Level-triggered and idempotent: each reconcile of a source compares the
 *   Certificates it wants with the ones it owns, creates the missing, updates
 *   the changed (only the fields a shim sets; other spec fields, status and
 *   foreign annotations are kept) and deletes the ones no longer wanted (a
 *   `tls` entry removed, the annotation removed, the source deleted); one a
 *   skipped part still names (a TLS entry that lost its hosts) is kept.
 * - It never touches a Certificate it does not own. A Certificate of the same
 *   name made by hand or by another source, or any other Certificate already
 *   writing the same Secret, is left alone and the source gets a Warning
 *   Event naming it: two writers of one Secret would re-issue each other's
 *   key for ever.
 * - A bad annotation refuses the whole source with a Warning Event and
 *   changes nothing (cert-manager's BadConfig); parts skipped (a TLS block
 *   without hosts, a listener without hostname) get one Warning each.
 * - A kind whose API is not served (Gateway API or Istio not installed) or
 *   not readable is skipped once at start with `onKindSkipped`, never an
 *   error: start-up goes on with the others.
 * - Certificates made in another namespace (Istio Gateways with
 *   `istioGatewaySecretNamespace`) have no ownerReference for the garbage
 *   collector to follow, so the shim deletes them itself: when the source's
 *   deletion is seen (keyed by its uid, so a source re-created at once under
 *   the same name does not cancel it), and at start for sources that went
 *   while no shim was running.
 * - A source being deleted (deletionTimestamp set) is left alone, as in
 *   cert-manager: nothing is made, changed or deleted for it.
 * Unlike cert-manager, removing the annotation deletes the Certificates the
 * shim made (cert-manager keeps them as orphans until the source goes).
 */
import * as A from "../../api/annotations.js";
import { CERTIFICATES, GATEWAYS, INGRESSES, ISTIO_GATEWAYS, LISTENER_SETS } from "../../api/types.js";
import { isMeshsignError } from "../../errors/index.js";
import type { ResourceType, Store, Watch, WatchEvent } from "../../store/types.js";
import { WorkQueue } from "../../trust/lib/work-queue.js";
import type { EventRecorder } from "../events.js";
import type { Certificate } from "../lib/api.js";
import { isOwnedBy, markedSource, planCertificates, shimOwnerOf } from "./desired.js";
import { describeKind, type ShimOptions, type ShimSource, shimSourceKind } from "./types.js";

/** The kinds a shim reads, in the order they are started. */
export const SHIM_SOURCE_TYPES: readonly ResourceType[] = [
  INGRESSES,
  GATEWAYS,
  LISTENER_SETS,
  ISTIO_GATEWAYS,
];

/** Event reasons on the source, as cert-manager's shims write them (plus the conflict meshsign names). */
export const SHIM_REASON = {
  badConfig: "BadConfig",
  createCertificate: "CreateCertificate",
  updateCertificate: "UpdateCertificate",
  deleteCertificate: "DeleteCertificate",
  conflict: "CertificateConflict",
} as const;

const RETRY_MIN_MS = 1_000;
const RETRY_MAX_MS = 5 * 60_000;
/** The spec fields a shim sets; on update these are replaced and every other field is kept. */
const SHIM_SPEC_FIELDS = [
  "secretName",
  "issuerRef",
  "dnsNames",
  "ipAddresses",
  "usages",
  "commonName",
  "emailAddresses",
  "subject",
  "duration",
  "renewBefore",
  "renewBeforePercentage",
  "revisionHistoryLimit",
  "privateKey",
  "secretTemplate",
] as const;

/** Certificate annotations a shim sets from the source's ACME HTTP-01 hints, and removes with them. */
const SHIM_HINT_ANNOTATIONS = [
  A.ACME_HTTP01_OVERRIDE_INGRESS_NAME,
  A.ACME_HTTP01_OVERRIDE_INGRESS_CLASS,
  A.ACME_HTTP01_OVERRIDE_INGRESS_CLASS_NAME,
] as const;

export interface ShimControllerOptions {
  readonly store: Store;
  readonly options: ShimOptions;
  /** Events on the sources (what `kubectl describe ingress` shows). */
  readonly events: EventRecorder;
  /** Which source kinds to read; default all three. */
  readonly types?: readonly ResourceType[];
  /** A kind was not started: its API is not served or not readable. Called once per kind. */
  readonly onKindSkipped?: (type: ResourceType, reason: string) => void;
  /** A reconcile failed; it is retried with back-off (1 s doubling to 5 min). */
  readonly onError?: (source: string, err: unknown) => void;
}

export class ShimController {
  readonly #o: ShimControllerOptions;
  readonly #queue: WorkQueue;
  readonly #watches: Watch[] = [];
  /** source key -> the source as last seen. */
  readonly #sources = new Map<string, ShimSource>();
  /** source key -> the source as it was when deleted, until its Certificates are gone. */
  readonly #deleted = new Map<string, ShimSource>();
  /** source key -> what decides a reconcile (labels, annotations, spec): status-only changes are skipped. */
  readonly #digests = new Map<string, string>();
  /** "<ns>/<name>" -> Certificate, from the watch. */
  readonly #certs = new Map<string, Certificate>();
  /** "<ns>/<certificate or secret name>" -> source keys whose last plan named it. */
  readonly #wanted = new Map<string, Set<string>>();
  #started = false;

  constructor(options: ShimControllerOptions) {
    this.#o = options;
    this.#queue = new WorkQueue((key) => this.#reconcile(key), {
      retryMinMs: RETRY_MIN_MS,
      retryMaxMs: RETRY_MAX_MS,
      onError: (key, err) => options.onError?.(key, err),
    });
  }

  /** Watches Certificates, then each source kind that is served; resolves once all were listed. */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    const listed = new Set<ResourceType>();
    const certs = this.#o.store.watch<Certificate>(CERTIFICATES, (e) => this.#onCertificate(e));
    this.#watches.push(certs);
    await certs.synced;
    for (const type of this.#o.types ?? SHIM_SOURCE_TYPES) {
      const problem = await this.#probe(type);
      if (problem !== undefined) {
        this.#o.onKindSkipped?.(type, problem);
        continue;
      }
      const w = this.#o.store.watch<ShimSource>(type, (e) => this.#onSource(type, e));
      this.#watches.push(w);
      await w.synced;
      listed.add(type);
    }
    this.#sweepMarked(listed);
  }

  /**
   * Queues the deletion of every cross-namespace Certificate whose marked source is of a listed kind
   * and no longer exists (deleted while no shim ran: on restart, or while another replica led).
   */
  #sweepMarked(listed: ReadonlySet<ResourceType>): void {
    for (const c of this.#certs.values()) {
      const source = markedSource(c);
      const type = source === undefined ? undefined : typeOf(source);
      if (source === undefined || type === undefined || !listed.has(type)) continue;
      const live = this.#sources.get(sourceKey(type, source));
      if (live?.metadata.uid === source.metadata.uid) continue;
      this.#forget(sourceKey(type, source), source);
    }
  }

  /** Queues the deletion of what `source` (gone) owns, under a key of its own uid. */
  #forget(key: string, source: ShimSource): void {
    const gone = `gone|${key}|${source.metadata.uid ?? ""}`;
    this.#deleted.set(gone, source);
    this.#queue.add(gone);
  }

  stop(): void {
    this.#started = false;
    for (const w of this.#watches.splice(0)) w.stop();
    this.#queue.stop();
  }

  /** Resolves when no reconcile is queued or running (tests). */
  idle(): Promise<void> {
    return this.#queue.idle();
  }

  /** Whether the kind's API answers a list; the reason to skip it otherwise. */
  async #probe(type: ResourceType): Promise<string | undefined> {
    try {
      await this.#o.store.list(type, {});
      return undefined;
    } catch (err) {
      if (isMeshsignError(err, "ERR_NOT_FOUND"))
        return `${type.group}/${type.version} ${type.plural} is not served (CRD not installed); restart meshsign after installing it`;
      if (isMeshsignError(err, "ERR_STORE_UNAVAILABLE") && err.retry === "terminal") {
        return `${type.plural}.${type.group} cannot be listed (RBAC: meshsign needs get, list and watch on it)`;
      }
      throw err;
    }
  }

  #onSource(type: ResourceType, e: WatchEvent<ShimSource>): void {
    const key = sourceKey(type, e.object);
    this.#noteSource(key, e);
    // A ListenerSet inherits its parent Gateway's issuer annotations and waits for it: look again
    // (after the Gateway is noted: a reconcile may start at once).
    if (type === GATEWAYS) {
      for (const [k, s] of this.#sources)
        if (s.kind === "ListenerSet" && parentKey(s) === key) this.#queue.add(k);
    }
  }

  #noteSource(key: string, e: WatchEvent<ShimSource>): void {
    if (e.type === "DELETED") {
      this.#sources.delete(key);
      this.#digests.delete(key);
      this.#setWanted(key, []);
      // Not under the source's key: an object re-created under the same name before this runs must not
      // cancel it (its Certificates across namespaces would stay, marked with a uid that is gone).
      this.#forget(key, e.object);
      return;
    }
    this.#sources.set(key, e.object);
    const digest = JSON.stringify([
      e.object.metadata.uid,
      e.object.metadata.labels,
      e.object.metadata.annotations,
      (e.object as { spec?: unknown }).spec,
    ]);
    if (this.#digests.get(key) === digest) return;
    this.#digests.set(key, digest);
    this.#queue.add(key);
  }

  #onCertificate(e: WatchEvent<Certificate>): void {
    const c = e.object;
    const ns = c.metadata.namespace ?? "";
    const key = `${ns}/${c.metadata.name ?? ""}`;
    if (e.type === "DELETED") this.#certs.delete(key);
    else this.#certs.set(key, c);
    // The sources that want this name or this Secret look again (a conflict gone, an owned one edited or deleted).
    for (const k of [key, `${ns}/${c.spec?.secretName ?? ""}`])
      for (const s of this.#wanted.get(k) ?? []) this.#queue.add(s);
  }

  async #reconcile(key: string): Promise<void> {
    const deleted = this.#deleted.get(key);
    if (deleted !== undefined) {
      await this.#deleteUnwanted(deleted, new Set(), false);
      this.#deleted.delete(key);
      return;
    }
    const source = this.#sources.get(key);
    if (source === undefined) return;
    // Being deleted (cert-manager's isDeletedInForeground): with foreground cascading the garbage
    // collector deletes the Certificates first, and making them again would fight it, an issuance each
    // time, for as long as another finalizer keeps the source. Its DELETED event cleans up after it.
    if (
      source.metadata.deletionTimestamp !== undefined ||
      (source.metadata.finalizers ?? []).includes("foregroundDeletion")
    )
      return;
    const parent = source.kind === "ListenerSet" ? this.#sources.get(parentKey(source)) : undefined;
    const plan = planCertificates(source, this.#o.options, parent);
    if (plan.waiting !== undefined) return;
    const ev = this.#o.events;
    if (plan.badConfig !== undefined) {
      ev.record(source, "Warning", SHIM_REASON.badConfig, plan.badConfig);
      return;
    }
    for (const s of plan.skipped) ev.record(source, "Warning", SHIM_REASON.badConfig, s);
    this.#setWanted(
      key,
      plan.certificates.flatMap((c) => [
        `${c.metadata.namespace}/${c.metadata.name}`,
        `${c.metadata.namespace}/${c.spec.secretName}`,
      ]),
    );
    const kind = describeKind(shimSourceKind(source) ?? "Ingress");
    for (const desired of plan.certificates) {
      const ns = desired.metadata.namespace ?? "";
      const name = desired.metadata.name ?? "";
      const existing = await this.#o.store.get<Certificate>(CERTIFICATES, ns, name);
      if (existing === undefined) {
        const writer = [...this.#certs.values()].find(
          (c) =>
            c.metadata.namespace === ns &&
            c.spec.secretName === desired.spec.secretName &&
            !isOwnedBy(c, source),
        );
        if (writer !== undefined) {
          ev.record(
            source,
            "Warning",
            SHIM_REASON.conflict,
            `Secret ${JSON.stringify(desired.spec.secretName)} is already written by Certificate ${JSON.stringify(writer.metadata.name)}${ownerNote(writer)}; Certificate ${JSON.stringify(name)} not made for this ${kind}`,
          );
          continue;
        }
        await this.#o.store.create(CERTIFICATES, desired);
        ev.record(
          source,
          "Normal",
          SHIM_REASON.createCertificate,
          `Successfully created Certificate ${JSON.stringify(name)}`,
        );
        continue;
      }
      if (!isOwnedBy(existing, source)) {
        ev.record(
          source,
          "Warning",
          SHIM_REASON.conflict,
          `Certificate ${JSON.stringify(name)} already exists${ownerNote(existing)} and is not owned by this ${kind}; it is left alone`,
        );
        continue;
      }
      const next = merged(existing, desired);
      if (next === undefined) continue;
      await this.#o.store.update(CERTIFICATES, next);
      ev.record(
        source,
        "Normal",
        SHIM_REASON.updateCertificate,
        `Successfully updated Certificate ${JSON.stringify(name)}`,
      );
    }
    await this.#deleteUnwanted(
      source,
      new Set([...plan.certificates.map((c) => `${c.metadata.namespace}/${c.metadata.name}`), ...plan.retained]),
      true,
    );
  }

  /** Deletes the Certificates owned by `source` whose "<ns>/<name>" is not in `keep`. */
  async #deleteUnwanted(source: ShimSource, keep: ReadonlySet<string>, record: boolean): Promise<void> {
    for (const [key, c] of [...this.#certs]) {
      if (keep.has(key) || !isOwnedBy(c, source)) continue;
      try {
        await this.#o.store.delete(CERTIFICATES, c.metadata.namespace, c.metadata.name ?? "");
      } catch (err) {
        if (!isMeshsignError(err, "ERR_NOT_FOUND")) throw err;
        continue;
      }
      if (record)
        this.#o.events.record(
          source,
          "Normal",
          SHIM_REASON.deleteCertificate,
          `Successfully deleted unrequired Certificate ${JSON.stringify(c.metadata.name)}`,
        );
    }
  }

  #setWanted(source: string, names: readonly string[]): void {
    for (const [k, set] of this.#wanted) {
      set.delete(source);
      if (set.size === 0) this.#wanted.delete(k);
    }
    for (const n of names) {
      const set = this.#wanted.get(n) ?? new Set<string>();
      set.add(source);
      this.#wanted.set(n, set);
    }
  }
}

/** The resource type of a source kind, or undefined for an object no shim reads. */
function typeOf(source: { apiVersion: string; kind: string }): ResourceType | undefined {
  switch (shimSourceKind(source)) {
    case "Ingress":
      return INGRESSES;
    case "Gateway":
      return GATEWAYS;
    case "ListenerSet":
      return LISTENER_SETS;
    case "IstioGateway":
      return ISTIO_GATEWAYS;
    default:
      return undefined;
  }
}

function sourceKey(type: ResourceType, o: ShimSource): string {
  return `${type.group}/${type.kind}|${o.metadata.namespace ?? ""}/${o.metadata.name ?? ""}`;
}

/** The source key of a ListenerSet's parent Gateway. */
function parentKey(ls: ShimSource): string {
  const ref = (ls.spec as { parentRef?: { name?: string; namespace?: string } } | undefined)?.parentRef;
  return sourceKey(GATEWAYS, {
    metadata: { namespace: ref?.namespace || ls.metadata.namespace, name: ref?.name ?? "" },
  } as ShimSource);
}

function ownerNote(c: Certificate): string {
  const owner = shimOwnerOf(c);
  return owner === undefined ? " (not made by a shim)" : ` (made for ${owner})`;
}

/** The existing Certificate with the shim's fields from `desired`, or undefined when nothing differs. */
function merged(existing: Certificate, desired: Certificate): Certificate | undefined {
  const spec: Record<string, unknown> = { ...existing.spec };
  let changed = false;
  for (const f of SHIM_SPEC_FIELDS) {
    const want = (desired.spec as unknown as Record<string, unknown>)[f];
    if (!sameJson(spec[f], want)) changed = true;
    if (want === undefined) delete spec[f];
    else spec[f] = want;
  }
  const labels = desired.metadata.labels ?? {};
  if (!sameJson(existing.metadata.labels ?? {}, labels)) changed = true;
  const annotations = { ...(existing.metadata.annotations ?? {}), ...(desired.metadata.annotations ?? {}) };
  // The ACME HTTP-01 hints are the source's: one removed there goes here too, or the solver keeps
  // editing the Ingress, or using an ingress class the cluster no longer has.
  for (const key of SHIM_HINT_ANNOTATIONS) {
    if (desired.metadata.annotations?.[key] !== undefined) continue;
    delete annotations[key];
    // Set by the shim together with edit-in-place, and only then taken away with it.
    if (key === A.ACME_HTTP01_OVERRIDE_INGRESS_NAME && existing.metadata.annotations?.[key] !== undefined)
      delete annotations[A.ISSUE_TEMPORARY_CERTIFICATE];
  }
  if (!sameJson(existing.metadata.annotations ?? {}, annotations)) changed = true;
  if (!changed) return undefined;
  const { labels: _l, annotations: _a, ...meta } = existing.metadata;
  return {
    ...existing,
    metadata: {
      ...meta,
      ...(Object.keys(labels).length > 0 ? { labels } : {}),
      ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
    },
    spec: spec as unknown as Certificate["spec"],
  };
}

/** Deep equality of JSON data, key order ignored. */
function sameJson(a: unknown, b: unknown): boolean {
  return canonical(a) === canonical(b);
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v !== null && typeof v === "object") {
    return `{${Object.keys(v)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(v) ?? "undefined";
}
