/**
 * Validity rules for issued leaves (issue 2 "Validity"; reference §3.3 item 10
 * and §3.4): a requested duration of zero or less gets the default, one longer
 * than the maximum is clamped (istio-csr; istiod would refuse), the result
 * never ends after the signing CA does, and notBefore is back-dated to absorb
 * clock skew between meshsign and the workloads.
 */
import { MeshsignError } from "../errors/index.js";

/** istiod's DEFAULT_WORKLOAD_CERT_TTL and istio-agent's SECRET_TTL. */
export const DEFAULT_CERT_DURATION_MS = 24 * 3600_000;
/** Default maximum (issue 2: configurable, default 24h). */
export const DEFAULT_MAX_CERT_DURATION_MS = 24 * 3600_000;
/**
 * How far notBefore is back-dated: 2 minutes, istiod's ClockSkewGracePeriod.
 * It is enough for NTP-synced nodes and keeps the certificate's effective
 * lifetime close to what was asked.
 */
export const DEFAULT_BACKDATE_MS = 2 * 60_000;

export interface ValidityPolicy {
  /** Used when the request asks for <= 0. Default 24h. */
  readonly defaultMs?: number;
  /** Longer requests are clamped to this. Default 24h. */
  readonly maxMs?: number;
  /** notBefore = now - backdate. Default 2 minutes. */
  readonly backdateMs?: number;
}

export interface Validity {
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** True when notAfter was cut to the CA's notAfter. */
  readonly clampedToCa: boolean;
}

/**
 * Computes a leaf's validity window.
 *
 * @param requestedSeconds the request's validity_duration (seconds; may be <= 0, fractional or absurd)
 * @param now the injected clock's current time
 * @param caNotAfter the signing certificate's notAfter, if known
 * @throws MeshsignError ERR_ISSUER_NOT_READY when the CA has expired (nothing valid can be issued);
 *   ERR_DURATION_INVALID when the request is not a finite number.
 */
export function computeValidity(
  requestedSeconds: number | bigint,
  now: Date,
  caNotAfter?: Date,
  policy: ValidityPolicy = {},
): Validity {
  const def = policy.defaultMs ?? DEFAULT_CERT_DURATION_MS;
  const max = policy.maxMs ?? DEFAULT_MAX_CERT_DURATION_MS;
  const backdate = policy.backdateMs ?? DEFAULT_BACKDATE_MS;
  const n = typeof requestedSeconds === "bigint" ? clampBigint(requestedSeconds) : requestedSeconds;
  if (typeof n !== "number" || Number.isNaN(n)) {
    throw new MeshsignError("ERR_DURATION_INVALID", "validity duration must be a number of seconds");
  }
  const requestedMs = n * 1000;
  const durationMs = requestedMs <= 0 ? def : Math.min(requestedMs, max);
  const start = now.getTime();
  let end = start + durationMs;
  let clampedToCa = false;
  if (caNotAfter !== undefined) {
    const caEnd = caNotAfter.getTime();
    if (caEnd <= start) {
      throw new MeshsignError("ERR_ISSUER_NOT_READY", "signing CA certificate has expired", {
        retry: "transient",
      });
    }
    if (end > caEnd) {
      end = caEnd;
      clampedToCa = true;
    }
  }
  return {
    notBefore: new Date(start - backdate),
    notAfter: new Date(Math.floor(end / 1000) * 1000),
    clampedToCa,
  };
}

/** int64 seconds from protobuf arrive as bigint: anything beyond 2^53 is absurd and is clamped anyway. */
function clampBigint(v: bigint): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) return Number.MAX_SAFE_INTEGER;
  if (v < BigInt(Number.MIN_SAFE_INTEGER)) return Number.MIN_SAFE_INTEGER;
  return Number(v);
}
