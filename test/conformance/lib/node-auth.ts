import { authorizeImpersonation, type PodInfo, type PodLookup } from "../../../src/authz/index.js";
import { isMeshsignError } from "../../../src/errors/index.js";

/** The pod fixture of Istio's and istio-csr's node authorizer tests. */
export interface Pod {
  readonly name: string;
  readonly namespace: string;
  readonly account: string;
  readonly node: string;
  readonly uid: string;
}

/** Istio's `security.KubernetesInfo` as those tests fill it. */
export interface KubernetesInfo {
  readonly PodName?: string;
  readonly PodNamespace?: string;
  readonly PodUID?: string;
  readonly PodServiceAccount?: string;
}

/** `pod.Identity()`: the SPIFFE ID in trust domain cluster.local. */
export const identityOf = (p: Pod) => `spiffe://cluster.local/ns/${p.namespace}/sa/${p.account}`;

/** A PodLookup over a fixed list, as the fake Kubernetes client of the upstream tests. */
export function podLookup(pods: readonly Pod[]): PodLookup {
  const info = (p: Pod): PodInfo => ({
    namespace: p.namespace,
    name: p.name,
    uid: p.uid,
    serviceAccount: p.account,
    nodeName: p.node,
  });
  return {
    getPod: async (namespace, name) => {
      const p = pods.find((x) => x.namespace === namespace && x.name === name);
      return p ? info(p) : undefined;
    },
    podsOnNode: async (namespace, serviceAccount, node) =>
      pods.filter((x) => x.namespace === namespace && x.account === serviceAccount && x.node === node).length,
  };
}

/** meshsign's answer to `authenticateImpersonation(caller, requested)`: undefined or the error message. */
export async function impersonationError(
  caller: KubernetesInfo,
  trusted: readonly string[],
  requested: string,
  pods: readonly Pod[],
): Promise<string | undefined> {
  try {
    await authorizeImpersonation(
      {
        caller: {
          namespace: caller.PodNamespace ?? "",
          serviceAccount: caller.PodServiceAccount ?? "",
          ...(caller.PodName ? { podName: caller.PodName } : {}),
          ...(caller.PodUID ? { podUid: caller.PodUID } : {}),
        },
        requestedIdentity: requested,
        trustedAccounts: new Set(trusted),
        trustDomain: "cluster.local",
      },
      podLookup(pods),
    );
    return undefined;
  } catch (err) {
    if (!isMeshsignError(err)) throw err;
    return err.message;
  }
}

/*
 * The fixtures Istio's node-authorizer tests share (and istio-csr's copy of them): a ztunnel pod
 * allowed to impersonate, a workload on its node and one on another node.
 */
export const allowZtunnel = ["istio-system/ztunnel"];
export const ztunnelPod: Pod = { name: "ztunnel-a", namespace: "istio-system", account: "ztunnel", uid: "12345", node: "zt-node" };
export const ztunnelCaller: KubernetesInfo = { PodName: "ztunnel-a", PodNamespace: "istio-system", PodUID: "12345", PodServiceAccount: "ztunnel" };
export const podSameNode: Pod = { name: "pod-a", namespace: "ns-a", account: "sa-a", uid: "1", node: "zt-node" };
export const podOtherNode: Pod = { name: "pod-b", namespace: "ns-a", account: "sa-a", uid: "2", node: "other-node" };
