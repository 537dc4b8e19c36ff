import { readFileSync } from "node:fs";
import type { Logger } from "pino";
import { MeshsignError } from "../errors/index.js";
import type { Config } from "./config.js";
import { rootsBundle, type CaMaterial } from "./csr-stack.js";
import { createRootCa } from "./data-dir.js";
import { loadKubeConfig } from "./kube-config.js";

/** Name of the Secret holding meshsign's self-created mesh root CA in Kubernetes mode. */
export const ROOT_CA_SECRET = "meshsign-root-ca";

/**
 * Kubernetes mode: the signing CA lives in the Secret
 * `<cluster-resource-namespace>/meshsign-root-ca` (type kubernetes.io/tls),
 * like istiod's `istio-ca-secret`. The first replica to start creates it;
 * the others (and later starts) read it. Creation is create-only, so two
 * replicas starting together agree on one CA: the loser of the race reads the
 * winner's Secret. `--root-ca-file` overrides the roots returned to clients
 * (a multi-root bundle for rotation).
 */
export async function loadOrCreateKubeCa(config: Config, log: Logger): Promise<CaMaterial> {
  const k8s = await import("@kubernetes/client-node");
  const kc = await loadKubeConfig(config);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const namespace = config.clusterResourceNamespace;
  const read = async () => {
    try {
      return await core.readNamespacedSecret({ name: ROOT_CA_SECRET, namespace });
    } catch (err) {
      if ((err as { code?: number }).code === 404) return undefined;
      throw new MeshsignError("ERR_STORE_UNAVAILABLE", `cannot read Secret ${namespace}/${ROOT_CA_SECRET}`, { cause: err, retry: "transient" });
    }
  };
  let secret = await read();
  if (!secret) {
    const created = await createRootCa({ algorithm: config.caKeyAlgorithm, durationMs: config.caDuration, trustDomain: config.trustDomain });
    const b64 = (s: string) => Buffer.from(s).toString("base64");
    try {
      secret = await core.createNamespacedSecret({
        namespace,
        body: {
          metadata: { name: ROOT_CA_SECRET, namespace, labels: { "app.kubernetes.io/managed-by": "meshsign" } },
          type: "kubernetes.io/tls",
          data: { "tls.crt": b64(created.certificatePem), "tls.key": b64(created.keyPem), "ca.crt": b64(created.certificatePem) },
        },
      });
      log.info({ secret: `${namespace}/${ROOT_CA_SECRET}` }, "created a new mesh root CA");
    } catch (err) {
      if ((err as { code?: number }).code !== 409) {
        throw new MeshsignError("ERR_STORE_UNAVAILABLE", `cannot create Secret ${namespace}/${ROOT_CA_SECRET}`, { cause: err, retry: "transient" });
      }
      secret = await read();
    }
  }
  const data = secret?.data ?? {};
  const cert = data["tls.crt"] ? Buffer.from(data["tls.crt"], "base64").toString() : "";
  const key = data["tls.key"] ? Buffer.from(data["tls.key"], "base64").toString() : "";
  if (!cert || !key) throw new MeshsignError("ERR_CONFIG_INVALID", `Secret ${namespace}/${ROOT_CA_SECRET} lacks tls.crt or tls.key`);
  const roots = config.rootCaFile ? readFileSync(config.rootCaFile, "utf8") : (data["ca.crt"] ? Buffer.from(data["ca.crt"], "base64").toString() : cert);
  return {
    certificatePem: cert,
    privateKeyPem: key,
    origin: `secret ${namespace}/${ROOT_CA_SECRET}`,
    rootsPem: rootsBundle(roots, config.rootCaFile ? `--root-ca-file ${config.rootCaFile}` : `Secret ${namespace}/${ROOT_CA_SECRET}`),
  };
}
