/**
 * cert-manager's Vault issuer, signing CSRs with Vault's PKI secrets engine
 * (`POST /v1/<mount>/sign/<role>`, the same fields, paths, bodies and auth
 * endpoints as cert-manager's `internal/vault`), with three differences that
 * production asked for:
 *
 * - it logs in once per issuer, not once per signature (cert-manager #7097):
 *   {@link VaultSession} caches, renews and re-obtains the token;
 * - a transient Vault failure (sealed, standby, 5xx, 429, connection refused,
 *   timeout) is `retry: "transient"`, so a CertificateRequest stays Pending
 *   and is retried soon instead of failing into the 1 h back-off; Vault's
 *   refusals (403 on the role, a SAN the role forbids, an expired CA) are
 *   terminal and carry Vault's own error text;
 * - what Vault returns is checked (key, SANs, validity, chain) before it is
 *   accepted ({@link checkIssued}); a caller that checks the leaf itself
 *   (CreateCertificate, against the mesh roots) gets it with only the CA
 *   certificates checked, once per distinct value.
 *
 * Readiness is `GET /v1/sys/health` with cert-manager's code handling, checked
 * at build, after failures, when the status is read and has grown stale, and
 * on a period while someone watches it ({@link VaultIssuer.watchStatus}: the
 * Issuer's Ready condition follows Vault being sealed and unsealed without a
 * rebuild). {@link VaultIssuer.close} stops the timer and the connections.
 */
import { MeshsignError } from "../../errors/index.js";
import type { CertificateTemplate } from "../../pki/index.js";
import type { Issuer, IssuerStatus, SignRequest, SignResult } from "../issuer.js";
import type { VaultIssuerConfig } from "./config.js";
import { chainOfUncheckedLeaf, checkIssued } from "./lib/check-issued.js";
import { type VaultResponse, type VaultTransport, type VaultTransportOptions, vaultErrorText } from "./lib/http.js";
import { type TokenProvider, VaultSession } from "./lib/session.js";

/** Issuer Ready reasons, as cert-manager's Vault issuer sets them. */
export const VAULT_READY_REASONS = { verified: "VaultVerified", error: "VaultError" } as const;

/** How long a Ready / not-Ready status is trusted before the next read (or the watch timer) re-checks Vault. */
export const READY_RECHECK_MS = 15_000;
export const NOT_READY_RECHECK_MS = 5_000;

export interface VaultIssuerOptions {
  readonly config: VaultIssuerConfig;
  readonly transport: VaultTransport;
  /** The issuer's own login ({@link VaultSession}), or a token relayed from the process that holds it. */
  readonly session: TokenProvider;
  readonly now?: () => number;
  /** Health re-check periods while watched (defaults READY_RECHECK_MS / NOT_READY_RECHECK_MS). */
  readonly recheckMs?: { readonly ready: number; readonly notReady: number };
}

/**
 * What another meshsign process needs to call Vault as this issuer: the
 * parsed spec and the transport settings (TLS trust, client certificate and
 * key), and the session that owns the token. Never logged.
 */
export interface VaultShare {
  readonly config: VaultIssuerConfig;
  readonly transport: VaultTransportOptions;
  readonly session: VaultSession;
}

/** cert-manager's reading of `/v1/sys/health` codes. */
export function healthStatus(r: VaultResponse): IssuerStatus {
  if (r.kind === "transport")
    return {
      ready: false,
      reason: VAULT_READY_REASONS.error,
      message: `Vault health check failed: ${r.reason}`,
    };
  switch (r.status) {
    case 200:
    case 429: // unsealed standby
    case 472: // disaster-recovery secondary
    case 473: // performance standby
      return { ready: true, reason: VAULT_READY_REASONS.verified, message: "Vault verified" };
    case 501:
      return { ready: false, reason: VAULT_READY_REASONS.error, message: "Vault is not initialized" };
    case 503:
      return { ready: false, reason: VAULT_READY_REASONS.error, message: "Vault is sealed" };
    default:
      return {
        ready: false,
        reason: VAULT_READY_REASONS.error,
        message: `Vault health check returned unexpected HTTP ${r.status}`,
      };
  }
}

/** A whole-second duration as Go's time.Duration.String() writes it ("2160h0m0s", "1m30s", "45s"). */
export function goDuration(seconds: number): string {
  const s = Math.max(1, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  if (h > 0) return `${h}h${m}m${r}s`;
  if (m > 0) return `${m}m${r}s`;
  return `${r}s`;
}

function commonName(t: CertificateTemplate): string {
  for (const rdn of t.subject ?? []) for (const a of rdn) if (a.type === "2.5.4.3") return a.value;
  return "";
}

function pemOf(v: unknown): string | undefined {
  return typeof v === "string" && v.includes("-----BEGIN CERTIFICATE-----") ? v : undefined;
}

export class VaultIssuer implements Issuer {
  readonly kind = "vault";
  readonly #o: VaultIssuerOptions;
  readonly #now: () => number;
  #status: IssuerStatus = {
    ready: false,
    reason: VAULT_READY_REASONS.error,
    message: "Vault not checked yet",
  };
  #checkedAt = Number.NEGATIVE_INFINITY;
  #checking: Promise<IssuerStatus> | undefined;
  readonly #listeners = new Set<(status: IssuerStatus) => void>();
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: VaultIssuerOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  #recheckMs(): number {
    const r = this.#o.recheckMs ?? { ready: READY_RECHECK_MS, notReady: NOT_READY_RECHECK_MS };
    return this.#status.ready ? r.ready : r.notReady;
  }

  watchStatus(listener: (status: IssuerStatus) => void): () => void {
    this.#listeners.add(listener);
    this.#schedule();
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) {
        clearTimeout(this.#timer);
        this.#timer = undefined;
      }
    };
  }

  /** The next periodic health check, while watched (one timer, re-armed after each check). */
  #schedule(): void {
    if (this.#closed || this.#listeners.size === 0) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.refresh(), this.#recheckMs());
    this.#timer.unref();
  }

  close(): void {
    this.#closed = true;
    this.#listeners.clear();
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#o.session instanceof VaultSession) this.#o.session.close();
    this.#o.transport.close();
  }

  /** How other processes call Vault as this issuer with its token; undefined when it holds no session of its own. */
  share(): VaultShare | undefined {
    const session = this.#o.session;
    if (!(session instanceof VaultSession)) return undefined;
    return { config: this.#o.config, transport: this.#o.transport.settings, session };
  }

  /** Logins and renewals so far (one login serves many signatures). */
  get tokenStats(): { logins: number; renewals: number } {
    return { logins: this.#o.session.logins, renewals: this.#o.session.renewals };
  }

  status(): IssuerStatus {
    const age = this.#now() - this.#checkedAt;
    if (age > (this.#status.ready ? READY_RECHECK_MS : NOT_READY_RECHECK_MS)) void this.refresh();
    return this.#status;
  }

  /** Logs in (if needed) and checks Vault's health; the result becomes the status. Never throws. */
  refresh(): Promise<IssuerStatus> {
    this.#checking ??= this.#check().finally(() => {
      this.#checking = undefined;
    });
    return this.#checking;
  }

  async #check(): Promise<IssuerStatus> {
    let status: IssuerStatus;
    try {
      await this.#o.session.token();
      // sys/health never carries the namespace header (it is a root-namespace endpoint).
      status = healthStatus(await this.#o.transport.call({ method: "GET", path: "sys/health" }));
    } catch (err) {
      status = {
        ready: false,
        reason: VAULT_READY_REASONS.error,
        message: `Failed to initialize Vault client: ${err instanceof MeshsignError ? err.message : "unexpected error"}`,
      };
    }
    const previous = this.#status;
    this.#status = status;
    this.#checkedAt = this.#now();
    if (previous.ready !== status.ready || previous.message !== status.message) {
      for (const l of this.#listeners) l(status);
    }
    this.#schedule();
    return status;
  }

  async sign(request: SignRequest, signal?: AbortSignal): Promise<SignResult> {
    const t = request.template;
    const now = this.#now();
    const ttlS = (t.notAfter.getTime() - now) / 1000;
    if (ttlS < 1)
      throw new MeshsignError(
        "ERR_DURATION_INVALID",
        "the requested certificate would already have expired",
        { detail: { requestId: request.requestId } },
      );
    // The body cert-manager's Vault client sends (internal/vault/vault.go: Sign).
    const body = {
      common_name: commonName(t),
      alt_names: (t.dnsNames ?? []).join(","),
      ip_sans: (t.ipAddresses ?? []).join(","),
      uri_sans: (t.uris ?? []).join(","),
      ttl: goDuration(ttlS),
      csr: request.csrPem,
      exclude_cn_from_sans: "true",
    };
    const session = this.#o.session;
    const ns = this.#o.config.namespace;
    let token = await session.token(signal);
    let r = await this.#o.transport.call({
      method: "POST",
      path: this.#o.config.path,
      body,
      token,
      ...(ns !== undefined ? { namespace: ns } : {}),
      ...(signal ? { signal } : {}),
    });
    if (r.kind === "response" && r.status === 403 && session.canReobtain) {
      // The token was revoked or expired early: log in once more and retry once.
      session.invalidate(token);
      token = await session.token(signal);
      r = await this.#o.transport.call({
        method: "POST",
        path: this.#o.config.path,
        body,
        token,
        ...(ns !== undefined ? { namespace: ns } : {}),
        ...(signal ? { signal } : {}),
      });
    }
    const where = `Vault ${this.#o.config.path}`;
    if (r.kind === "transport") {
      void this.refresh();
      throw new MeshsignError("ERR_ISSUER_UNAVAILABLE", `${where}: ${r.reason}`, {
        retry: "transient",
        detail: { requestId: request.requestId },
      });
    }
    if (r.status !== 200) {
      const text = vaultErrorText(r.json, token);
      const why = `${where} failed to sign the certificate (HTTP ${r.status})${text !== "" ? `: ${text}` : ""}`;
      if (r.status >= 500 || r.status === 429) {
        void this.refresh();
        throw new MeshsignError(
          "ERR_ISSUER_UNAVAILABLE",
          r.status === 503 ? `${where}: Vault is sealed or unavailable (HTTP 503)` : why,
          { retry: "transient", detail: { requestId: request.requestId } },
        );
      }
      throw new MeshsignError("ERR_ISSUER_REJECTED", why, {
        retry: "terminal",
        detail: { requestId: request.requestId },
      });
    }
    const data =
      typeof r.json === "object" && r.json !== null
        ? (r.json as { data?: Record<string, unknown> }).data
        : undefined;
    const leaf = pemOf(data?.certificate);
    if (data === undefined || leaf === undefined)
      throw new MeshsignError("ERR_CHAIN_INVALID", `${where} answered without a certificate`, {
        detail: { requestId: request.requestId },
      });
    const cas = [...(Array.isArray(data.ca_chain) ? data.ca_chain : []), data.issuing_ca]
      .map(pemOf)
      .filter((p): p is string => p !== undefined);
    const bundle = { certificate: leaf, caCertificates: cas };
    if (request.leafCheckedByCaller === true) return { status: "issued", ...chainOfUncheckedLeaf(bundle) };
    const checked = checkIssued(bundle, t, new Date(this.#now()));
    return { status: "issued", chain: checked.chain, ca: checked.ca };
  }
}
