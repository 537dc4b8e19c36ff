/**
 * A CA's Retry-After, kept on the ACME resource it refused (an Order or a
 * Challenge) as the annotation {@link RETRY_AFTER_ANNOTATION}: nothing asks
 * the CA again before that instant, neither an early wake nor a restart
 * (a controller's memory is gone then, the annotation is not). The instant
 * is the later of the CA's time and the controller's own back-off, whole
 * seconds up: a CA answering every request "Retry-After: 1" is not asked
 * once a second.
 */
import type { MeshsignError } from "../../../errors/index.js";
import type { KubeObject } from "../../../store/types.js";

/** When the CA asked not to be asked again before (RFC 3339), set from its Retry-After. */
export const RETRY_AFTER_ANNOTATION = "acme.meshsign.io/retry-after";

/** A transient refusal that named a time: when to ask again, and the reason that says so. */
export interface RetryAfter {
  /** Milliseconds since the epoch, a whole second. */
  readonly at: number;
  /** The error's message and the CA's time, e.g. `... (the ACME server asks to retry after 2026-12-10T08:00:00Z)`. */
  readonly reason: string;
}

/** The instant of {@link RETRY_AFTER_ANNOTATION}, or undefined when absent or unreadable. */
export function retryAtOf(object: KubeObject): number | undefined {
  const v = object.metadata.annotations?.[RETRY_AFTER_ANNOTATION];
  const at = v === undefined ? Number.NaN : Date.parse(v);
  return Number.isNaN(at) ? undefined : at;
}

/**
 * The wait a transient error asks for (`detail.retryAfterMs`, from the CA's
 * Retry-After), measured from `failedAtMs` and held at least until
 * `backoffUntilMs`; undefined when the CA named no time.
 */
export function retryAfter(
  e: MeshsignError,
  failedAtMs: number,
  backoffUntilMs: number,
): RetryAfter | undefined {
  const hinted = e.detail.retryAfterMs;
  if (typeof hinted !== "number" || !Number.isFinite(hinted) || hinted <= 0) return undefined;
  const asked = failedAtMs + hinted;
  const at = Math.ceil(Math.max(asked, backoffUntilMs) / 1000) * 1000;
  const said = new Date(Math.ceil(asked / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
  return { at, reason: `${e.message} (the ACME server asks to retry after ${said})` };
}

/** `object` with {@link RETRY_AFTER_ANNOTATION} set to `at`, for the store's update. */
export function withRetryAt<T extends KubeObject>(object: T, at: number): T {
  return {
    ...object,
    metadata: {
      ...object.metadata,
      annotations: { ...object.metadata.annotations, [RETRY_AFTER_ANNOTATION]: new Date(at).toISOString() },
    },
  };
}
