import type { KubeObject, ResourceType } from "../store/types.js";
import { MeshsignError } from "../errors/index.js";
import { SCHEMAS } from "./lib/registry.js";
import { renderPath } from "./lib/rules.js";
import { resourceTypeFor } from "./types.js";

/** One failed rule, e.g. `{ path: "spec.privateKey.size", message: "must be either 256, 384 or 521 for ecdsa keyAlgorithm" }`. */
export interface FieldError {
  readonly path: string;
  readonly message: string;
}

export type ValidationResult =
  | { readonly ok: true; readonly type: ResourceType; readonly value: KubeObject }
  | {
      readonly ok: false;
      /**
       * `UnknownKind`: apiVersion/kind is not one meshsign validates (an Istio Gateway,
       * an Ingress...); callers such as the manifest loader skip it with a notice.
       * `Invalid`: a meshsign kind that breaks a rule.
       */
      readonly reason: "UnknownKind" | "Invalid";
      readonly errors: readonly FieldError[];
    };

/**
 * Validates any object against the schema of its apiVersion + kind, returning
 * every failed rule with its field path. On success `value` is the parsed
 * object (unknown fields pruned, as the API server prunes them for a
 * structural CRD); it is not defaulted (see applyCertificateDefaults).
 */
export function validateResource(obj: unknown): ValidationResult {
  if (typeof obj !== "object" || obj === null || Array.isArray(obj)) {
    return { ok: false, reason: "Invalid", errors: [{ path: "", message: "must be an object with apiVersion, kind and metadata" }] };
  }
  const { apiVersion, kind } = obj as { apiVersion?: unknown; kind?: unknown };
  const shapeErrors: FieldError[] = [];
  if (typeof apiVersion !== "string" || apiVersion === "") shapeErrors.push({ path: "apiVersion", message: "is required" });
  if (typeof kind !== "string" || kind === "") shapeErrors.push({ path: "kind", message: "is required" });
  if (shapeErrors.length > 0 || typeof apiVersion !== "string" || typeof kind !== "string") {
    return { ok: false, reason: "Invalid", errors: shapeErrors };
  }
  const type = resourceTypeFor(apiVersion, kind);
  const schema = type === undefined ? undefined : SCHEMAS.get(type);
  if (type === undefined || schema === undefined) {
    return { ok: false, reason: "UnknownKind", errors: [{ path: "kind", message: `not a meshsign kind: ${apiVersion} ${kind}` }] };
  }
  const parsed = schema.safeParse(obj);
  const errors: FieldError[] = parsed.success ? [] : parsed.error.issues.map((i) => ({ path: renderPath(i.path), message: i.message }));
  const value = (parsed.success ? parsed.data : obj) as KubeObject;
  const meta = (value as { metadata?: { name?: unknown; generateName?: unknown; namespace?: unknown } }).metadata;
  if (meta !== undefined && typeof meta === "object" && meta !== null) {
    if ((meta.name === undefined || meta.name === "") && (meta.generateName === undefined || meta.generateName === "")) {
      errors.push({ path: "metadata.name", message: "name or generateName is required" });
    }
    if (!type.namespaced && meta.namespace !== undefined && meta.namespace !== "") {
      errors.push({ path: "metadata.namespace", message: `${kind} is cluster-scoped and may not have a namespace` });
    }
  }
  if (errors.length > 0) return { ok: false, reason: "Invalid", errors };
  return { ok: true, type, value };
}

/** Like {@link validateResource} but returns the value or throws ERR_RESOURCE_INVALID listing every path. */
export function assertValidResource<T extends KubeObject = KubeObject>(obj: unknown): { type: ResourceType; value: T } {
  const result = validateResource(obj);
  if (result.ok) return { type: result.type, value: result.value as T };
  throw new MeshsignError("ERR_RESOURCE_INVALID", `${describe(obj)} is invalid: ${formatFieldErrors(result.errors)}`, { detail: { errors: result.errors } });
}

/** "spec.a: message; spec.b: message" */
export function formatFieldErrors(errors: readonly FieldError[]): string {
  return errors.map((e) => (e.path === "" ? e.message : `${e.path}: ${e.message}`)).join("; ");
}

function describe(obj: unknown): string {
  const o = (typeof obj === "object" && obj !== null ? obj : {}) as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } };
  const kind = typeof o.kind === "string" ? o.kind : "object";
  const name = typeof o.metadata?.name === "string" ? o.metadata.name : "";
  const ns = typeof o.metadata?.namespace === "string" ? `${o.metadata.namespace}/` : "";
  return name === "" ? kind : `${kind} ${ns}${name}`;
}

