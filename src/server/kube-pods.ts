import type { PodInfo, PodLookup } from "../authz/index.js";
import { PODS } from "../api/types.js";
import type { Store } from "../store/types.js";

interface PodObject {
  metadata: { name?: string; namespace?: string; uid?: string };
  spec?: { serviceAccountName?: string; nodeName?: string };
  status?: { phase?: string };
}

/**
 * Pods for the impersonation node authorizer, read from the API server on
 * demand (ztunnel asks once per workload identity on its node, so no cache of
 * every pod in the cluster is kept). Failed pods do not count, as in istiod.
 */
export function storePodLookup(store: Store): PodLookup {
  return {
    async getPod(namespace, name): Promise<PodInfo | undefined> {
      const pod = await store.get<PodObject & { apiVersion: string; kind: string }>(PODS, namespace, name);
      if (!pod) return undefined;
      return {
        namespace,
        name,
        uid: pod.metadata.uid ?? "",
        serviceAccount: pod.spec?.serviceAccountName ?? "",
        nodeName: pod.spec?.nodeName ?? "",
      };
    },
    async podsOnNode(namespace, serviceAccount, node): Promise<number> {
      const pods = await store.list<PodObject & { apiVersion: string; kind: string }>(PODS, { namespace });
      return pods.filter(
        (p) => p.spec?.serviceAccountName === serviceAccount && p.spec?.nodeName === node && p.status?.phase !== "Failed",
      ).length;
    },
  };
}
