import type { ResourceType } from "../../types.js";

/** Path prefix of a resource type's API group: /api/v1 or /apis/<group>/<version>. */
export function groupVersionPath(type: ResourceType): string {
  return type.group === "" ? `/api/${type.version}` : `/apis/${type.group}/${type.version}`;
}

/** The apiVersion field value of a resource type: v1 or <group>/<version>. */
export function apiVersionOf(type: ResourceType): string {
  return type.group === "" ? type.version : `${type.group}/${type.version}`;
}

/**
 * Collection path of `type`, in `namespace` for namespaced kinds (all
 * namespaces when absent), e.g. /apis/cert-manager.io/v1/namespaces/a/certificates.
 */
export function collectionPath(type: ResourceType, namespace: string | undefined): string {
  const ns = type.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : "";
  return `${groupVersionPath(type)}${ns}/${type.plural}`;
}

/** Path of one object, optionally one of its subresources (status). */
export function objectPath(
  type: ResourceType,
  namespace: string | undefined,
  name: string,
  subresource?: "status",
): string {
  const base = `${collectionPath(type, namespace)}/${encodeURIComponent(name)}`;
  return subresource ? `${base}/${subresource}` : base;
}
