import { CLUSTER_ISSUERS, SECRETS } from "../api/types.js";
import { isMeshsignError } from "../errors/index.js";
import type { KubeObject, ResourceType, Store } from "../store/types.js";
import type { CaMaterial } from "./csr-stack.js";
import type { Config } from "./config.js";

/** The ClusterIssuer over meshsign's own root CA, used for the control plane's certificates. */
export const MESH_CA_ISSUER = "meshsign-mesh-ca";
/** The Secret holding meshsign's own root CA (created by meshsign in Kubernetes mode). */
export const ROOT_CA_SECRET = "meshsign-root-ca";

/** The issuer of the control plane's certificates: `--issuer-name` when given, else the mesh CA. */
export function controlPlaneIssuerRef(config: Pick<Config, "issuerName" | "issuerKind" | "issuerGroup">): {
  name: string;
  kind: string;
  group: string;
} {
  return config.issuerName
    ? { name: config.issuerName, kind: config.issuerKind, group: config.issuerGroup }
    : { name: MESH_CA_ISSUER, kind: "ClusterIssuer", group: "cert-manager.io" };
}

/**
 * Makes the mesh CA ClusterIssuer exist (never overwriting a user's edit).
 * Standalone also mirrors the data dir's root key pair into the store's
 * Secret so the engine's CA issuer can read it; in Kubernetes mode that
 * Secret is the CA's home already.
 */
export async function ensureMeshCaIssuer(store: Store, config: Config, mirror?: CaMaterial): Promise<void> {
  if (mirror) {
    const data = {
      "tls.crt": Buffer.from(mirror.certificatePem).toString("base64"),
      "tls.key": Buffer.from(mirror.privateKeyPem).toString("base64"),
      "ca.crt": Buffer.from(mirror.certificatePem).toString("base64"),
    };
    const ns = config.clusterResourceNamespace;
    const existing = await store.get<KubeObject & { data?: Record<string, string> }>(SECRETS, ns, ROOT_CA_SECRET);
    if (!existing) {
      await createIfAbsent(store, SECRETS, {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: ROOT_CA_SECRET, namespace: ns, labels: { "app.kubernetes.io/managed-by": "meshsign" } },
        type: "kubernetes.io/tls",
        data,
      } as KubeObject);
    } else if (JSON.stringify(existing.data) !== JSON.stringify(data)) {
      await store.update(SECRETS, { ...existing, data });
    }
  }
  await createIfAbsent(store, CLUSTER_ISSUERS, {
    apiVersion: "cert-manager.io/v1",
    kind: "ClusterIssuer",
    metadata: { name: MESH_CA_ISSUER, labels: { "app.kubernetes.io/managed-by": "meshsign" } },
    spec: { ca: { secretName: ROOT_CA_SECRET } },
  } as KubeObject);
}

/** Creates the object unless it exists (users may have edited it: never overwrite). */
export async function createIfAbsent(store: Store, type: ResourceType, object: KubeObject): Promise<void> {
  try {
    await store.create(type, object);
  } catch (err) {
    if (!isMeshsignError(err, "ERR_ALREADY_EXISTS")) throw err;
  }
}
