import { MeshsignError } from "../../../errors/index.js";
import { apiError, type RequestContext } from "./api-error.js";

/** Bytes of a response body we are willing to buffer (a list of many Secrets can be large). */
export const MAX_RESPONSE_BYTES = 256 * 1024 * 1024;

/**
 * The parsed JSON body of a 2xx answer; a MeshsignError for anything else (the API's Status
 * mapped by {@link apiError}) or for a 2xx whose body is not JSON.
 */
export function jsonResponse<T>(status: number, body: Buffer, context: RequestContext): T {
  let parsed: unknown;
  try {
    parsed = body.length === 0 ? {} : JSON.parse(body.toString("utf8"));
  } catch (err) {
    if (status >= 200 && status < 300) {
      throw new MeshsignError("ERR_STORE_UNAVAILABLE", "the API server sent a malformed response", {
        detail: { method: context.method, path: context.path },
        cause: err,
        retry: "transient",
      });
    }
    parsed = {};
  }
  if (status >= 200 && status < 300) return parsed as T;
  throw apiError(status, parsed, context);
}
