/**
 * One Certificate's whole lifecycle as a single in-process state machine
 * (cert-manager spreads it over six controllers racing on one object, pain
 * point 11): readiness, trigger, back-off, next key, request, signing, Secret,
 * status, revision history. `reconcile` is idempotent and returns the next
 * instant it wants to run; the scheduler serializes it per Certificate.
 *
 * Crash safety: every step is persisted before the next one starts (Issuing
 * condition, then the staged key Secret, then the request under a
 * deterministic name, then its status, then the target Secret, then the
 * Certificate status), so a restart resumes where it stopped and never
 * creates a second request for the same revision.
 */
import type { KeyObject } from "node:crypto";
import { formatGoDuration } from "../api/duration.js";
import { certificateSizeProblem } from "../api/limits.js";
import { MeshsignError, isMeshsignError } from "../errors/index.js";
import type { IssuerRegistry } from "../issuers/registry.js";
import type { Store } from "../store/types.js";
import { type BackoffOptions, DEFAULT_ISSUANCE_BACKOFF, DEFAULT_TRANSIENT_BACKOFF, exponentialDelayMs, nextIssuanceAttemptMs } from "./backoff.js";
import type { Clock, RandomSource } from "./clock.js";
import { buildCsr, parseCsr, type ParsedCsr, parseRequestCsr, templateFromRequest } from "./csr.js";
import type { EventRecorder } from "./events.js";
import { encodePrivateKey, generatePrivateKey, isSlowKey, keyMatchesSpec, parsePrivateKey, spkiOf } from "./keys.js";
import { ANN, LABEL, UNCOPIED_ANNOTATION_PREFIXES } from "./lib/annotations.js";
import { CERTIFICATE_REQUESTS, CERTIFICATES, type Certificate, type CertificateRequest, type CertificateStatus, type Condition, SECRETS, type Secret } from "./lib/api.js";
import type { CertificateDigest } from "./lib/certificate-digest.js";
import { getCondition, removeCondition, setCondition } from "./lib/conditions.js";
import { b64decode, b64encode, nextKeySecretName, requestName, requestRevision, requestState } from "./lib/requests.js";
import { type ResolvedSpec, resolveSpec } from "./lib/spec.js";
import { certInfo, splitPemChain } from "./lib/x509-info.js";
import { requestMismatches } from "./match.js";
import type { EngineMetrics } from "./metrics.js";
import { evaluate, type PolicyInput, READINESS_CHAIN, readSecretContents, renewalTimeFor, TRIGGER_CHAIN, type Violation } from "./policies.js";
import { CR_REASON, classifySignError, issuingFailureReason, REASON } from "./reasons.js";
import { renewalJitterMs } from "./renewal.js";
import { buildSecret, reapplyMetadata } from "./secret.js";
import { unsupportedSpec } from "./lib/unsupported.js";
import type { SecretSink } from "./secret-files.js";

/** Private keys generated at once unless configured: one per core of the 2-core reference machine. */
export const DEFAULT_KEY_GENERATION_CONCURRENCY = 2;

/** Bound of the in-memory staged-key cache (entries only live while an issuance is in flight). */
const STAGED_KEYS_LIMIT = 20_000;

/**
 * Automatic issuances a Certificate may start in a row, and how often after that (one per
 * {@link REISSUE_INTERVAL_MS}: five an hour). A safety net under the back-off, which only follows
 * failed issuances: a spec or a foreign writer that makes every successful issuance trigger the
 * next (cert-manager #6714, #8380), or a renewBefore a second short of the duration, would otherwise
 * re-issue without end. Manual renewals are not limited.
 */
export const REISSUE_BURST = 5;
export const REISSUE_INTERVAL_MS = 12 * 60_000;

/** How long after an unanswered ARI request the CA is asked again. */
const RENEWAL_HINT_RETRY_MS = 60 * 60_000;
/**
 * How long an answered ARI window is kept before the CA is asked again (it may move the window,
 * e.g. ahead of a mass revocation): its Retry-After, read as at least a minute and at most a day
 * (RFC 9773 §4.3.3), six hours when it sends none.
 */
const RENEWAL_HINT_RECHECK = { minMs: 60_000, maxMs: 24 * 3_600_000, defaultMs: 6 * 3_600_000 };

/** How often a Certificate that does not own its Secret is looked at again (cert-manager: 3 min). */
export const NOT_OWNER_RECHECK_MS = 3 * 60_000;

export interface ReconcilerDeps {
  readonly store: Store;
  readonly clock: Clock;
  readonly random: RandomSource;
  readonly registry: IssuerRegistry;
  readonly events: EventRecorder;
  readonly metrics?: EngineMetrics | undefined;
  readonly sink?: SecretSink | undefined;
  readonly issuanceBackoff?: BackoffOptions;
  readonly transientBackoff?: BackoffOptions;
  /** Private keys generated at once. Default {@link DEFAULT_KEY_GENERATION_CONCURRENCY}. */
  readonly keyGenerationConcurrency?: number;
  /** Names of the requests that belong to a Certificate (from the engine's watch index). */
  requestNames(namespace: string, certificateName: string): readonly string[];
  /** Re-issue limit (tests); default {@link REISSUE_BURST} then one per {@link REISSUE_INTERVAL_MS}. */
  readonly reissueLimit?: { readonly burst: number; readonly intervalMs: number };
  /** Called when an automatic issuance waits for the re-issue limit. */
  readonly onReissueLimited?: (cert: Certificate, reason: string, message: string, retryAtMs: number) => void;
  /** Keeps the index current for writes the reconciler makes itself. */
  noteRequest(namespace: string, certificateName: string, requestName: string, present: boolean): void;
  /** Called once per failed issuance (the engine rate-limits it into the log). */
  readonly onIssuanceFailure?: (cert: Certificate, reason: string, message: string, failedIssuanceAttempts: number, retryAtMs: number | undefined) => void;
  /** Certificates in `namespace` whose spec.secretName is `secretName`. */
  certificatesForSecret(namespace: string, secretName: string): readonly CertificateDigest[];
}

/** Between the Issuing condition's own message and what a pending issuer waits for. */
const WAITING_SEPARATOR = "; waiting for the issuer: ";
const READY_MESSAGE = "Certificate is up to date and has not expired";
const APPROVED_MESSAGE = "Certificate request has been approved by cert-manager.io";
const COPIED = (k: string): boolean => !UNCOPIED_ANNOTATION_PREFIXES.some((p) => k.startsWith(p));

export class CertificateReconciler {
  readonly #d: ReconcilerDeps;
  /** Per-certificate consecutive transient failures (pending requests). */
  readonly #transient = new Map<string, number>();
  /** Issuer-suggested renewal instants (ACME ARI) per issued serial. */
  readonly #renewalHints = new Map<string, { readonly atMs?: number; readonly askAgainMs: number }>();
  /** Jitter fraction per issued serial, drawn once from the random source. */
  readonly #jitter = new Map<string, number>();
  /** Per-certificate re-issue budget (token bucket), see {@link REISSUE_BURST}. */
  readonly #reissue = new Map<string, { tokens: number; refilledMs: number }>();
  /** Certificates checked for orphans of a crash since this process started. */
  readonly #orphanChecked = new Set<string>();
  /**
   * "<ns>/<staged key Secret>" -> the key this process staged there, so a request that stays
   * pending does not parse the PEM again on every pass (0.4-1 ms each). Checked against the
   * Secret's PEM before use; dropped when the staged Secret is deleted.
   */
  readonly #stagedKeys = new Map<string, { readonly pem: string; readonly key: KeyObject }>();

  /** Key generations running, and the reconciles waiting for a slot. */
  #keygenRunning = 0;
  readonly #keygenWaiting: (() => void)[] = [];

  constructor(deps: ReconcilerDeps) {
    this.#d = deps;
  }

  /** generatePrivateKey, at most keyGenerationConcurrency slow (RSA) ones at once. */
  async #generateKey(spec: ResolvedSpec): Promise<KeyObject> {
    if (!isSlowKey(spec)) return generatePrivateKey(spec);
    const limit = this.#d.keyGenerationConcurrency ?? DEFAULT_KEY_GENERATION_CONCURRENCY;
    while (this.#keygenRunning >= limit) await new Promise<void>((resolve) => this.#keygenWaiting.push(resolve));
    this.#keygenRunning++;
    try {
      return await generatePrivateKey(spec);
    } finally {
      this.#keygenRunning--;
      this.#keygenWaiting.shift()?.();
    }
  }

  #now(): number {
    return this.#d.clock.now();
  }

  #iso(ms = this.#now()): string {
    return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
  }

  async reconcile(namespace: string, name: string): Promise<number | undefined> {
    const key = `${namespace}/${name}`;
    const cert = await this.#d.store.get<Certificate>(CERTIFICATES, namespace, name);
    if (cert === undefined || cert.metadata.deletionTimestamp !== undefined) {
      await this.#cleanupDeleted(namespace, name);
      return undefined;
    }
    const spec = resolveSpec(cert.spec);
    const conflict = this.#secretConflict(cert, spec);
    if (conflict !== undefined) {
      await this.#writeStatus(cert, { ...cert.status, conditions: setCondition(cert.status?.conditions, { type: "Ready", status: "False", reason: REASON.conflict, message: conflict, ...gen(cert) }, this.#iso()) });
      return this.#now() + NOT_OWNER_RECHECK_MS;
    }
    const unsupported = unsupportedSpec(cert.spec);
    if (unsupported !== undefined) {
      await this.#writeStatus(cert, { ...cert.status, conditions: setCondition(cert.status?.conditions, { type: "Ready", status: "False", reason: REASON.unsupportedSpec, message: unsupported, ...gen(cert) }, this.#iso()) });
      return undefined;
    }
    const requests = await this.#loadRequests(cert);
    const secret = await this.#d.store.get<Secret>(SECRETS, namespace, spec.secretName);
    if (!isIssuing(cert)) {
      if (!this.#orphanChecked.has(key)) {
        await this.#deleteNextKey(cert);
        this.#orphanChecked.add(key);
      }
      return this.#whenNotIssuing(cert, spec, secret, requests);
    }
    this.#orphanChecked.add(key);
    // Readiness is kept current while issuing too, so Ready flips at expiry even when renewal is stuck.
    const input = await this.#policyInput(cert, spec, secret, requests, this.#now());
    const current = await this.#writeReadiness(cert, spec, input, evaluate(READINESS_CHAIN, input));
    const expiry = input.contents?.cert?.notAfterMs;
    const next = await this.#issue(current, spec, secret, requests);
    return expiry !== undefined && expiry >= input.now ? min(next, expiry + 1) : next;
  }

  /** Drops in-memory state for a Certificate that is gone. */
  forget(namespace: string, name: string): void {
    const key = `${namespace}/${name}`;
    this.#transient.delete(key);
    this.#orphanChecked.delete(key);
    this.#reissue.delete(key);
  }

  /** Takes one automatic issuance from the Certificate's budget; when there is none, the time the next one is due. */
  #takeReissueToken(key: string, now: number): number | undefined {
    const { burst, intervalMs } = this.#d.reissueLimit ?? { burst: REISSUE_BURST, intervalMs: REISSUE_INTERVAL_MS };
    const bucket = this.#reissue.get(key) ?? { tokens: burst, refilledMs: now };
    const refill = Math.floor((now - bucket.refilledMs) / intervalMs);
    if (refill > 0) {
      bucket.tokens = Math.min(burst, bucket.tokens + refill);
      bucket.refilledMs = bucket.tokens === burst ? now : bucket.refilledMs + refill * intervalMs;
    }
    this.#reissue.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens--;
      return undefined;
    }
    return bucket.refilledMs + intervalMs;
  }

  // ---------------------------------------------------------------- not issuing

  async #whenNotIssuing(cert: Certificate, spec: ResolvedSpec, secret: Secret | undefined, requests: CertificateRequest[]): Promise<number | undefined> {
    const now = this.#now();
    const input = await this.#policyInput(cert, spec, secret, requests, now);
    const notReady = evaluate(READINESS_CHAIN, input);
    const trigger = evaluate(TRIGGER_CHAIN, input);
    const wake = min(this.#nextWake(input), this.#renewalHintRecheck(input));
    const backoffUntil = trigger === undefined ? undefined : await this.#backoffUntil(cert, spec, requests);
    const backingOff = backoffUntil !== undefined && now < backoffUntil;
    const key = `${cert.metadata.namespace ?? ""}/${cert.metadata.name ?? ""}`;
    const limitedUntil = trigger === undefined || backingOff ? undefined : this.#takeReissueToken(key, now);
    const retryAt = backingOff ? backoffUntil : limitedUntil;
    const readiness = this.#readinessStatus(cert, cert.status, spec, input, notReady);
    if (trigger !== undefined && spec.rotationPolicy === "Never" && input.contents?.key !== undefined && !keyMatchesSpec(input.contents.key, spec)) {
      // Issuing would stop at the key at once (#ensureNextKey): say so without starting, or every
      // pass would flip Issuing to True and back.
      await this.#writeStatus(cert, this.#cannotRegenerateKey(cert, readiness));
      const expiry = input.contents.cert === undefined ? undefined : input.contents.cert.notAfterMs + 1;
      return expiry !== undefined && expiry > now ? expiry : undefined;
    }
    if (trigger === undefined || retryAt !== undefined) {
      const current = await this.#writeStatus(cert, readiness);
      if (notReady === undefined) await this.#collectRevisions(current, spec, requests);
      if (trigger === undefined) {
        await this.#reapplySecretMetadata(current, spec, secret, input);
        return wake;
      }
      if (limitedUntil !== undefined) {
        const message = `Re-issuance is limited to one every ${REISSUE_INTERVAL_MS / 60_000} minutes after ${REISSUE_BURST} in a row; waiting to act on ${trigger.reason}: ${trigger.message}`;
        this.#d.events.record(current, "Warning", REASON.reissueLimited, message);
        this.#d.onReissueLimited?.(current, REASON.reissueLimited, message, limitedUntil);
      }
      // The trigger already fired, so a renewal time in the past is no reason to wake: only the retry,
      // or expiry (Ready flips). Returning the past renewal time re-ran this pass in a loop.
      const expiry = input.contents?.cert === undefined ? undefined : input.contents.cert.notAfterMs + 1;
      return min(retryAt, expiry !== undefined && expiry > now ? expiry : undefined);
    }
    // One write: readiness, Issuing=True, and the (deterministic) name of the key Secret about to be
    // staged. A crash before the key exists is harmless: the next pass finds no key and makes one.
    const current = await this.#writeStatus(cert, {
      ...readiness,
      conditions: setCondition(readiness.conditions, { type: "Issuing", status: "True", reason: trigger.reason, message: trigger.message, ...gen(cert) }, this.#iso(now)),
      nextPrivateKeySecretName: readiness.nextPrivateKeySecretName ?? nextKeySecretName(cert),
    });
    if (notReady === undefined) await this.#collectRevisions(current, spec, requests);
    this.#d.events.record(current, "Normal", "Issuing", trigger.message);
    const fresh = await this.#d.store.get<Secret>(SECRETS, cert.metadata.namespace, spec.secretName);
    return this.#issue(current, spec, fresh, requests);
  }

  async #policyInput(cert: Certificate, spec: ResolvedSpec, secret: Secret | undefined, requests: CertificateRequest[], now: number): Promise<PolicyInput> {
    const revision = cert.status?.revision;
    const currentRequest = revision === undefined ? undefined : requests.find((r) => requestRevision(r) === revision);
    let currentRequestCsr: ParsedCsr | undefined;
    if (currentRequest !== undefined) {
      try {
        currentRequestCsr = parseCsr(b64decode(currentRequest.spec.request));
      } catch {
        currentRequestCsr = undefined;
      }
    }
    const contents = readSecretContents(secret);
    const renewalHintMs = await this.#renewalHint(cert, spec, secret, contents, now);
    return { certificate: cert, spec, secret, contents, currentRequest, currentRequestCsr, now, ...(renewalHintMs !== undefined ? { renewalHintMs } : {}) };
  }

  /**
   * The issuer's suggested renewal instant for the certificate in the Secret (ACME ARI): a point
   * inside the CA's window drawn with the certificate's jitter fraction, asked once per serial
   * (again after an hour when the CA did not answer).
   */
  async #renewalHint(cert: Certificate, spec: ResolvedSpec, secret: Secret | undefined, contents: PolicyInput["contents"], now: number): Promise<number | undefined> {
    const info = contents?.cert;
    if (info === undefined || secret === undefined) return undefined;
    const issuer = this.#d.registry.resolve(spec.issuerRef, cert.metadata.namespace ?? "");
    if (issuer?.renewalWindow === undefined) return undefined;
    const cached = this.#renewalHints.get(info.serialHex);
    if (cached !== undefined && now < cached.askAgainMs) return cached.atMs;
    let atMs: number | undefined;
    let askAgainMs = now + RENEWAL_HINT_RETRY_MS;
    try {
      const leaf = splitPemChain(b64decode(secret.data?.["tls.crt"]))[0];
      const w = leaf === undefined ? undefined : await issuer.renewalWindow(leaf);
      if (w !== undefined) {
        atMs = Math.round(w.startMs + this.#jitterFraction(info.serialHex) * (w.endMs - w.startMs));
        const { minMs, maxMs, defaultMs } = RENEWAL_HINT_RECHECK;
        askAgainMs = now + Math.min(maxMs, Math.max(minMs, w.retryAfterMs ?? defaultMs));
      }
    } catch {
      // The CA's suggestion is optional: the spec's renewal time stands (the last window, if any).
      atMs = cached?.atMs;
    }
    if (this.#renewalHints.size > 100_000) this.#renewalHints.clear();
    this.#renewalHints.set(info.serialHex, { ...(atMs !== undefined ? { atMs } : {}), askAgainMs });
    return atMs;
  }

  /** When the CA is to be asked again for the renewal window of the certificate in `input`. */
  #renewalHintRecheck(input: PolicyInput): number | undefined {
    const serial = input.contents?.cert?.serialHex;
    const cached = serial === undefined ? undefined : this.#renewalHints.get(serial);
    // Only for a window the CA gave: one it did not answer is asked again at the next pass.
    return cached?.atMs === undefined ? undefined : cached.askAgainMs;
  }

  #jitterFraction(serialHex: string): number {
    let fraction = this.#jitter.get(serialHex);
    if (fraction === undefined) {
      fraction = this.#d.random.float();
      if (this.#jitter.size > 100_000) this.#jitter.clear();
      this.#jitter.set(serialHex, fraction);
    }
    return fraction;
  }

  #nextWake(input: PolicyInput): number | undefined {
    const cert = input.contents?.cert;
    if (cert === undefined) return undefined;
    const expiry = cert.notAfterMs + 1;
    const renewal = renewalTimeFor(input);
    if (renewal === undefined) return expiry > input.now ? expiry : undefined;
    // The CA's suggested instant is already a random point of its window.
    if (renewal === input.renewalHintMs) return min(renewal, expiry > input.now ? expiry : undefined);
    const fraction = this.#jitterFraction(cert.serialHex);
    const jittered = renewal + renewalJitterMs({ notBeforeMs: cert.notBeforeMs, notAfterMs: cert.notAfterMs, renewBeforeMs: input.spec.renewBeforeMs, renewBeforePercentage: input.spec.renewBeforePercentage }, fraction);
    return min(jittered, expiry > input.now ? expiry : undefined);
  }

  async #writeReadiness(cert: Certificate, spec: ResolvedSpec, input: PolicyInput, notReady: Violation | undefined): Promise<Certificate> {
    return this.#writeStatus(cert, this.#readinessStatus(cert, cert.status, spec, input, notReady));
  }

  /**
   * `base` with the Ready condition, notBefore/notAfter and renewalTime that `input` implies; also
   * updates the metrics. Pure apart from the metrics, so callers can fold it into another write.
   */
  #readinessStatus(cert: Certificate, base: CertificateStatus | undefined, spec: ResolvedSpec, input: PolicyInput, notReady: Violation | undefined): CertificateStatus {
    const info = input.contents?.cert;
    const renewal = renewalTimeFor(input);
    const status: CertificateStatus = {
      ...base,
      conditions: setCondition(
        base?.conditions,
        notReady === undefined
          ? { type: "Ready", status: "True", reason: REASON.ready, message: READY_MESSAGE, ...gen(cert) }
          : { type: "Ready", status: "False", reason: notReady.reason, message: notReady.message, ...gen(cert) },
        this.#iso(input.now),
      ),
    };
    if (info !== undefined) {
      status.notBefore = this.#iso(info.notBeforeMs);
      status.notAfter = this.#iso(info.notAfterMs);
      if (renewal !== undefined) status.renewalTime = this.#iso(renewal);
      else delete status.renewalTime;
    } else {
      delete status.notBefore;
      delete status.notAfter;
      delete status.renewalTime;
    }
    this.#d.metrics?.observe(metricLabels(cert, spec), {
      ready: notReady === undefined ? "True" : "False",
      notBeforeMs: info?.notBeforeMs,
      notAfterMs: info?.notAfterMs,
      renewalTimeMs: renewal,
    });
    return status;
  }

  /**
   * cert-manager's shouldBackoffReissuingOnFailure: no back-off once the spec moved away from the
   * failed request. Stricter in one way: while the spec's generation is still the one the failure
   * was recorded at, the back-off holds whatever the request looks like. A request this engine
   * cannot read back (or one that never matched its own spec) otherwise looked like a changed
   * spec and skipped the back-off on every pass: a retry storm.
   */
  async #backoffUntil(cert: Certificate, spec: ResolvedSpec, requests: CertificateRequest[]): Promise<number | undefined> {
    const last = cert.status?.lastFailureTime;
    if (last === undefined) return undefined;
    const failedAt = getCondition(cert.status?.conditions, "Issuing")?.observedGeneration;
    const retryAt = nextIssuanceAttemptMs(Date.parse(last), cert.status?.failedIssuanceAttempts, this.#d.issuanceBackoff ?? DEFAULT_ISSUANCE_BACKOFF);
    if (failedAt !== undefined && failedAt === cert.metadata.generation) return retryAt;
    const next = requests.find((r) => requestRevision(r) === (cert.status?.revision ?? 0) + 1);
    // The spec was edited since a failure that left no request to compare (it failed before one was made).
    if (failedAt !== undefined && next === undefined) return undefined;
    if (next !== undefined) {
      let csr: ParsedCsr | undefined;
      try {
        csr = parseCsr(b64decode(next.spec.request));
      } catch {
        csr = undefined;
      }
      if (csr === undefined || requestMismatches(next, csr, cert.spec, spec).length > 0) return undefined;
    }
    return retryAt;
  }

  async #reapplySecretMetadata(cert: Certificate, spec: ResolvedSpec, secret: Secret | undefined, input: PolicyInput): Promise<void> {
    const info = input.contents?.cert;
    if (secret === undefined || info === undefined) return;
    const fixed = reapplyMetadata(secret, cert, spec, info);
    if (fixed === undefined) return;
    await this.#d.store.update<Secret>(SECRETS, fixed);
  }

  async #collectRevisions(cert: Certificate, spec: ResolvedSpec, requests: CertificateRequest[]): Promise<void> {
    const revision = cert.status?.revision;
    if (revision === undefined) return;
    const old = requests
      .filter((r) => (requestRevision(r) ?? 0) <= revision)
      .sort((a, b) => (requestRevision(a) ?? 0) - (requestRevision(b) ?? 0));
    const excess = old.length - spec.revisionHistoryLimit;
    for (const r of old.slice(0, Math.max(0, excess))) await this.#deleteRequest(cert, r);
  }

  // ---------------------------------------------------------------- issuing

  async #issue(cert: Certificate, spec: ResolvedSpec, secret: Secret | undefined, requests: CertificateRequest[]): Promise<number | undefined> {
    const revision = (cert.status?.revision ?? 0) + 1;
    const since = Date.parse(getCondition(cert.status?.conditions, "Issuing")?.lastTransitionTime ?? "") || this.#now();
    // A spec validation would refuse (Kubernetes mode has no admission webhook) fails before a key is made.
    const tooLarge = certificateSizeProblem(cert.spec);
    if (tooLarge !== undefined) return this.#failIssuance(cert, spec, CR_REASON.failed, `spec.${tooLarge.path.join(".")}: ${tooLarge.message}`);
    const staged = await this.#ensureNextKey(cert, spec, secret);
    if (staged === undefined) return undefined; // rotationPolicy Never cannot proceed until the spec changes
    const current = staged.cert;
    const ensured = await this.#ensureRequest(current, spec, revision, staged.key, staged.secretName, requests, since);
    if ("failure" in ensured) return this.#failIssuance(current, spec, CR_REASON.failed, ensured.failure);
    let cr = ensured;
    if (requestState(cr) === "pending") {
      const signed = await this.#sign(current, cr, staged.keyPem);
      cr = signed.cr;
      if (signed.retryAt !== undefined) {
        if (signed.waitingFor !== undefined) await this.#noteWaiting(current, signed.waitingFor);
        return signed.retryAt;
      }
    }
    const state = requestState(cr);
    if (state !== "issued") {
      const cond = getCondition(cr.status?.conditions, state === "denied" ? "Denied" : state === "invalid" ? "InvalidRequest" : "Ready");
      return this.#failIssuance(current, spec, cond?.reason ?? CR_REASON.failed, cond?.message ?? "request failed");
    }
    await this.#completeIssuance(current, spec, cr, staged.key, since);
    // Run again at once: readiness, status dates and the renewal deadline follow from the new Secret.
    return this.#now();
  }

  async #ensureNextKey(cert: Certificate, spec: ResolvedSpec, target: Secret | undefined): Promise<{ cert: Certificate; key: KeyObject; keyPem: string; secretName: string } | undefined> {
    const ns = cert.metadata.namespace;
    const keyName = cert.status?.nextPrivateKeySecretName ?? nextKeySecretName(cert);
    let staged = await this.#d.store.get<Secret>(SECRETS, ns, keyName);
    if (staged !== undefined && staged.metadata.labels?.[LABEL.nextPrivateKey] !== "true") {
      throw new MeshsignError("ERR_CONFLICT", `Secret "${ns}/${keyName}" exists and is not a staged private key`, { retry: "transient" });
    }
    let key: KeyObject | undefined;
    let keyPem: string | undefined;
    const stagedId = `${ns ?? ""}/${keyName}`;
    if (staged !== undefined) {
      keyPem = b64decode(staged.data?.["tls.key"]);
      const known = this.#stagedKeys.get(stagedId);
      key = known !== undefined && known.pem === keyPem ? known.key : parsePrivateKey(keyPem);
      if (key === undefined || !keyMatchesSpec(key, spec)) {
        this.#d.events.record(cert, "Normal", "Deleted", "Regenerating private key due to change in fields");
        await this.#d.store.delete(SECRETS, ns, keyName).catch(ignoreNotFound);
        this.#stagedKeys.delete(stagedId);
        staged = undefined;
        key = undefined;
      }
    }
    if (staged === undefined || key === undefined) {
      if (spec.rotationPolicy === "Never" && target !== undefined) {
        const existing = parsePrivateKey(b64decode(target.data?.["tls.key"]));
        if (existing !== undefined && keyMatchesSpec(existing, spec)) {
          key = existing;
          this.#d.events.record(cert, "Normal", "Reused", `Reusing private key stored in existing Secret resource "${spec.secretName}"`);
        } else if (existing !== undefined) {
          await this.#writeStatus(cert, this.#cannotRegenerateKey(cert, cert.status));
          return undefined;
        } else if (b64decode(target.data?.["tls.key"]) !== "") {
          this.#d.events.record(cert, "Warning", "DecodeFailed", "Failed to decode private key stored in Secret - generating new key");
        }
      }
      const generated = key === undefined;
      if (key === undefined) key = await this.#generateKey(spec);
      keyPem = key.export({ format: "pem", type: "pkcs8" }).toString();
      const body: Secret = {
        apiVersion: "v1",
        kind: "Secret",
        type: "Opaque",
        metadata: {
          name: keyName,
          namespace: ns,
          labels: { [LABEL.nextPrivateKey]: "true", [LABEL.fao]: "true" },
          ownerReferences: [ownerRef(cert)],
        },
        data: { "tls.key": b64encode(keyPem) },
      };
      try {
        staged = await this.#d.store.create<Secret>(SECRETS, body);
        // Said once the key is stored (a refused write is reported by the reconcile error, not as "Stored").
        if (generated) this.#d.events.record(cert, "Normal", "Generated", `Stored new private key in temporary Secret resource "${keyName}"`);
        this.#stagedKeys.set(stagedId, { pem: keyPem, key });
        if (this.#stagedKeys.size > STAGED_KEYS_LIMIT) this.#stagedKeys.delete(this.#stagedKeys.keys().next().value ?? "");
      } catch (err) {
        if (!isMeshsignError(err, "ERR_ALREADY_EXISTS")) throw err;
        throw new MeshsignError("ERR_CONFLICT", "staged private key appeared concurrently", { retry: "transient", cause: err });
      }
    }
    let current = cert;
    if (cert.status?.nextPrivateKeySecretName !== keyName) {
      current = await this.#writeStatus(cert, { ...cert.status, nextPrivateKeySecretName: keyName });
    }
    return { cert: current, key, keyPem: keyPem ?? key.export({ format: "pem", type: "pkcs8" }).toString(), secretName: keyName };
  }

  async #ensureRequest(cert: Certificate, spec: ResolvedSpec, revision: number, key: KeyObject, keySecretName: string, requests: CertificateRequest[], issuingSince: number): Promise<CertificateRequest | { failure: string }> {
    const spki = spkiOf(key);
    let candidate: CertificateRequest | undefined;
    for (const cr of requests) {
      const rev = requestRevision(cr);
      if (rev === undefined) {
        await this.#deleteRequest(cert, cr);
        continue;
      }
      if (rev !== revision) continue;
      const state = requestState(cr);
      const failureTime = Date.parse(cr.status?.failureTime ?? "");
      if (state !== "pending" && state !== "issued" && (!Number.isFinite(failureTime) || failureTime <= issuingSince)) {
        await this.#deleteRequest(cert, cr);
        continue;
      }
      let csr: ParsedCsr | undefined;
      try {
        csr = parseCsr(b64decode(cr.spec.request));
      } catch {
        csr = undefined;
      }
      if (csr === undefined || !spki.equals(csr.publicKeySpki) || requestMismatches(cr, csr, cert.spec, spec).length > 0) {
        await this.#deleteRequest(cert, cr);
        continue;
      }
      candidate = cr;
    }
    if (candidate !== undefined) return candidate;

    const ns = cert.metadata.namespace ?? "";
    const name = requestName(cert, revision);
    let csrPem: string;
    try {
      csrPem = buildCsr(cert.spec, spec, key);
    } catch (err) {
      // The spec cannot be encoded: terminal for this generation, so it goes through the issuance back-off.
      return { failure: `Failed to build the CSR: ${errorMessage(err)}` };
    }
    const annotations: Record<string, string> = {};
    for (const [k, v] of Object.entries(cert.metadata.annotations ?? {})) if (COPIED(k)) annotations[k] = v;
    Object.assign(annotations, {
      [ANN.certificateRevision]: String(revision),
      [ANN.privateKeySecretName]: keySecretName,
      [ANN.certificateName]: cert.metadata.name ?? "",
    });
    const body: CertificateRequest = {
      apiVersion: "cert-manager.io/v1",
      kind: "CertificateRequest",
      metadata: { name, namespace: ns, annotations, labels: { ...(cert.metadata.labels ?? {}) }, ownerReferences: [ownerRef(cert)] },
      spec: {
        request: b64encode(csrPem),
        issuerRef: { ...spec.issuerRef },
        // Exact (Go's Duration.String, fractions kept): a rounded duration never matched the spec
        // again and re-issued on every pass.
        duration: formatGoDuration(spec.durationMs),
        isCA: spec.isCA,
        usages: [...spec.usages],
      },
    };
    let created: CertificateRequest;
    try {
      created = await this.#d.store.create<CertificateRequest>(CERTIFICATE_REQUESTS, body);
    } catch (err) {
      if (!isMeshsignError(err, "ERR_ALREADY_EXISTS")) {
        this.#d.events.record(cert, "Warning", "RequestFailed", `Failed to create CertificateRequest: ${errorMessage(err)}`);
        throw err;
      }
      // A request of this revision exists that the index did not know yet: index it and look again.
      this.#d.noteRequest(ns, cert.metadata.name ?? "", name, true);
      throw new MeshsignError("ERR_CONFLICT", `CertificateRequest "${name}" already exists`, { retry: "transient", cause: err });
    }
    this.#d.noteRequest(ns, cert.metadata.name ?? "", name, true);
    this.#d.events.record(cert, "Normal", "Requested", `Created new CertificateRequest resource "${name}"`);
    // Approval is written by #sign together with the issuer's first answer (one status write, not two).
    return created;
  }

  /**
   * The request's conditions with cert-manager's built-in approval added when
   * missing (the approver and the signer run in this one reconcile, so the
   * approval and the issuer's answer are written together).
   */
  #approved(cr: CertificateRequest, nowIso: string): Condition[] | undefined {
    const conds = cr.status?.conditions;
    if (getCondition(conds, "Approved") !== undefined || getCondition(conds, "Denied") !== undefined) return undefined;
    return setCondition(conds, { type: "Approved", status: "True", reason: CR_REASON.approved, message: APPROVED_MESSAGE }, nowIso);
  }

  /**
   * An issuer that answered pending (an ACME Order waiting for its
   * challenges, no solver for a name) says what it waits for on the
   * Certificate's Issuing condition too, so `meshsign status` shows it
   * without reading the request.
   */
  async #noteWaiting(cert: Certificate, waitingFor: string): Promise<void> {
    const issuing = getCondition(cert.status?.conditions, "Issuing");
    if (issuing === undefined || issuing.status !== "True") return;
    const base = (issuing.message ?? "").split(WAITING_SEPARATOR)[0] ?? "";
    const message = `${base}${WAITING_SEPARATOR}${waitingFor}`;
    if (issuing.message === message) return;
    await this.#writeStatus(cert, { ...cert.status, conditions: setCondition(cert.status?.conditions, { ...issuing, message }, this.#iso()) });
  }

  async #sign(cert: Certificate, cr: CertificateRequest, keyPem: string): Promise<{ cr: CertificateRequest; retryAt?: number; waitingFor?: string }> {
    const certKey = `${cert.metadata.namespace}/${cert.metadata.name}`;
    const ns = cr.metadata.namespace ?? "";
    const now = this.#now();
    const issuer = this.#d.registry.resolve(cr.spec.issuerRef, ns);
    let outcome: { kind: "issued"; chain: readonly string[]; ca?: string | undefined } | { kind: "pending"; reason: string; message: string; retryAt: number; fromIssuer?: boolean } | { kind: "failed"; reason: string; message: string };
    const transientRetry = (): number => {
      const n = (this.#transient.get(certKey) ?? 0) + 1;
      this.#transient.set(certKey, n);
      return now + exponentialDelayMs(n, this.#d.transientBackoff ?? DEFAULT_TRANSIENT_BACKOFF);
    };
    try {
      if (issuer === undefined) {
        const ref = cr.spec.issuerRef;
        throw new MeshsignError("ERR_ISSUER_NOT_FOUND", `Referenced "${ref.kind ?? "Issuer"}" not found: ${ref.kind === "ClusterIssuer" ? ref.name : `${ns}/${ref.name}`}`);
      }
      const status = issuer.status();
      if (!status.ready) {
        throw new MeshsignError("ERR_ISSUER_NOT_READY", `Referenced issuer is not ready: ${status.reason}: ${status.message}`, { retry: "transient" });
      }
      const csrPem = b64decode(cr.spec.request);
      const csr = parseRequestCsr(csrPem);
      const template = templateFromRequest(cr, csr, now);
      const result = await issuer.sign({
        requestId: `${ns}/${cr.metadata.name}`,
        csrPem,
        template,
        // Only the SelfSigned backend may see the private key (cert-manager reads it for that issuer only).
        ...(issuer.kind === "selfsigned" ? { privateKeyPem: keyPem } : {}),
      });
      if (result.status === "issued") outcome = { kind: "issued", chain: result.chain, ca: result.ca };
      // An issuer that only started (an Order placed) waits on nothing the Certificate should show yet:
      // its status write would be one more journal record per issuance, said again at the next answer.
      else outcome = { kind: "pending", reason: result.reason, message: result.message, retryAt: now + Math.max(1000, result.retryAfterMs), fromIssuer: result.started !== true };
    } catch (err) {
      const c = classifySignError(err);
      outcome = c.state === "pending" ? { kind: "pending", reason: c.reason, message: c.message, retryAt: transientRetry() } : { kind: "failed", reason: c.reason, message: c.message };
    }
    const nowIso = this.#iso(now);
    const approval = this.#approved(cr, nowIso);
    const conds = approval ?? cr.status?.conditions;
    // The approval's Event follows its write (the write may be refused).
    const approvedEvent = (updated: CertificateRequest): void => {
      if (approval !== undefined) this.#d.events.record(updated, "Normal", CR_REASON.approved, APPROVED_MESSAGE);
    };
    if (outcome.kind === "issued") {
      this.#transient.delete(certKey);
      const updated = await this.#d.store.updateStatus<CertificateRequest>(CERTIFICATE_REQUESTS, {
        ...cr,
        status: {
          ...cr.status,
          certificate: b64encode(outcome.chain.join("")),
          ...(outcome.ca !== undefined && outcome.ca !== "" ? { ca: b64encode(outcome.ca) } : {}),
          conditions: setCondition(conds, { type: "Ready", status: "True", reason: CR_REASON.issued, message: "Certificate fetched from issuer successfully" }, nowIso),
        },
      });
      approvedEvent(updated);
      this.#d.events.record(updated, "Normal", "CertificateIssued", "Certificate fetched from issuer successfully");
      return { cr: updated };
    }
    if (outcome.kind === "pending") {
      const message = outcome.message;
      const previous = getCondition(conds, "Ready");
      const next = setCondition(conds, { type: "Ready", status: "False", reason: CR_REASON.pending, message }, nowIso);
      let updated = cr;
      if (next !== conds || approval !== undefined) {
        updated = await this.#d.store.updateStatus<CertificateRequest>(CERTIFICATE_REQUESTS, { ...cr, status: { ...cr.status, conditions: next } });
        approvedEvent(updated);
        // Emitted only on a change, like cert-manager's Pending reasons.
        if (previous?.message !== message) this.#d.events.record(updated, "Normal", outcome.reason, message);
      }
      return { cr: updated, retryAt: outcome.retryAt, ...(outcome.fromIssuer ? { waitingFor: message } : {}) };
    }
    this.#transient.delete(certKey);
    const updated = await this.#d.store.updateStatus<CertificateRequest>(CERTIFICATE_REQUESTS, {
      ...cr,
      status: {
        ...cr.status,
        failureTime: nowIso,
        conditions: setCondition(conds, { type: "Ready", status: "False", reason: CR_REASON.failed, message: `${outcome.reason}: ${outcome.message}` }, nowIso),
      },
    });
    approvedEvent(updated);
    this.#d.events.record(updated, "Warning", outcome.reason, outcome.message);
    return { cr: updated };
  }

  /**
   * rotationPolicy Never and a key in the Secret the spec no longer accepts: nothing happens until
   * the spec or the Secret changes, and Issuing=False says why (an Event alone ages out, and left
   * Issuing=True with the trigger's reason as if issuance were under way). The Warning is recorded
   * when the condition first says it.
   */
  #cannotRegenerateKey(cert: Certificate, base: CertificateStatus | undefined): CertificateStatus {
    const message = "User intervention required: existing private key in Secret does not match requirements on Certificate resource, mismatching fields: [spec.privateKey], but cert-manager cannot create new private key as the Certificate's .spec.privateKey.rotationPolicy field is set to \"Never\". The private key may be manually deleted or the rotationPolicy changed";
    const issuing = getCondition(base?.conditions, "Issuing");
    if (issuing?.status !== "False" || issuing.reason !== REASON.cannotRegenerateKey) this.#d.events.record(cert, "Warning", REASON.cannotRegenerateKey, message);
    const status: CertificateStatus = {
      ...base,
      conditions: setCondition(base?.conditions, { type: "Issuing", status: "False", reason: REASON.cannotRegenerateKey, message, ...gen(cert) }, this.#iso()),
    };
    delete status.nextPrivateKeySecretName;
    return status;
  }

  async #failIssuance(cert: Certificate, spec: ResolvedSpec, crReason: string, crMessage: string): Promise<number | undefined> {
    const now = this.#now();
    const message = `The certificate request has failed to complete and will be retried: ${crMessage}`;
    const attempts = (cert.status?.failedIssuanceAttempts ?? 0) + 1;
    const status: CertificateStatus = {
      ...cert.status,
      conditions: setCondition(cert.status?.conditions, { type: "Issuing", status: "False", reason: crReason, message, ...gen(cert) }, this.#iso(now)),
      lastFailureTime: this.#iso(now),
      failedIssuanceAttempts: attempts,
    };
    delete status.nextPrivateKeySecretName;
    const updated = await this.#writeStatus(cert, status);
    await this.#deleteNextKey(updated);
    this.#d.events.record(updated, "Warning", issuingFailureReason(crReason), message);
    this.#d.onIssuanceFailure?.(updated, crReason, crMessage, attempts, nextIssuanceAttemptMs(now, attempts, this.#d.issuanceBackoff ?? DEFAULT_ISSUANCE_BACKOFF));
    this.#d.metrics?.countFailure(crReason, this.#d.registry.resolve(spec.issuerRef, cert.metadata.namespace ?? "")?.kind ?? "unknown");
    return now;
  }

  async #completeIssuance(cert: Certificate, spec: ResolvedSpec, cr: CertificateRequest, key: KeyObject, since: number): Promise<Certificate> {
    const ns = cert.metadata.namespace ?? "";
    const now = this.#now();
    const chainPem = splitPemChain(b64decode(cr.status?.certificate)).join("");
    const caPem = b64decode(cr.status?.ca);
    let problem: string | undefined;
    let info: ReturnType<typeof certInfo> | undefined;
    try {
      info = certInfo(chainPem);
      if (!info.spki.equals(spkiOf(key))) problem = "Issuer returned a certificate whose public key does not match the request";
      else if (info.notAfterMs <= now) problem = "Issuer returned a certificate that has already expired";
    } catch {
      problem = "Issuer returned a certificate that cannot be decoded";
    }
    if (problem !== undefined || info === undefined) {
      await this.#failIssuance(cert, spec, REASON.invalidCertificate, problem ?? "invalid certificate");
      return cert;
    }
    const existing = await this.#d.store.get<Secret>(SECRETS, ns, spec.secretName);
    const desired = buildSecret(existing, cert, spec, info, { keyPem: encodePrivateKey(key, spec.keyEncoding), chainPem, caPem: caPem === "" ? undefined : caPem });
    const stored = existing === undefined ? await this.#d.store.create<Secret>(SECRETS, desired) : await this.#d.store.update<Secret>(SECRETS, desired);
    if (this.#d.sink !== undefined) {
      const files: Record<string, Uint8Array> = {};
      for (const [k, v] of Object.entries(desired.data ?? {})) files[k] = Buffer.from(v, "base64");
      await this.#d.sink.publish({ namespace: ns, secretName: spec.secretName, certificateName: cert.metadata.name ?? "" }, files);
    }
    const status: CertificateStatus = {
      ...cert.status,
      revision: requestRevision(cr) ?? (cert.status?.revision ?? 0) + 1,
      conditions: removeCondition(cert.status?.conditions, "Issuing"),
    };
    delete status.lastFailureTime;
    delete status.failedIssuanceAttempts;
    delete status.nextPrivateKeySecretName;
    // The readiness the new Secret implies goes into the same write (the next pass finds it current).
    const issued: Certificate = { ...cert, status };
    const input = await this.#policyInput(issued, spec, stored, [cr], now);
    const updated = await this.#writeStatus(cert, this.#readinessStatus(issued, status, spec, input, evaluate(READINESS_CHAIN, input)));
    await this.#deleteNextKey(updated);
    this.#d.events.record(updated, "Normal", "Issuing", "The certificate has been successfully issued");
    this.#d.metrics?.observeIssuance(this.#d.registry.resolve(spec.issuerRef, ns)?.kind ?? "unknown", (now - since) / 1000);
    return updated;
  }

  // ---------------------------------------------------------------- helpers

  #secretConflict(cert: Certificate, spec: ResolvedSpec): string | undefined {
    const ns = cert.metadata.namespace ?? "";
    const all = this.#d.certificatesForSecret(ns, spec.secretName).filter((c) => c.deletionTimestamp === undefined);
    if (all.length <= 1) return undefined;
    // Oldest wins (creationTimestamp, then name), as cert-manager's CertificateOwnsSecret.
    const sorted = [...all].sort((a, b) => (a.creationTimestamp ?? "").localeCompare(b.creationTimestamp ?? "") || a.name.localeCompare(b.name));
    const owner = sorted[0];
    if (owner === undefined || owner.name === cert.metadata.name) return undefined;
    return `Secret "${spec.secretName}" is also the target of Certificate "${owner.name}", which owns it; this Certificate will not issue until the conflict is resolved`;
  }

  async #loadRequests(cert: Certificate): Promise<CertificateRequest[]> {
    const ns = cert.metadata.namespace ?? "";
    const out: CertificateRequest[] = [];
    for (const name of this.#d.requestNames(ns, cert.metadata.name ?? "")) {
      const cr = await this.#d.store.get<CertificateRequest>(CERTIFICATE_REQUESTS, ns, name);
      if (cr === undefined) {
        this.#d.noteRequest(ns, cert.metadata.name ?? "", name, false);
        continue;
      }
      const owner = cr.metadata.ownerReferences?.find((o) => o.kind === "Certificate");
      if (owner !== undefined && cert.metadata.uid !== undefined && owner.uid !== cert.metadata.uid) continue;
      out.push(cr);
    }
    return out;
  }

  async #deleteRequest(cert: Certificate, cr: CertificateRequest): Promise<void> {
    const ns = cr.metadata.namespace ?? "";
    await this.#d.store.delete(CERTIFICATE_REQUESTS, ns, cr.metadata.name ?? "").catch(ignoreNotFound);
    this.#d.noteRequest(ns, cert.metadata.name ?? "", cr.metadata.name ?? "", false);
  }

  async #deleteNextKey(cert: Certificate): Promise<void> {
    const ns = cert.metadata.namespace;
    const name = nextKeySecretName(cert);
    // Until a pass that is not issuing sees this deletion done (it fails on a full disk), it looks again.
    this.#orphanChecked.delete(`${ns ?? ""}/${cert.metadata.name ?? ""}`);
    this.#stagedKeys.delete(`${ns ?? ""}/${name}`);
    const s = await this.#d.store.get<Secret>(SECRETS, ns, name);
    if (s === undefined || s.metadata.labels?.[LABEL.nextPrivateKey] !== "true") return;
    await this.#d.store.delete(SECRETS, ns, name).catch(ignoreNotFound);
  }

  async #cleanupDeleted(namespace: string, name: string): Promise<void> {
    this.#d.metrics?.forget(namespace, name);
    this.forget(namespace, name);
    // Owned objects go with their owner (the store cascades); this is a best-effort fallback.
    for (const cr of this.#d.requestNames(namespace, name)) {
      await this.#d.store.delete(CERTIFICATE_REQUESTS, namespace, cr).catch(ignoreNotFound);
      this.#d.noteRequest(namespace, name, cr, false);
    }
    const keyName = nextKeySecretName({ apiVersion: "", kind: "", metadata: { name }, spec: { secretName: "", issuerRef: { name: "" } } });
    this.#stagedKeys.delete(`${namespace}/${keyName}`);
    const s = await this.#d.store.get<Secret>(SECRETS, namespace, keyName);
    if (s?.metadata.labels?.[LABEL.nextPrivateKey] === "true") await this.#d.store.delete(SECRETS, namespace, keyName).catch(ignoreNotFound);
  }

  async #writeStatus(cert: Certificate, status: CertificateStatus): Promise<Certificate> {
    if (JSON.stringify(status) === JSON.stringify(cert.status ?? {})) return cert;
    return this.#d.store.updateStatus<Certificate>(CERTIFICATES, { ...cert, status });
  }
}

function isIssuing(cert: Certificate): boolean {
  return getCondition(cert.status?.conditions, "Issuing")?.status === "True";
}

function gen(cert: Certificate): Pick<Condition, "observedGeneration"> {
  return cert.metadata.generation === undefined ? {} : { observedGeneration: cert.metadata.generation };
}

function min(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.min(a, b);
}

function ownerRef(cert: Certificate) {
  return { apiVersion: "cert-manager.io/v1", kind: "Certificate", name: cert.metadata.name ?? "", uid: cert.metadata.uid ?? "", controller: true, blockOwnerDeletion: true };
}

function metricLabels(cert: Certificate, spec: ResolvedSpec) {
  return { name: cert.metadata.name ?? "", namespace: cert.metadata.namespace ?? "", issuer_name: spec.issuerRef.name, issuer_kind: spec.issuerRef.kind, issuer_group: spec.issuerRef.group };
}

function ignoreNotFound(err: unknown): void {
  if (!isMeshsignError(err, "ERR_NOT_FOUND")) throw err;
}

function errorMessage(err: unknown): string {
  return err instanceof MeshsignError ? err.message : "internal error";
}

