import type { KubeConfig } from "@kubernetes/client-node";
import type { Config } from "./config.js";

/** The API server credentials: `--kubeconfig`, else the pod's in-cluster service account. */
export async function loadKubeConfig(config: Pick<Config, "kubeconfig">): Promise<KubeConfig> {
  const k8s = await import("@kubernetes/client-node");
  const kc = new k8s.KubeConfig();
  if (config.kubeconfig) kc.loadFromFile(config.kubeconfig);
  else kc.loadFromCluster();
  return kc;
}
