/**
 * Kubernetes name rules for the two parts of a service-account identity. Both
 * character sets are subsets of the SPIFFE path-segment set `[a-zA-Z0-9.-_]`,
 * so a name that passes can go into a SPIFFE ID without escaping.
 */

/** DNS-1123 label: namespaces. */
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** DNS-1123 subdomain: service-account names. */
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function isNamespaceName(value: string): boolean {
  return value.length <= 63 && DNS1123_LABEL.test(value);
}

export function isServiceAccountName(value: string): boolean {
  return value.length <= 253 && DNS1123_SUBDOMAIN.test(value);
}

/**
 * Splits a Kubernetes service-account username `system:serviceaccount:<ns>:<sa>`.
 * Exactly four colon-separated parts with the fixed prefix and non-empty,
 * well-formed names; anything else is undefined.
 */
export function parseServiceAccountUsername(
  username: string,
): { namespace: string; serviceAccount: string } | undefined {
  const parts = username.split(":");
  if (parts.length !== 4 || parts[0] !== "system" || parts[1] !== "serviceaccount") return undefined;
  const namespace = parts[2] ?? "";
  const serviceAccount = parts[3] ?? "";
  if (!isNamespaceName(namespace) || !isServiceAccountName(serviceAccount)) return undefined;
  return { namespace, serviceAccount };
}
