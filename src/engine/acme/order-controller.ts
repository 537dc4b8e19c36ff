/**
 * Reconciles one ACME Order (cert-manager's `acmeorders/sync.go`) against the
 * CA through the account of the Order's issuer. Idempotent and crash-safe:
 *
 * 1. No `status.url`: newOrder, and the URL is written to the status before
 *    anything else, so a restart (even `kill -9`) reads that order again and
 *    never places a second one for the same request.
 * 2. Read the order; fill `status.authorizations` once (identifier,
 *    wildcard, initial state, challenges).
 * 3. `pending`: one Challenge per authorization that is not already valid,
 *    with the solver chosen by cert-manager's rules; no solver is said on the
 *    Order (and so on the request and Certificate), never a silent hang. A
 *    failed Challenge fails the Order with its reason (the CA's detail).
 * 4. `ready`: finalize with the request's CSR (never twice: an order already
 *    processing is waited for); `valid`: download the chain (preferredChain)
 *    into `status.certificate` and remove the Challenges. An order whose
 *    Challenges are all valid is taken as ready without reading it first; if
 *    the CA refuses the finalize, the order is read and followed.
 *
 * Failures by class: a terminal refusal (a profile the CA does not offer, a
 * rejected identifier) errors the Order at once, without retrying; a
 * transient one (CA down, 5xx, rate limited) keeps the state, says why in
 * `status.reason` and is retried with back-off. Every Order has a deadline
 * (default 1 h from creation, `--acme-order-deadline`): past it, it is
 * errored with the deadline and the last reason, so nothing stays pending
 * silently.
 *
 * A refusal that names a time (a `rateLimited` problem's or a 503's
 * Retry-After) is honoured to the letter: the instant goes into the
 * annotation `acme.meshsign.io/retry-after` (lib/retry-after.ts, which the
 * Challenges share), so neither an early wake nor a
 * restart asks the CA before it, and the deadline runs from that instant
 * instead of from creation. Erroring the Order at its deadline would have
 * failed the request, and the Certificate would have ordered again after
 * its own back-off (an hour the first time) while the CA had said, e.g.,
 * three hours or a week; cert-manager ignores Retry-After there too (its
 * issue #4612).
 */
import { createHash } from "node:crypto";
import {
  type AcmeChallengeType,
  type AcmeOrder,
  describeProblem,
  downloadCertificate,
  finalizeOrder,
  getAuthorization,
  getOrder,
  keyAuthorization,
  newOrder,
  orderIdentifiers,
  selectSolver,
} from "../../acme/index.js";
import { formatGoDuration, tryParseGoDuration } from "../../api/duration.js";
import { CHALLENGES, type Challenge, ORDERS, type Order } from "../../api/types.js";
import { toMeshsignError } from "../../errors/index.js";
import { AcmeIssuer } from "../../issuers/acme/index.js";
import type { IssuerRegistry } from "../../issuers/registry.js";
import { decodePemAll } from "../../pki/index.js";
import type { Store } from "../../store/types.js";
import { exponentialDelayMs } from "../backoff.js";
import type { Clock } from "../clock.js";
import type { EventRecorder } from "../events.js";
import { computeName } from "./lib/names.js";
import { retryAfter, retryAtOf, withRetryAt } from "./lib/retry-after.js";

export const CHALLENGE_FINALIZER = "finalizer.acme.cert-manager.io";
const FINAL_FAILED = new Set(["invalid", "expired", "errored"]);
/** Default deadline of an Order, from its creation. */
export const DEFAULT_ORDER_TIMEOUT_MS = 60 * 60_000;
/** Fallback re-check of a pending Order (Challenge changes wake it sooner). */
const PENDING_RECHECK_MS = 60_000;
const FINALIZE_DEADLINE_MS = 60_000;
const TRANSIENT_BACKOFF = { minMs: 5_000, maxMs: 5 * 60_000 };

export interface OrderControllerDeps {
  readonly store: Store;
  readonly clock: Clock;
  readonly registry: IssuerRegistry;
  readonly events: EventRecorder;
  /** Deadline of an Order from its creation; default {@link DEFAULT_ORDER_TIMEOUT_MS}. */
  readonly orderTimeoutMs?: number;
  /**
   * Names of the Challenges an Order owns (in its namespace), from an index the caller keeps
   * off the Challenge watch. Without it every pass lists all Challenges of the namespace, which
   * grows with the Orders in flight.
   */
  readonly challengeNamesOf?: (namespace: string, orderName: string) => readonly string[];
}

type OrderStatus = NonNullable<Order["status"]>;

export class OrderController {
  readonly #d: OrderControllerDeps;
  /** "<ns>/<name>" -> consecutive transient failures. */
  readonly #failures = new Map<string, number>();

  constructor(deps: OrderControllerDeps) {
    this.#d = deps;
  }

  #iso(): string {
    return new Date(this.#d.clock.now()).toISOString().replace(/\.\d{3}Z$/, "Z");
  }

  forget(key: string): void {
    this.#failures.delete(key);
  }

  /**
   * The order as `ready` when what is stored says so: never finalized (state pending), and every
   * authorization valid from the start or its Challenge valid. A CA makes an order ready once its
   * authorizations are valid (RFC 8555 §7.1.6), so reading it first is a signed request to learn
   * what the Challenges said; finalize tells if the CA disagrees (see #sync).
   */
  async #readyByChallenges(order: Order): Promise<AcmeOrder | undefined> {
    const st = order.status ?? {};
    const authorizations = st.authorizations ?? [];
    if (st.state !== "pending" || st.url === undefined || !st.finalizeURL || authorizations.length === 0)
      return undefined;
    const challenges = await this.#challengesOf(order);
    const validAuthz = new Set(
      challenges.filter((c) => c.status?.state === "valid").map((c) => c.spec.authorizationURL),
    );
    if (!authorizations.every((a) => a.initialState === "valid" || validAuthz.has(a.url))) return undefined;
    return {
      url: st.url,
      status: "ready",
      identifiers: orderIdentifiers(order.spec),
      authorizations: authorizations.map((a) => a.url),
      finalize: st.finalizeURL,
    };
  }

  /** The Challenges `order` owns. */
  async #challengesOf(order: Order): Promise<Challenge[]> {
    const ns = order.metadata.namespace ?? "";
    const names = this.#d.challengeNamesOf?.(ns, order.metadata.name ?? "");
    const found =
      names === undefined
        ? await this.#d.store.list<Challenge>(CHALLENGES, { namespace: ns })
        : (await Promise.all(names.map((n) => this.#d.store.get<Challenge>(CHALLENGES, ns, n)))).filter(
            (c): c is Challenge => c !== undefined,
          );
    return found.filter((c) => ownedBy(c, order));
  }

  async reconcile(ns: string, name: string): Promise<number | undefined> {
    const key = `${ns}/${name}`;
    let order = await this.#d.store.get<Order>(ORDERS, ns, name);
    if (order === undefined || order.metadata.deletionTimestamp !== undefined) {
      this.#failures.delete(key);
      return undefined;
    }
    const st: OrderStatus = order.status ?? {};
    if (st.state !== undefined && FINAL_FAILED.has(st.state)) return undefined;
    if (st.state === "valid" && st.certificate !== undefined && st.certificate !== "") {
      await this.#deleteChallenges(order);
      return undefined;
    }
    const now = this.#d.clock.now();
    const created = Date.parse(order.metadata.creationTimestamp ?? "") || now;
    const timeout = this.#d.orderTimeoutMs ?? DEFAULT_ORDER_TIMEOUT_MS;
    const retryAt = retryAtOf(order);
    const deadline = Math.max(created, retryAt ?? 0) + timeout;
    if (now >= deadline) {
      const since = retryAt !== undefined && retryAt > created ? "the time the ACME server asked to retry at" : "creation";
      const message = `the order did not complete within its deadline of ${formatGoDuration(timeout)} from ${since}${st.reason ? `; last: ${st.reason}` : ""}`;
      await this.#fail(order, "errored", message, "OrderTimeout");
      return undefined;
    }
    // The CA named a time: nothing is asked before it (a watch event, the old deadline, a restart).
    if (retryAt !== undefined && now < retryAt) return retryAt;
    const issuer = this.#d.registry.resolve(order.spec.issuerRef, ns);
    if (!(issuer instanceof AcmeIssuer) || !issuer.status().ready) {
      const why =
        issuer === undefined
          ? "not found"
          : issuer instanceof AcmeIssuer
            ? `not ready: ${issuer.status().message}`
            : "not an ACME issuer";
      const reason = `Waiting for the issuer ${order.spec.issuerRef.kind ?? "Issuer"} ${order.spec.issuerRef.name}: ${why}`;
      if (st.reason !== reason) order = await this.#setStatus(order, { ...st, reason });
      return Math.min(now + 30_000, deadline);
    }
    try {
      const next = await this.#sync(order, issuer);
      this.#failures.delete(key);
      return next === undefined ? undefined : Math.min(next, deadline);
    } catch (err) {
      const e = toMeshsignError(err);
      if (e.retry !== "transient") {
        const fresh = (await this.#d.store.get<Order>(ORDERS, ns, name)) ?? order;
        await this.#fail(fresh, "errored", e.message, "Failed");
        return undefined;
      }
      const n = (this.#failures.get(key) ?? 0) + 1;
      this.#failures.set(key, n);
      let fresh = (await this.#d.store.get<Order>(ORDERS, ns, name)) ?? order;
      // Kept on the Order: the CA is asked again at that time, not before (even past the deadline,
      // which runs from it), and never sooner than the back-off.
      const held = retryAfter(e, this.#d.clock.now(), now + exponentialDelayMs(n, TRANSIENT_BACKOFF));
      if (held !== undefined) {
        fresh = await this.#d.store.update<Order>(ORDERS, withRetryAt(fresh, held.at));
        if (fresh.status?.reason !== held.reason)
          await this.#setStatus(fresh, { ...(fresh.status ?? {}), reason: held.reason });
        return held.at;
      }
      if (fresh.status?.reason !== e.message)
        await this.#setStatus(fresh, { ...(fresh.status ?? {}), reason: e.message });
      return Math.min(now + exponentialDelayMs(n, TRANSIENT_BACKOFF), deadline);
    }
  }

  async #sync(initial: Order, issuer: AcmeIssuer, readOrder = false): Promise<number | undefined> {
    let order = initial;
    let assumedReady = false;
    const ns = order.metadata.namespace ?? "";
    const client = issuer.client;
    let st: OrderStatus = order.status ?? {};
    let acme: AcmeOrder;
    if (st.url === undefined || st.url === "") {
      // The Order has a duration when its issuer enables the duration feature: the CA is asked for
      // a certificate ending that long from now, as cert-manager's `WithOrderNotAfter`.
      const durationMs =
        order.spec.duration !== undefined ? tryParseGoDuration(order.spec.duration) : undefined;
      const base = {
        identifiers: orderIdentifiers(order.spec),
        ...(order.spec.profile !== undefined ? { profile: order.spec.profile } : {}),
        ...(durationMs !== undefined ? { notAfter: new Date(this.#d.clock.now() + durationMs) } : {}),
      };
      try {
        acme = await newOrder(client, {
          ...base,
          ...(order.spec.replaces !== undefined ? { replaces: order.spec.replaces } : {}),
        });
      } catch (err) {
        // `replaces` is a hint: a CA that will not take it (already replaced, an unknown certificate)
        // gets a plain order instead. A passing failure (unreachable, 5xx, rate limited) refused
        // nothing: it is retried as it is, `replaces` kept (an ARI renewal is exempt from some limits).
        if (order.spec.replaces === undefined || toMeshsignError(err).retry === "transient") throw err;
        this.#d.events.record(
          order,
          "Warning",
          "Replaces",
          `The ACME server refused replaces ${order.spec.replaces} (${toMeshsignError(err).message}); ordering without it`,
        );
        acme = await newOrder(client, base);
      }
      // The URL first: a crash after this write resumes this order, never places a second.
      order = await this.#setStatus(order, {
        ...st,
        url: acme.url,
        finalizeURL: acme.finalize,
        state: acme.status,
      });
      st = order.status ?? {};
      this.#d.events.record(
        order,
        "Normal",
        "Created",
        `Created new ACME order ${acme.url}, attempting validation...`,
      );
    } else {
      const ready = readOrder ? undefined : await this.#readyByChallenges(order);
      assumedReady = ready !== undefined;
      acme = ready ?? (await getOrder(client, st.url));
    }
    if (st.authorizations === undefined || st.authorizations.length !== acme.authorizations.length) {
      const authorizations = [];
      for (const url of acme.authorizations) {
        const a = await getAuthorization(client, url);
        authorizations.push({
          url,
          identifier: a.identifier.value,
          wildcard: a.wildcard,
          initialState:
            a.status === "valid" || a.status === "pending"
              ? a.status
              : a.status === "invalid"
                ? ("invalid" as const)
                : ("expired" as const),
          challenges: a.challenges
            .filter((c) => c.token !== undefined)
            .map((c) => ({ url: c.url, token: c.token as string, type: c.type })),
        });
      }
      order = await this.#setStatus(order, { ...st, finalizeURL: acme.finalize, authorizations });
      st = order.status ?? {};
    }
    switch (acme.status) {
      case "invalid": {
        const failed =
          (await this.#failedChallengeReason(order)) ?? (await this.#failedAuthorization(client, acme));
        await this.#fail(
          order,
          "invalid",
          failed ??
            (acme.error !== undefined
              ? describeProblem(acme.error)
              : "the ACME server marked the order invalid"),
          "Failed",
        );
        return undefined;
      }
      case "valid":
      case "ready":
      case "processing": {
        const csrDer = decodePemAll(
          Buffer.from(order.spec.request, "base64").toString("utf8"),
          "CERTIFICATE REQUEST",
        )[0];
        if (csrDer === undefined) {
          await this.#fail(order, "errored", "the Order's request holds no CSR", "Failed");
          return undefined;
        }
        let valid: AcmeOrder;
        try {
          valid = await finalizeOrder(client, acme, csrDer, client.now() + FINALIZE_DEADLINE_MS);
        } catch (err) {
          // Finalized on what the Challenges said, and the CA disagrees (the order is not ready
          // after all): read the order and go by what it says.
          if (!assumedReady || toMeshsignError(err).retry === "transient") throw err;
          return this.#sync(order, issuer, true);
        }
        const chain = await downloadCertificate(
          client,
          valid.certificate as string,
          issuer.config.preferredChain,
        );
        order = await this.#setStatus(order, {
          ...st,
          state: "valid",
          certificate: Buffer.from(chain.pem).toString("base64"),
          reason: "",
        });
        this.#d.events.record(order, "Normal", "Complete", "Order completed successfully");
        await this.#deleteChallenges(order);
        return undefined;
      }
      case "pending":
        return this.#pending(order, issuer, ns);
    }
  }

  async #pending(order: Order, issuer: AcmeIssuer, ns: string): Promise<number | undefined> {
    const st: OrderStatus = order.status ?? {};
    const existing = await this.#challengesOf(order);
    const wanted = new Set<string>();
    const noSolver: string[] = [];
    for (const authz of st.authorizations ?? []) {
      if (authz.initialState === "valid") continue;
      const identifier = authz.identifier ?? "";
      const offered = (authz.challenges ?? [])
        .map((c) => c.type)
        .filter((t): t is AcmeChallengeType => t === "http-01" || t === "dns-01");
      const picked = selectSolver(issuer.config.solvers, {
        dnsName: identifier,
        wildcard: authz.wildcard === true,
        offeredTypes: offered,
        certificateLabels: order.metadata.labels ?? {},
      });
      if (picked.solver === undefined) {
        noSolver.push(picked.reason);
        continue;
      }
      const solver = picked.solver;
      const type = solver.http01 !== undefined ? "http-01" : "dns-01";
      const ch = (authz.challenges ?? []).find((c) => c.type === type);
      if (ch === undefined) continue;
      const ka = await keyAuthorization(ch.token, issuer.client.accountKey);
      const spec: Challenge["spec"] = {
        url: ch.url,
        authorizationURL: authz.url,
        dnsName: identifier,
        wildcard: authz.wildcard === true,
        type: type === "http-01" ? "HTTP-01" : "DNS-01",
        token: ch.token,
        key: type === "http-01" ? ka : createHash("sha256").update(ka).digest("base64url"),
        solver,
        issuerRef: { ...order.spec.issuerRef },
      };
      const name = computeName(order.metadata.name ?? "", spec);
      wanted.add(name);
      if (existing.some((c) => c.metadata.name === name)) continue;
      try {
        await this.#d.store.create<Challenge>(CHALLENGES, {
          apiVersion: "acme.cert-manager.io/v1",
          kind: "Challenge",
          metadata: {
            name,
            namespace: ns,
            labels: { ...(order.metadata.labels ?? {}) },
            finalizers: [CHALLENGE_FINALIZER],
            ownerReferences: [
              {
                apiVersion: "acme.cert-manager.io/v1",
                kind: "Order",
                name: order.metadata.name ?? "",
                uid: order.metadata.uid ?? "",
                controller: true,
                blockOwnerDeletion: true,
              },
            ],
          },
          spec,
        });
        this.#d.events.record(
          order,
          "Normal",
          "Created",
          `Created Challenge resource "${name}" for domain "${identifier}"`,
        );
      } catch (err) {
        if (toMeshsignError(err).code !== "ERR_ALREADY_EXISTS") throw err;
      }
    }
    for (const c of existing)
      if (!wanted.has(c.metadata.name ?? "") && noSolver.length === 0)
        await this.#d.store.delete(CHALLENGES, ns, c.metadata.name ?? "").catch(() => undefined);
    if (noSolver.length > 0) {
      const reason = `Failed to determine a valid solver configuration for the set of domains on the Order: ${noSolver.join("; ")}`;
      if (st.reason !== reason) {
        this.#d.events.record(order, "Warning", "Solver", reason);
        await this.#setStatus(order, { ...st, state: "pending", reason });
      }
      return this.#d.clock.now() + PENDING_RECHECK_MS;
    }
    const mine = await this.#challengesOf(order);
    const failed = mine.find((c) => c.status?.state !== undefined && FINAL_FAILED.has(c.status.state));
    if (failed !== undefined) {
      await this.#fail(
        order,
        "invalid",
        failed.status?.reason || `challenge ${failed.metadata.name} is ${failed.status?.state}`,
        "Failed",
      );
      return undefined;
    }
    const open = mine.filter((c) => c.status?.state !== "valid");
    if (mine.length > 0 && open.length === 0) return this.#d.clock.now() + 1_000; // all valid: the CA moves the order to ready
    const first = open.find((c) => (c.status?.reason ?? "") !== "");
    const reason =
      first === undefined
        ? ""
        : `${first.spec.type} challenge for ${first.spec.dnsName}: ${first.status?.reason}`;
    if (st.state !== "pending" || (st.reason ?? "") !== reason)
      await this.#setStatus(order, { ...st, state: "pending", reason });
    return this.#d.clock.now() + PENDING_RECHECK_MS;
  }

  /** The CA's own words for the first invalid authorization (what its VA saw), as the Challenge would say it. */
  async #failedAuthorization(client: AcmeIssuer["client"], acme: AcmeOrder): Promise<string | undefined> {
    for (const url of acme.authorizations) {
      const a = await getAuthorization(client, url).catch(() => undefined);
      if (a === undefined || a.status === "valid" || a.status === "pending") continue;
      const failed = a.challenges.find((c) => c.status === "invalid" && c.error !== undefined);
      return `ACME server did not validate ${a.identifier.value}${failed ? ` (${failed.type})` : ""}: ${failed?.error !== undefined ? describeProblem(failed.error) : `the authorization is ${a.status}`}`;
    }
    return undefined;
  }

  async #failedChallengeReason(order: Order): Promise<string | undefined> {
    const mine = await this.#challengesOf(order);
    const failed = mine.find(
      (c) => c.status?.state !== undefined && FINAL_FAILED.has(c.status.state) && c.status.reason,
    );
    return failed?.status?.reason;
  }

  async #fail(
    order: Order,
    state: "invalid" | "errored",
    reason: string,
    eventReason: string,
  ): Promise<void> {
    const updated = await this.#setStatus(order, {
      ...(order.status ?? {}),
      state,
      reason,
      failureTime: this.#iso(),
    });
    this.#d.events.record(updated, "Warning", eventReason, reason);
    await this.#deleteChallenges(updated);
  }

  async #deleteChallenges(order: Order): Promise<void> {
    const ns = order.metadata.namespace ?? "";
    for (const c of await this.#challengesOf(order)) {
      if (c.metadata.deletionTimestamp === undefined)
        await this.#d.store.delete(CHALLENGES, ns, c.metadata.name ?? "").catch(() => undefined);
    }
  }

  async #setStatus(order: Order, status: OrderStatus): Promise<Order> {
    const clean: OrderStatus = { ...status };
    if (clean.reason === "") delete clean.reason;
    return this.#d.store.updateStatus<Order>(ORDERS, { ...order, status: clean });
  }
}

function ownedBy(c: Challenge, order: Order): boolean {
  return (
    c.metadata.ownerReferences?.some(
      (o) =>
        o.kind === "Order" &&
        o.name === order.metadata.name &&
        (order.metadata.uid === undefined || o.uid === order.metadata.uid),
    ) === true
  );
}
