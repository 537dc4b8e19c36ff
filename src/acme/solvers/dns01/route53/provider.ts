/**
 * The Route53 DNS-01 provider: adds or removes one TXT value at a name by a
 * read-modify-write of that name's TXT record set (UPSERT of the new value
 * set, or DELETE of the set when our value was the last one), then waits for
 * the change to be INSYNC.
 *
 * Promises (the {@link Dns01Provider} contract): idempotent, touches only its
 * own value, never blocks a worker. Unlike cert-manager, which polls GetChange
 * for up to two minutes inside the call, a change still PENDING after a short
 * poll is remembered and the call fails transient ("waiting for Route53 change
 * X"); the retried call resumes polling that change instead of submitting it
 * again, and gives it up (to be resubmitted) only after a deadline.
 */
import { MeshsignError } from "../../../../errors/index.js";
import type { Dns01ChallengeInfo, Dns01Provider, Dns01Record } from "../provider.js";
import type { Route53Api, TxtRecordSet } from "./lib/api.js";
import type { KeyedLock } from "./lib/keyed-lock.js";
import type { ChangeAction, PendingChange, PendingChanges } from "./lib/pending.js";
import { withoutTxtValue, withTxtValue } from "./lib/txt-values.js";
import { bareZoneId, canonicalName, type HostedZoneSummary, pickHostedZone } from "./lib/zone.js";
import { checkApiRecord } from "../lib/check-record.js";

/** TTL of a TXT record set this provider creates (cert-manager's Route53 value); existing sets keep theirs. */
export const ROUTE53_TXT_TTL = 10;
/** How long one call polls GetChange before answering transient and leaving the change pending. */
export const DEFAULT_INSYNC_POLL_MS = 15_000;
/** How long a change may stay PENDING before it is given up and submitted again. */
export const DEFAULT_INSYNC_DEADLINE_MS = 10 * 60_000;
/** At most this many ListHostedZonesByName pages are read for one zone lookup. */
const MAX_ZONE_PAGES = 10;

export interface Route53ProviderOptions {
  readonly api: Route53Api;
  /** The solver's `hostedZoneID`, when set: no lookup then. */
  readonly hostedZoneId?: string | undefined;
  readonly pending: PendingChanges;
  readonly locks: KeyedLock;
  readonly now: () => number;
  readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly inSyncPollMs?: number;
  readonly inSyncDeadlineMs?: number;
}

/** The parents of `fqdn` with at least two labels, longest first: `a.b.example.com.` gives `b.example.com.`, `example.com.`. */
function parentZones(fqdn: string): string[] {
  const labels = canonicalName(fqdn).slice(0, -1).split(".");
  const out: string[] = [];
  for (let i = 1; i <= labels.length - 2; i++) out.push(`${labels.slice(i).join(".")}.`);
  return out;
}

export class Route53Provider implements Dns01Provider {
  readonly name = "route53";
  readonly #o: Route53ProviderOptions;
  readonly #zoneIds = new Map<string, string>();

  constructor(options: Route53ProviderOptions) {
    this.#o = options;
  }

  present(record: Dns01Record, _challenge: Dns01ChallengeInfo, signal?: AbortSignal): Promise<void> {
    return this.#change("present", record, signal);
  }

  cleanUp(record: Dns01Record, _challenge: Dns01ChallengeInfo, signal?: AbortSignal): Promise<void> {
    return this.#change("cleanUp", record, signal);
  }

  async #change(action: ChangeAction, record: Dns01Record, signal: AbortSignal | undefined): Promise<void> {
    checkApiRecord(record);
    const fqdn = canonicalName(record.fqdn);
    const zoneId = await this.#zoneId(fqdn, record.zone, signal);
    const pending = await this.#o.locks.run(`${zoneId} ${fqdn}`, () =>
      this.#submit(action, zoneId, fqdn, record.value, signal).catch((err: unknown) => {
        throw this.#nameZone(err, zoneId);
      }),
    );
    // Polled outside the lock: Route53 reads show a PENDING change already, so the next
    // challenge at this name may read and write the set meanwhile.
    if (pending !== undefined) await this.#awaitInSync(zoneId, fqdn, record.value, pending, signal);
  }

  /** Writes the new value set, unless nothing changes; answers the change to wait for, if any. */
  async #submit(
    action: ChangeAction,
    zoneId: string,
    fqdn: string,
    value: string,
    signal: AbortSignal | undefined,
  ): Promise<PendingChange | undefined> {
    const { api, pending } = this.#o;
    const resumed = pending.get(zoneId, fqdn, value, action);
    if (resumed !== undefined) return resumed;
    const current = await api.getTxtRecordSet(zoneId, fqdn, signal);
    const values = current?.values ?? [];
    const next = action === "present" ? withTxtValue(values, value) : withoutTxtValue(values, value);
    if (next === undefined) {
      // Already as wanted (a retry after a restart, or a cleanUp of a value never written).
      pending.delete(zoneId, fqdn, value);
      return undefined;
    }
    const ttl = current?.ttl ?? ROUTE53_TXT_TTL;
    let change: { changeId: string; status: string };
    try {
      change =
        next.length === 0 && current !== undefined
          ? await api.changeTxtRecordSet(zoneId, "DELETE", fqdn, current, signal)
          : await api.changeTxtRecordSet(
              zoneId,
              "UPSERT",
              fqdn,
              { ttl, values: next } satisfies TxtRecordSet,
              signal,
            );
    } catch (err) {
      // A DELETE must name the set exactly; InvalidChangeBatch means someone changed it since we read it.
      if (err instanceof MeshsignError && err.detail.awsError === "InvalidChangeBatch" && next.length === 0) {
        throw new MeshsignError(
          "ERR_DNS01_UNAVAILABLE",
          `the TXT record set ${fqdn} changed while it was being updated; will read it again`,
          { retry: "transient", cause: err, detail: err.detail },
        );
      }
      throw err;
    }
    if (change.status === "INSYNC") {
      pending.delete(zoneId, fqdn, value);
      return undefined;
    }
    const submitted: PendingChange = { action, changeId: change.changeId, submittedAt: this.#o.now() };
    pending.put(zoneId, fqdn, value, submitted);
    return submitted;
  }

  /** Polls GetChange with back-off for a short while; answers transient while it is still PENDING. */
  async #awaitInSync(
    zoneId: string,
    fqdn: string,
    value: string,
    change: PendingChange,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const { api, pending, now, sleep } = this.#o;
    const pollMs = this.#o.inSyncPollMs ?? DEFAULT_INSYNC_POLL_MS;
    const deadlineMs = this.#o.inSyncDeadlineMs ?? DEFAULT_INSYNC_DEADLINE_MS;
    const start = now();
    let delay = 500;
    for (;;) {
      if ((await api.getChange(change.changeId, signal)) === "INSYNC") {
        pending.delete(zoneId, fqdn, value);
        return;
      }
      const waited = now() - start;
      if (waited >= pollMs) break;
      await sleep(Math.min(delay, pollMs - waited), signal);
      delay = Math.min(delay * 2, 5_000);
    }
    const age = now() - change.submittedAt;
    if (age >= deadlineMs) {
      pending.delete(zoneId, fqdn, value);
      throw new MeshsignError(
        "ERR_DNS01_UNAVAILABLE",
        `Route53 change ${change.changeId} for ${fqdn} was still PENDING after ${Math.round(age / 1000)}s; it will be submitted again`,
        { retry: "transient", detail: { changeId: change.changeId, zoneId } },
      );
    }
    throw new MeshsignError(
      "ERR_DNS01_UNAVAILABLE",
      `waiting for Route53 change ${change.changeId} for ${fqdn} to be INSYNC`,
      { retry: "transient", detail: { changeId: change.changeId, zoneId } },
    );
  }

  /** The hosted zone to write in: `hostedZoneID`, or the public zone that is the longest suffix of the name. */
  async #zoneId(fqdn: string, zoneHint: string, signal: AbortSignal | undefined): Promise<string> {
    const configured = this.#o.hostedZoneId;
    if (configured !== undefined && configured !== "") return bareZoneId(configured);
    const candidates = zoneHint !== "" ? [canonicalName(zoneHint)] : parentZones(fqdn);
    const seen: HostedZoneSummary[] = [];
    for (const candidate of candidates) {
      const known = this.#zoneIds.get(candidate);
      if (known !== undefined) return known;
      const zones = await this.#listZones(candidate, signal);
      seen.push(...zones);
      const zone = pickHostedZone(fqdn, zones);
      if (zone !== undefined) {
        const id = bareZoneId(zone.id);
        this.#zoneIds.set(candidate, id);
        return id;
      }
    }
    const privateOnly = seen.some(
      (z) => z.privateZone && pickHostedZone(fqdn, [{ ...z, privateZone: false }]),
    );
    throw new MeshsignError(
      "ERR_DNS01_REFUSED",
      `no public Route53 hosted zone found for ${fqdn} (looked up ${candidates.join(", ")})${
        privateOnly ? "; only a private zone matches, and the ACME server cannot see private zones" : ""
      }; set route53.hostedZoneID to name the zone`,
      { retry: "terminal", detail: { fqdn, candidates } },
    );
  }

  /** The zones ListHostedZonesByName lists from `dnsName` on, while they are still under it. */
  async #listZones(dnsName: string, signal: AbortSignal | undefined): Promise<HostedZoneSummary[]> {
    const zones: HostedZoneSummary[] = [];
    let start: { dnsName: string; zoneId: string } | undefined;
    for (let page = 0; page < MAX_ZONE_PAGES; page++) {
      const out = await this.#o.api.listHostedZonesByName(
        start?.dnsName ?? dnsName.slice(0, -1),
        start === undefined ? undefined : { zoneId: start.zoneId },
        signal,
      );
      zones.push(...out.zones);
      const next = out.next;
      if (next === undefined) break;
      const nextName = canonicalName(next.dnsName);
      // Listing is in reversed-label order, so once past `dnsName`'s subtree nothing further can match.
      if (nextName !== dnsName && !nextName.endsWith(`.${dnsName}`)) break;
      start = next;
    }
    return zones;
  }

  /** AWS says "NoSuchHostedZone" without always naming the zone: the message names it. */
  #nameZone(err: unknown, zoneId: string): unknown {
    if (!(err instanceof MeshsignError) || err.detail.awsError !== "NoSuchHostedZone") return err;
    if (err.message.includes(zoneId)) return err;
    return new MeshsignError(err.code, `${err.message} (hosted zone ${zoneId})`, {
      retry: err.retry,
      detail: err.detail,
      cause: err,
    });
  }
}
