import type { KubeObject } from "../store/types.js";

/**
 * Applies the API server's write-time normalization of core objects, so that
 * every Store backend and the manifest loader see the same stored shape:
 * a Secret's `stringData` is merged into `data` (base64, stringData wins, as
 * the API server does) and removed. Returns a new object when anything changed.
 */
export function normalizeObject<T extends KubeObject>(obj: T): T {
  if (obj.kind !== "Secret" || obj.apiVersion !== "v1") return obj;
  const secret = obj as T & { data?: Record<string, string>; stringData?: Record<string, string> };
  if (secret.stringData === undefined) return obj;
  const data: Record<string, string> = { ...(secret.data ?? {}) };
  for (const [k, v] of Object.entries(secret.stringData)) data[k] = Buffer.from(v, "utf8").toString("base64");
  const { stringData: _dropped, ...rest } = secret;
  return { ...rest, data } as T;
}
