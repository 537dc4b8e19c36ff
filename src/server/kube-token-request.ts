import type { ServiceAccountTokenRequester } from "../issuers/registry.js";
import type { Config } from "./config.js";
import { loadKubeConfig } from "./kube-config.js";

/**
 * Kubernetes mode: the TokenRequest API (`POST .../serviceaccounts/<name>/token`)
 * for issuers that log in as a service account (Vault `serviceAccountRef`).
 * meshsign's own service account needs `create` on `serviceaccounts/token`
 * for the named accounts. The token is returned to the caller only, never
 * logged or stored.
 */
export async function kubeServiceAccountTokens(
  config: Pick<Config, "kubeconfig">,
): Promise<ServiceAccountTokenRequester> {
  const k8s = await import("@kubernetes/client-node");
  const core = (await loadKubeConfig(config)).makeApiClient(k8s.CoreV1Api);
  return async ({ namespace, name, audiences, expirationSeconds }) => {
    const r = await core.createNamespacedServiceAccountToken({
      name,
      namespace,
      body: {
        apiVersion: "authentication.k8s.io/v1",
        kind: "TokenRequest",
        spec: { audiences: [...audiences], expirationSeconds },
      },
    });
    const token = r.status?.token;
    if (token === undefined || token === "")
      throw new Error(`the TokenRequest for ${namespace}/${name} returned no token`);
    return token;
  };
}
