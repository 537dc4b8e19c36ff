import { MeshsignError } from "../errors/index.js";
import type { AuthnInput } from "./types.js";

/** istio-csr's and istiod's default `--cluster-id`. */
export const DEFAULT_CLUSTER_ID = "Kubernetes";

/**
 * The cluster the caller claims to be in, read like Istio's `ExtractClusterID`:
 * the `clusterid` value when there is exactly one, otherwise `""`. So several
 * values (however they disagree) count as no claim at all; that is Istio's
 * behaviour and what its agents rely on.
 */
export function claimedClusterId(input: Pick<AuthnInput, "clusterId">): string {
  return input.clusterId.length === 1 ? (input.clusterId[0] ?? "") : "";
}

/**
 * Token authenticators validate tokens of the local cluster only (meshsign,
 * like istio-csr, knows no remote clusters). A caller that claims another
 * cluster is refused before its token is looked at.
 *
 * @throws MeshsignError ERR_CLUSTER_ID_MISMATCH when the claim is non-empty and differs.
 */
export function checkClusterId(input: Pick<AuthnInput, "clusterId">, localClusterId: string): void {
  const claimed = claimedClusterId(input);
  if (claimed !== "" && claimed !== localClusterId) {
    throw new MeshsignError(
      "ERR_CLUSTER_ID_MISMATCH",
      `client claims to be in cluster ${JSON.stringify(truncate(claimed))}, but only the local cluster ${JSON.stringify(localClusterId)} is known`,
      { detail: { claimedClusterId: truncate(claimed), localClusterId } },
    );
  }
}

/** A hostile client controls the claim; keep it short in messages and logs. */
function truncate(value: string): string {
  return value.length <= 64 ? value : `${value.slice(0, 64)}...`;
}
