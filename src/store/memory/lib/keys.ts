import { matchesLabelSelector } from "../../../api/label-selector.js";
import type { KubeObject, ListOptions, ResourceType } from "../../types.js";

/** Keys and small pure helpers shared by the in-memory core and the embedded backend. */

/** "cert-manager.io/certificates", "core/secrets". */
export function typeId(type: ResourceType): string {
  return `${type.group === "" ? "core" : type.group}/${type.plural}`;
}

/** "ns/name" for namespaced objects, "name" for cluster-scoped ones. */
export function objectKey(type: ResourceType, namespace: string | undefined, name: string): string {
  return type.namespaced ? `${namespace ?? ""}/${name}` : name;
}

export function apiVersionOf(type: ResourceType): string {
  return type.group === "" ? type.version : `${type.group}/${type.version}`;
}

/** Whether a list or watch with these options sees the object: its namespace, then its labels. */
export function matchesSelector(obj: KubeObject, options: ListOptions | undefined): boolean {
  if (options === undefined) return true;
  if (options.namespace !== undefined && obj.metadata.namespace !== options.namespace) return false;
  return options.labelSelector === undefined || matchesLabelSelector(options.labelSelector, obj.metadata.labels);
}

/** Everything except apiVersion, kind, metadata and status: a change here bumps metadata.generation. */
export function specOf(obj: KubeObject): string {
  const { apiVersion: _a, kind: _k, metadata: _m, status: _s, ...rest } = obj as KubeObject & { status?: unknown };
  return canonicalJson(rest);
}

export function statusOf(obj: KubeObject): string {
  return canonicalJson((obj as { status?: unknown }).status ?? null);
}

/** JSON with object keys sorted, so that equal objects compare equal whatever their key order. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (v === null || typeof v !== "object" || Array.isArray(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) sorted[k] = (v as Record<string, unknown>)[k];
    return sorted;
  });
}

const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/** Object names must be RFC 1123 subdomains: they become file names in the embedded store. */
export function isValidName(name: string): boolean {
  return name.length > 0 && name.length <= 253 && NAME.test(name) && !name.includes("..");
}

const GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"; // the API server's (no vowels, no confusables)

export function generateNameSuffix(random: () => number): string {
  let s = "";
  for (let i = 0; i < 5; i++) s += GENERATE_ALPHABET[Math.floor(random() * GENERATE_ALPHABET.length)];
  return s;
}

/** RFC 3339 with second precision, like metav1.Time. */
export function rfc3339(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "Z");
}
