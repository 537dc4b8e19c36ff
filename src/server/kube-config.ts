import { existsSync } from "node:fs";
import type { KubeConfig } from "@kubernetes/client-node";
import { MeshsignError } from "../errors/index.js";
import type { Config } from "./config.js";

/** Where a pod's service-account token is mounted (client-node's in-cluster config reads it on every call). */
export const IN_CLUSTER_TOKEN_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/**
 * The API server credentials: `--kubeconfig`, else the pod's in-cluster service account.
 * Either one that cannot work is refused here, naming the flag: client-node would otherwise throw
 * a bare "ENOENT ... open", a YAML parser excerpt or "No active cluster!", or (outside a pod)
 * point at `https://undefined:undefined` and fail at the first call with an unrelated message.
 */
export async function loadKubeConfig(config: Pick<Config, "kubeconfig">, env: NodeJS.ProcessEnv = process.env): Promise<KubeConfig> {
  const k8s = await import("@kubernetes/client-node");
  const kc = new k8s.KubeConfig();
  if (config.kubeconfig) {
    const file = config.kubeconfig;
    try {
      kc.loadFromFile(file);
    } catch (cause) {
      const code = (cause as NodeJS.ErrnoException).code;
      const why = code ? `cannot read it (${code})` : `not a kubeconfig: ${String((cause as Error).message ?? cause).split("\n")[0]}`;
      throw new MeshsignError("ERR_CONFIG_INVALID", `--kubeconfig ${file}: ${why}`, { cause });
    }
    if (kc.getCurrentCluster() === null) {
      throw new MeshsignError("ERR_CONFIG_INVALID", `--kubeconfig ${file}: its current-context names no cluster`);
    }
    return kc;
  }
  if (!env.KUBERNETES_SERVICE_HOST || !env.KUBERNETES_SERVICE_PORT) {
    throw new MeshsignError(
      "ERR_CONFIG_INVALID",
      "--kubeconfig: not given, and not running in a pod (KUBERNETES_SERVICE_HOST/PORT are unset): give the cluster's kubeconfig (--kubeconfig or MESHSIGN_KUBECONFIG)",
    );
  }
  if (!existsSync(IN_CLUSTER_TOKEN_FILE)) {
    throw new MeshsignError(
      "ERR_CONFIG_INVALID",
      `--kubeconfig: not given, and the pod has no service-account token at ${IN_CLUSTER_TOKEN_FILE} (automountServiceAccountToken: false?): mount one or give --kubeconfig`,
    );
  }
  kc.loadFromCluster();
  return kc;
}
