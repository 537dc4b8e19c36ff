/**
 * Reconciles one ACME Challenge (cert-manager's `acmechallenges/sync.go`):
 * present, self-check, accept, wait for the authorization, clean up.
 *
 * - HTTP-01 needs no presenting step of its own: meshsign's solver listener
 *   answers from the Challenges in the store (every replica, every
 *   Challenge). The self-check fetches the URL the CA will fetch first, or,
 *   with `waitInsteadOfSelfCheck`, waits that long after presenting.
 * - DNS-01 goes through the provider registry (`createDns01Provider`); the
 *   record name, zone and propagation check come from an injected
 *   {@link Dns01Propagation}. A provider meshsign does not implement yet
 *   errors the Challenge with a message naming it.
 * - A Challenge being deleted, or final (valid, invalid, errored), is
 *   cleaned up at its solver, then its finalizer removed. A valid DNS-01
 *   Challenge keeps its TXT value while another Challenge of its Order for
 *   the same name (the wildcard and its apex share `_acme-challenge.<name>`)
 *   is still open, so both values are there until both authorizations are
 *   settled; each then removes only its own value. Whether to wait is read
 *   from the store on every pass (a restart resumes it), and a sibling that
 *   is final, being deleted or gone never holds anyone. A failure (invalid,
 *   errored, the Order failing) cleans up at once.
 * - A DNS-01 clean-up that fails keeps the value's record on the Challenge
 *   (`status.dns01Fqdn`, `cleanUpSince`, `cleanUpError`, and the finalizer
 *   while it is deleted), is retried with back-off until it succeeds, and is
 *   listed by `meshsign status` meanwhile. HTTP-01 route removal is best
 *   effort, as before.
 *
 * What it waits for goes into `status.reason`, which the Order, the request
 * and the Certificate repeat. A transient failure for which the CA named a
 * time (Retry-After) keeps that time in the annotation
 * `acme.meshsign.io/retry-after`, as the Order does (lib/retry-after.ts): the
 * CA is not asked again before it, after a restart either. Only Challenges the scheduler started
 * (`status.processing`) are worked on; `processing` is in the store, so a
 * restart resumes exactly those.
 */
import {
  type AcmeAuthorization,
  type AcmeChallenge,
  acceptChallenge,
  ensureHttp01Route,
  getAuthorization,
  removeHttp01Route,
  selfCheck,
  waitAuthorization,
} from "../../acme/index.js";
import { createDns01Provider, type Dns01Provider } from "../../acme/solvers/dns01/index.js";
import { tryParseGoDuration } from "../../api/duration.js";
import { CHALLENGES, type Challenge } from "../../api/types.js";
import { MeshsignError, toMeshsignError } from "../../errors/index.js";
import { AcmeIssuer } from "../../issuers/acme/index.js";
import type { IssuerRegistry, ServiceAccountTokenRequester } from "../../issuers/registry.js";
import type { Store } from "../../store/types.js";
import { type BackoffOptions, exponentialDelayMs } from "../backoff.js";
import type { Clock } from "../clock.js";
import type { EventRecorder } from "../events.js";
import { SECRETS, type Secret } from "../lib/api.js";
import { retryAfter, retryAtOf, withRetryAt } from "./lib/retry-after.js";
import { CHALLENGE_FINALIZER } from "./order-controller.js";

/**
 * DNS-01 record resolution and propagation check (`dnsPropagation()` adapts
 * src/acme/solvers/dns01/propagation.ts); injected so the controller is tested without DNS.
 */
export interface Dns01Propagation {
  resolveChallengeRecord(
    dnsName: string,
    opts: { readonly nameservers?: readonly string[]; readonly cnameStrategy?: "None" | "Follow" },
  ): Promise<{ fqdn: string; zone: string }>;
  checkPropagation(
    record: { readonly fqdn: string; readonly value: string },
    opts: { readonly nameservers?: readonly string[] },
  ): Promise<{ propagated: true } | { propagated: false; reason: string }>;
}

export interface Http01SelfCheckOptions {
  /** Port the CA fetches (default 80). */
  readonly port?: number;
  /** Connect here instead of resolving the name (tests; a gateway's address). */
  readonly connectAddress?: string;
  /** Deadline for one whole self-check (connect, headers and body of every hop). Default 10 s. */
  readonly timeoutMs?: number;
}

/**
 * Kubernetes mode: HTTP-01 Challenges are routed to meshsign's own Service
 * (an Ingress or HTTPRoute per Challenge, src/acme/solvers/http01-kube.ts).
 */
export interface Http01RoutesOptions {
  readonly service: { readonly name: string; readonly namespace: string; readonly port?: number };
  readonly clusterDomain?: string;
}

export interface ChallengeControllerDeps {
  readonly store: Store;
  readonly clock: Clock;
  readonly registry: IssuerRegistry;
  readonly events: EventRecorder;
  readonly http01SelfCheck?: Http01SelfCheckOptions;
  readonly dns01Propagation?: Dns01Propagation;
  /** Absent standalone: the solver listener is reached directly (port 80 or a proxy in front). */
  readonly http01Routes?: Http01RoutesOptions;
  /** Kubernetes TokenRequest, for DNS-01 providers that authenticate as a service account (Route53). */
  readonly requestServiceAccountToken?: ServiceAccountTokenRequester;
  /** Back-off between attempts of a failed DNS-01 clean-up. Default 5 s doubling to 5 min. */
  readonly cleanUpBackoff?: BackoffOptions;
  /**
   * Resolves once the solver listener has answered for the HTTP-01 token
   * (the CA has fetched it), so the authorization is read when the CA can
   * have validated it instead of on a fixed timer. Given only where that
   * listener reports to this process (standalone); absent, the timer.
   */
  readonly http01Served?: (token: string) => { readonly served: Promise<void>; cancel(): void };
  /** Names of the Challenges an Order owns (an index kept off the watch); without it the namespace is listed. */
  readonly challengeNamesOf?: (namespace: string, orderName: string) => readonly string[];
}

const FINAL = new Set(["valid", "invalid", "expired", "errored"]);
const SELF_CHECK_RECHECK_MS = 10_000;
/**
 * The first look at an authorization after accepting its challenge: a CA
 * validates asynchronously, so a look at once finds it pending and costs a
 * signed request; half a second is enough for a quick validation to be done.
 */
const FIRST_POLL_AFTER_ACCEPT_MS = 500;
/**
 * Standalone HTTP-01: the first look once the solver listener has answered
 * the CA's fetch (the CA compares and records it within milliseconds), and the
 * longest it waits for that fetch before looking anyway (the CA may have
 * failed to connect, which only the authorization says).
 */
const FIRST_POLL_AFTER_SERVED_MS = 50;
const SERVED_WAIT_MS = 5_000;
/** cert-manager's WaitAuthorization bound. */
const AUTHORIZATION_WAIT_MS = 2 * 60_000;
const TRANSIENT_BACKOFF = { minMs: 5_000, maxMs: 5 * 60_000 };
/** A failed clean-up is retried whatever the error (a key fixed later makes it succeed). */
const CLEAN_UP_BACKOFF: BackoffOptions = { minMs: 5_000, maxMs: 5 * 60_000 };

type ChallengeStatus = NonNullable<Challenge["status"]>;

export function isFinalChallenge(c: Challenge): boolean {
  return c.status?.state !== undefined && FINAL.has(c.status.state);
}

export class ChallengeController {
  readonly #d: ChallengeControllerDeps;
  readonly #failures = new Map<string, number>();
  /** "<ns>/<name>" -> consecutive failed clean-ups. */
  readonly #cleanUpFailures = new Map<string, number>();

  constructor(deps: ChallengeControllerDeps) {
    this.#d = deps;
  }

  #iso(): string {
    return new Date(this.#d.clock.now()).toISOString().replace(/\.\d{3}Z$/, "Z");
  }

  async reconcile(ns: string, name: string): Promise<number | undefined> {
    const key = `${ns}/${name}`;
    let ch = await this.#d.store.get<Challenge>(CHALLENGES, ns, name);
    if (ch === undefined) {
      this.#failures.delete(key);
      this.#cleanUpFailures.delete(key);
      return undefined;
    }
    if (ch.metadata.deletionTimestamp !== undefined) {
      if (ch.status?.presented === true) {
        const cleaned = await this.#cleanUpOrRetry(ch);
        if (typeof cleaned === "number") return cleaned;
        ch = cleaned;
      }
      await this.#removeFinalizer(ch);
      this.#failures.delete(key);
      return undefined;
    }
    if (isFinalChallenge(ch)) {
      if (ch.status?.presented === true) {
        // The wildcard's and the apex's values stay together until both are settled.
        if (await this.#openSibling(ch)) {
          if (ch.status.processing === true || ch.status.cleanUpSince === undefined)
            await this.#setStatus(ch, {
              ...ch.status,
              processing: false,
              cleanUpSince: ch.status.cleanUpSince ?? this.#iso(),
            });
          return undefined; // woken when the sibling settles (controllers.ts)
        }
        const cleaned = await this.#cleanUpOrRetry(ch);
        return typeof cleaned === "number" ? cleaned : undefined;
      }
      if (ch.status?.processing === true) await this.#setStatus(ch, { ...ch.status, processing: false });
      return undefined;
    }
    if (ch.status?.processing !== true) return undefined;
    // The CA named a time: it is not asked before it (a watch event, a restart).
    const retryAt = retryAtOf(ch);
    if (retryAt !== undefined && this.#d.clock.now() < retryAt) return retryAt;
    const issuer = this.#d.registry.resolve(ch.spec.issuerRef, ns);
    if (!(issuer instanceof AcmeIssuer) || !issuer.status().ready) {
      await this.#reason(ch, `Waiting for the issuer ${ch.spec.issuerRef.name} to be ready`);
      return this.#d.clock.now() + 30_000;
    }
    try {
      const next = await this.#sync(ch, issuer);
      this.#failures.delete(key);
      return next;
    } catch (err) {
      const e = toMeshsignError(err);
      ch = (await this.#d.store.get<Challenge>(CHALLENGES, ns, name)) ?? ch;
      if (e.retry !== "transient") {
        await this.#setStatus(ch, { ...ch.status, state: "errored", reason: e.message, processing: false });
        this.#d.events.record(ch, "Warning", "Failed", e.message);
        return this.#d.clock.now();
      }
      const n = (this.#failures.get(key) ?? 0) + 1;
      this.#failures.set(key, n);
      const backoffUntil = this.#d.clock.now() + exponentialDelayMs(n, TRANSIENT_BACKOFF);
      // A time the CA named is kept on the Challenge, as an Order keeps its own: the back-off
      // above lives in memory only, and a restart would ask the CA again at once.
      const held = retryAfter(e, this.#d.clock.now(), backoffUntil);
      if (held !== undefined) {
        ch = await this.#d.store.update<Challenge>(CHALLENGES, withRetryAt(ch, held.at));
        if (ch.status?.reason !== held.reason) await this.#setStatus(ch, { ...ch.status, reason: held.reason });
        return held.at;
      }
      if (ch.status?.reason !== e.message) await this.#setStatus(ch, { ...ch.status, reason: e.message });
      return backoffUntil;
    }
  }

  async #sync(initial: Challenge, issuer: AcmeIssuer): Promise<number | undefined> {
    let ch = initial;
    const client = issuer.client;
    const type = ch.spec.type === "HTTP-01" ? "http-01" : "dns-01";
    // A Challenge's first pass (no state yet) comes from an authorization the Order read as pending
    // to make it: reading it again first is a signed request to learn the same. Later passes read it
    // (a restart, a retry: the CA may have moved on); so does a first pass whose accept is refused.
    const firstPass = ch.status?.state === undefined && ch.status?.presented !== true;
    let mine: AcmeChallenge | undefined;
    if (!firstPass) {
      const authz = await getAuthorization(client, ch.spec.authorizationURL);
      const settled = await this.#settled(ch, authz, type);
      if (settled !== undefined) return settled;
      mine = authz.challenges.find((c) => c.url === ch.spec.url);
    }
    if (ch.status?.presented !== true) {
      // "pending" goes in with `presented` (one write, not two): a crash in between presents again.
      const fqdn = await this.#present(ch, issuer);
      ch = await this.#setStatus(ch, {
        ...ch.status,
        state: ch.status?.state ?? "pending",
        presented: true,
        presentedAt: this.#iso(),
        reason: "",
        ...(fqdn !== undefined ? { dns01Fqdn: fqdn } : {}),
      });
      this.#d.events.record(
        ch,
        "Normal",
        "Presented",
        `Presented challenge using ${ch.spec.type} challenge mechanism`,
      );
    }
    if (mine?.status !== "processing") {
      const wait = ch.spec.solver.waitInsteadOfSelfCheck;
      if (wait !== undefined) {
        const until =
          (Date.parse(ch.status?.presentedAt ?? "") || this.#d.clock.now()) + (tryParseGoDuration(wait) ?? 0);
        if (this.#d.clock.now() < until) {
          await this.#reason(
            ch,
            `Waiting ${wait} after presenting (waitInsteadOfSelfCheck) before accepting the challenge`,
          );
          return until;
        }
      } else {
        const problem = await this.#selfCheck(ch, issuer);
        if (problem !== undefined) {
          await this.#reason(ch, `Waiting for ${ch.spec.type} challenge propagation: ${problem}`);
          return this.#d.clock.now() + SELF_CHECK_RECHECK_MS;
        }
      }
      // Only a fetch after this point counts: the self-check above fetched the token too.
      const served = ch.spec.type === "HTTP-01" ? this.#d.http01Served?.(ch.spec.token) : undefined;
      try {
        let accepted: string | undefined;
        try {
          accepted = await acceptChallenge(client, { type, url: ch.spec.url, status: "pending" });
        } catch (err) {
          if (!firstPass || toMeshsignError(err).retry === "transient") throw err;
          // Refused on the first pass: the authorization may be settled already (expired, deactivated).
          const settled = await this.#settled(ch, await getAuthorization(client, ch.spec.authorizationURL), type);
          if (settled !== undefined) return settled;
          throw err;
        }
        // Validated at once (the answer says so): the outcome is read now, with no wait.
        const settledAtOnce = accepted === "valid" || accepted === "invalid";
        if (!settledAtOnce && served === undefined) await client.sleep(FIRST_POLL_AFTER_ACCEPT_MS);
        else if (!settledAtOnce && served !== undefined) {
          const fetched = await Promise.race([
            served.served.then(() => true),
            client.sleep(SERVED_WAIT_MS).then(() => false),
          ]);
          if (fetched) await client.sleep(FIRST_POLL_AFTER_SERVED_MS);
        }
      } finally {
        served?.cancel();
      }
    }
    // Said only once the CA takes longer than one poll interval: a quick validation (most of
    // them) goes from presented to valid in one write, and the Order, request and Certificate
    // that repeat the reason are not rewritten twice for a wait nobody could have read.
    const waiting = async (polls: number): Promise<void> => {
      if (polls === 2) await this.#reason(ch, "Waiting for the ACME server to validate the challenge");
    };
    try {
      await waitAuthorization(
        client,
        ch.spec.authorizationURL,
        client.now() + AUTHORIZATION_WAIT_MS,
        waiting,
      );
    } catch (err) {
      const e = toMeshsignError(err);
      if (e.code === "ERR_ACME_ORDER_INVALID") return this.#finish(ch, "invalid", e.message);
      throw err;
    }
    return this.#finish(ch, "valid", "Successfully authorized domain");
  }

  /** Finishes the Challenge when its authorization is no longer pending; undefined while it is. */
  async #settled(ch: Challenge, authz: AcmeAuthorization, type: string): Promise<number | undefined> {
    if (authz.status === "pending") return undefined;
    if (authz.status === "valid") return this.#finish(ch, "valid", "Successfully authorized domain");
    const mine = authz.challenges.find((c) => c.url === ch.spec.url);
    const why =
      mine?.error !== undefined
        ? `${mine.error.type.replace(/^urn:ietf:params:acme:error:/, "")}: ${mine.error.detail ?? ""}`
        : `the authorization is ${authz.status}`;
    return this.#finish(
      ch,
      authz.status === "expired" ? "expired" : "invalid",
      `ACME server did not validate ${ch.spec.dnsName} (${type}): ${why}`,
    );
  }

  /** Records the outcome; the clean-up (or the wait for a sibling) is the next pass, on the final state. */
  async #finish(ch: Challenge, state: "valid" | "invalid" | "expired", reason: string): Promise<number> {
    const fresh =
      (await this.#d.store.get<Challenge>(CHALLENGES, ch.metadata.namespace ?? "", ch.metadata.name ?? "")) ??
      ch;
    // Standalone HTTP-01 has nothing to clean up (the solver listener answers from the store),
    // so the final state and `presented: false` go in one write, not two passes.
    const nothingToClean = ch.spec.type === "HTTP-01" && this.#d.http01Routes === undefined;
    const presented = fresh.status?.presented === true && !nothingToClean;
    const updated = await this.#setStatus(fresh, {
      ...fresh.status,
      state,
      reason,
      processing: false,
      ...(presented
        ? { cleanUpSince: fresh.status?.cleanUpSince ?? this.#iso() }
        : fresh.status?.presented === true
          ? { presented: false }
          : {}),
    });
    if (state === "valid")
      this.#d.events.record(updated, "Normal", "DomainVerified", `Domain verified with ${ch.spec.type}`);
    else this.#d.events.record(updated, "Warning", "Failed", reason);
    return this.#d.clock.now();
  }

  /**
   * Another DNS-01 Challenge of the same Order for the same name that is
   * still open (not final, not being deleted), for which a valid Challenge
   * keeps its value. Read from the store, so a restart decides the same.
   */
  async #openSibling(ch: Challenge): Promise<boolean> {
    if (ch.spec.type !== "DNS-01" || ch.status?.state !== "valid") return false;
    const owner = ch.metadata.ownerReferences?.find((o) => o.kind === "Order");
    if (owner === undefined) return false;
    const ns = ch.metadata.namespace ?? "";
    const names = this.#d.challengeNamesOf?.(ns, owner.name);
    const all =
      names === undefined
        ? await this.#d.store.list<Challenge>(CHALLENGES, { namespace: ns })
        : await Promise.all(names.map((n) => this.#d.store.get<Challenge>(CHALLENGES, ns, n)));
    const name = ch.spec.dnsName.toLowerCase();
    return all.some(
      (c) =>
        c !== undefined &&
        c.metadata.name !== ch.metadata.name &&
        c.metadata.ownerReferences?.some(
          (o) => o.kind === "Order" && o.name === owner.name && o.uid === owner.uid,
        ) === true &&
        c.spec.type === "DNS-01" &&
        c.spec.dnsName.toLowerCase() === name &&
        c.metadata.deletionTimestamp === undefined &&
        !isFinalChallenge(c),
    );
  }

  /**
   * Cleans up at the solver. Done: the Challenge with `presented` cleared.
   * A DNS-01 failure: the error on the Challenge and the time of the next
   * attempt (back-off, whatever the error: a key or ACL fixed later makes it
   * succeed). HTTP-01 route removal stays best effort.
   */
  async #cleanUpOrRetry(ch: Challenge): Promise<Challenge | number> {
    const ns = ch.metadata.namespace ?? "";
    const key = `${ns}/${ch.metadata.name ?? ""}`;
    try {
      await this.#cleanUp(ch);
    } catch (err) {
      if (ch.spec.type === "DNS-01") {
        const e = toMeshsignError(err);
        const n = (this.#cleanUpFailures.get(key) ?? 0) + 1;
        this.#cleanUpFailures.set(key, n);
        if (ch.status?.cleanUpError !== e.message || ch.status?.processing === true) {
          const updated = await this.#setStatus(ch, {
            ...ch.status,
            processing: false,
            cleanUpSince: ch.status?.cleanUpSince ?? this.#iso(),
            cleanUpError: e.message,
          });
          this.#d.events.record(
            updated,
            "Warning",
            "CleanUpError",
            `Error cleaning up challenge: ${e.message}`,
          );
        }
        return this.#d.clock.now() + exponentialDelayMs(n, this.#d.cleanUpBackoff ?? CLEAN_UP_BACKOFF);
      }
    }
    this.#cleanUpFailures.delete(key);
    const fresh = (await this.#d.store.get<Challenge>(CHALLENGES, ns, ch.metadata.name ?? "")) ?? ch;
    const { cleanUpSince: _since, cleanUpError: _error, ...status } = fresh.status ?? {};
    return this.#setStatus(fresh, { ...status, processing: false, presented: false });
  }

  /** Presents the challenge; for DNS-01 returns the record name written. */
  async #present(ch: Challenge, issuer: AcmeIssuer): Promise<string | undefined> {
    if (ch.spec.type === "HTTP-01") {
      // Served from the store by the solver listener; in Kubernetes mode routed to it first.
      const routes = this.#d.http01Routes;
      if (routes !== undefined)
        await ensureHttp01Route(this.#d.store, {
          challenge: ch,
          service: routes.service,
          ...(routes.clusterDomain !== undefined ? { clusterDomain: routes.clusterDomain } : {}),
        });
      return undefined;
    }
    const { provider, record } = await this.#dns01(ch, issuer);
    try {
      await provider.present(record, this.#dnsInfo(ch, issuer));
      return record.fqdn;
    } catch (err) {
      this.#d.events.record(
        ch,
        "Warning",
        "PresentError",
        `Error presenting challenge: ${toMeshsignError(err).message}`,
      );
      throw err;
    }
  }

  async #cleanUp(ch: Challenge): Promise<void> {
    if (ch.spec.type === "HTTP-01") {
      const routes = this.#d.http01Routes;
      if (routes !== undefined)
        await removeHttp01Route(this.#d.store, {
          challenge: ch,
          service: routes.service,
          ...(routes.clusterDomain !== undefined ? { clusterDomain: routes.clusterDomain } : {}),
        });
      return;
    }
    const issuer = this.#d.registry.resolve(ch.spec.issuerRef, ch.metadata.namespace ?? "");
    if (!(issuer instanceof AcmeIssuer)) return;
    const { provider, record } = await this.#dns01(ch, issuer);
    await provider.cleanUp(record, this.#dnsInfo(ch, issuer));
  }

  async #selfCheck(ch: Challenge, issuer: AcmeIssuer): Promise<string | undefined> {
    try {
      if (ch.spec.type === "HTTP-01") {
        const o = this.#d.http01SelfCheck ?? {};
        await selfCheck({
          dnsName: ch.spec.dnsName,
          token: ch.spec.token,
          keyAuthorization: ch.spec.key,
          ...(o.port !== undefined ? { port: o.port } : {}),
          ...(o.connectAddress !== undefined ? { connectAddress: o.connectAddress } : {}),
          ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
        });
        return undefined;
      }
      const { record, propagation } = await this.#dns01(ch, issuer);
      const nameservers = ch.spec.solver.dns01?.nameservers;
      const r = await propagation.checkPropagation(
        { fqdn: record.fqdn, value: record.value },
        nameservers !== undefined ? { nameservers } : {},
      );
      return r.propagated ? undefined : r.reason;
    } catch (err) {
      const e = toMeshsignError(err);
      if (e.retry !== "transient") throw err;
      return e.message;
    }
  }

  async #dns01(
    ch: Challenge,
    issuer: AcmeIssuer,
  ): Promise<{
    provider: Dns01Provider;
    propagation: Dns01Propagation;
    record: { fqdn: string; zone: string; value: string };
  }> {
    const dns01 = ch.spec.solver.dns01;
    if (dns01 === undefined)
      throw new MeshsignError("ERR_CONFIG_INVALID", "a DNS-01 Challenge without a dns01 solver");
    const ns = issuer.secretNamespace;
    const provider = await createDns01Provider(dns01, {
      secretNamespace: ns,
      issuerKind: ch.spec.issuerRef.kind === "ClusterIssuer" ? "ClusterIssuer" : "Issuer",
      ...(this.#d.requestServiceAccountToken !== undefined
        ? {
            requestServiceAccountToken: (name: string, audiences: readonly string[]) =>
              (this.#d.requestServiceAccountToken as ServiceAccountTokenRequester)({
                namespace: ns,
                name,
                audiences,
                expirationSeconds: 600,
              }),
          }
        : {}),
      readSecretKey: async (name, key) => {
        const s = await this.#d.store.get<Secret>(SECRETS, ns, name);
        const v = s?.data?.[key];
        return v === undefined ? undefined : Buffer.from(v, "base64").toString("utf8");
      },
    });
    const p = this.#d.dns01Propagation;
    if (p === undefined) {
      throw new MeshsignError(
        "ERR_DNS01_UNSUPPORTED",
        "DNS-01 record resolution is not available in this meshsign build",
        { retry: "terminal" },
      );
    }
    const { fqdn, zone } = await p.resolveChallengeRecord(ch.spec.dnsName, {
      ...(dns01.nameservers !== undefined ? { nameservers: dns01.nameservers } : {}),
      ...(dns01.cnameStrategy !== undefined ? { cnameStrategy: dns01.cnameStrategy } : {}),
    });
    return { provider, propagation: p, record: { fqdn, zone, value: ch.spec.key } };
  }

  #dnsInfo(ch: Challenge, issuer: AcmeIssuer) {
    return {
      uid: ch.metadata.uid ?? "",
      namespace: ch.metadata.namespace ?? "",
      dnsName: ch.spec.dnsName,
      key: ch.spec.key,
      resourceNamespace: issuer.secretNamespace,
      allowAmbientCredentials: ch.spec.issuerRef.kind === "ClusterIssuer",
    };
  }

  async #reason(ch: Challenge, reason: string): Promise<void> {
    if (ch.status?.reason === reason) return;
    await this.#setStatus(ch, { ...ch.status, reason });
  }

  async #removeFinalizer(ch: Challenge): Promise<void> {
    const finalizers = (ch.metadata.finalizers ?? []).filter(
      (f) => f !== CHALLENGE_FINALIZER && f !== "acme.cert-manager.io/finalizer",
    );
    if (finalizers.length === (ch.metadata.finalizers ?? []).length) return;
    await this.#d.store
      .update<Challenge>(CHALLENGES, { ...ch, metadata: { ...ch.metadata, finalizers } })
      .catch((err: unknown) => {
        if (toMeshsignError(err).code !== "ERR_NOT_FOUND") throw err;
      });
  }

  async #setStatus(ch: Challenge, status: ChallengeStatus): Promise<Challenge> {
    const clean: ChallengeStatus = { ...status };
    if (clean.reason === "") delete clean.reason;
    return this.#d.store.updateStatus<Challenge>(CHALLENGES, { ...ch, status: clean });
  }
}
