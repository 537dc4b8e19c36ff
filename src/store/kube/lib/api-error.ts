import { MeshsignError } from "../../../errors/index.js";

/** The fields of a Kubernetes `Status` failure body that drive the mapping. */
interface StatusBody {
  readonly reason?: string;
  readonly message?: string;
  readonly code?: number;
}

/** What the failing request was, for the log (never bodies: they may hold Secret data). */
export interface RequestContext {
  readonly method: string;
  readonly path: string;
}

/**
 * Maps a failed API response to a MeshsignError: the one place where HTTP
 * status and `Status.reason` become store error codes.
 * - 404 -> ERR_NOT_FOUND; 409 AlreadyExists -> ERR_ALREADY_EXISTS;
 *   409 Conflict (stale resourceVersion) -> ERR_CONFLICT (the engine re-reads and retries)
 * - 400/422 -> ERR_RESOURCE_INVALID (terminal: the same object fails again)
 * - 401/403 -> ERR_STORE_UNAVAILABLE, terminal (credentials or RBAC must change)
 * - 410, 429, 5xx and anything else -> ERR_STORE_UNAVAILABLE, transient
 */
export function apiError(status: number, body: unknown, request: RequestContext): MeshsignError {
  const s: StatusBody = typeof body === "object" && body !== null ? (body as StatusBody) : {};
  const detail = {
    status,
    reason: s.reason,
    apiMessage: s.message,
    method: request.method,
    path: request.path,
  };
  switch (status) {
    case 404:
      return new MeshsignError("ERR_NOT_FOUND", "object not found", { detail });
    case 409:
      return s.reason === "AlreadyExists"
        ? new MeshsignError("ERR_ALREADY_EXISTS", "object already exists", { detail })
        : new MeshsignError("ERR_CONFLICT", "object was modified concurrently", {
            detail,
            retry: "transient",
          });
    case 400:
    case 422:
      return new MeshsignError("ERR_RESOURCE_INVALID", "the API server refused the object as invalid", {
        detail,
      });
    case 401:
    case 403:
      return new MeshsignError("ERR_STORE_UNAVAILABLE", "the API server refused meshsign's credentials", {
        detail,
      });
    default:
      return new MeshsignError("ERR_STORE_UNAVAILABLE", "the API server is unavailable", {
        detail,
        retry: "transient",
      });
  }
}

/** A request that got no HTTP answer (connection refused, reset, timeout). */
export function transportError(cause: unknown, request: RequestContext): MeshsignError {
  return new MeshsignError("ERR_STORE_UNAVAILABLE", "the API server is unreachable", {
    detail: { method: request.method, path: request.path },
    cause,
    retry: "transient",
  });
}
