import { MeshsignError } from "../../errors/index.js";
import { isNamespaceName, isServiceAccountName } from "./kubernetes-names.js";

/**
 * The small part of the SPIFFE ID rules (spiffe/spiffe SPIFFE-ID.md §2) that
 * authentication needs: the trust domain, and Istio's
 * `spiffe://<td>/ns/<ns>/sa/<sa>` form. Kept private to authn so that this
 * module does not depend on the CSR-side SPIFFE parser.
 */

/** SPIFFE-ID.md §2.1: lowercase letters, digits, '.', '-', '_'; at most 255 bytes. */
const TRUST_DOMAIN = /^[a-z0-9._-]+$/;

export function isTrustDomain(value: string): boolean {
  return value.length > 0 && value.length <= 255 && TRUST_DOMAIN.test(value);
}

/** Throws ERR_CONFIG_INVALID (naming `key`) unless `value` is a valid trust domain. */
export function assertTrustDomain(value: string, key = "trustDomain"): string {
  if (!isTrustDomain(value)) {
    throw new MeshsignError(
      "ERR_CONFIG_INVALID",
      `${key}: ${JSON.stringify(value)} is not a valid SPIFFE trust domain`,
    );
  }
  return value;
}

/** `spiffe://<trustDomain>/ns/<namespace>/sa/<serviceAccount>`; names must already be valid. */
export function serviceAccountSpiffeId(
  trustDomain: string,
  namespace: string,
  serviceAccount: string,
): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}

export interface IstioIdentity {
  trustDomain: string;
  namespace: string;
  serviceAccount: string;
}

/**
 * Parses exactly `spiffe://<td>/ns/<ns>/sa/<sa>` (Istio's `ParseIdentity`,
 * with the names held to Kubernetes rules). Anything else is undefined.
 */
export function parseIstioSpiffeId(uri: string): IstioIdentity | undefined {
  const prefix = "spiffe://";
  if (!uri.startsWith(prefix) || uri.length > 2048) return undefined;
  const parts = uri.slice(prefix.length).split("/");
  if (parts.length !== 5 || parts[1] !== "ns" || parts[3] !== "sa") return undefined;
  const [trustDomain = "", , namespace = "", , serviceAccount = ""] = parts;
  if (!isTrustDomain(trustDomain) || !isNamespaceName(namespace) || !isServiceAccountName(serviceAccount)) {
    return undefined;
  }
  return { trustDomain, namespace, serviceAccount };
}
