import { readFileSync } from "node:fs";
import type { Logger } from "pino";
import { MeshsignError } from "../errors/index.js";
import { splitPemBundle } from "../pki/index.js";
import type { Config } from "./config.js";
import { rootsBundle, type CaMaterial } from "./csr-stack.js";
import { createRootCa } from "./data-dir.js";
import { loadKubeConfig } from "./kube-config.js";
import { ROOT_CA_SECRET } from "./mesh-ca-issuer.js";
import { acmeWorkloadIssuerError } from "./workload-issuer.js";


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
  if (config.issuerName) {
    const named = await issuerCa(config, kc, core, {
      name: config.issuerName,
      kind: config.issuerKind,
      group: config.issuerGroup,
      namespace: config.issuerNamespace,
    });
    // A Vault issuer signs workload certificates remotely (workload-issuer.ts); meshsign's own CA stays for the rest.
    if (named !== undefined) return named;
    return { ...(await loadOrCreateKubeCa({ ...config, issuerName: "" }, log)), workloadIssuerRemote: true };
  }
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

/**
 * `--issuer-name`: workload certificates are signed by the key pair of a CA
 * Issuer/ClusterIssuer's Secret (istio-csr's issuerRef, served in-process).
 * The roots are `--root-ca-file`, else the Secret's ca.crt, else the top of
 * its tls.crt chain.
 */
/** Which Issuer or ClusterIssuer signs workload certificates. */
export interface IssuerReference {
  readonly name: string;
  readonly kind: string;
  readonly group: string;
  /** Namespace of an Issuer (ignored for a ClusterIssuer). */
  readonly namespace: string;
}

/** The CA material of a CA Issuer/ClusterIssuer, for `--issuer-name` and runtime issuer selection. */
export async function loadIssuerCa(config: Config, ref: IssuerReference): Promise<CaMaterial> {
  const k8s = await import("@kubernetes/client-node");
  const kc = await loadKubeConfig(config);
  const material = await issuerCa(config, kc, kc.makeApiClient(k8s.CoreV1Api), ref);
  if (material === undefined) throw new MeshsignError("ERR_CONFIG_INVALID", `${ref.kind} ${ref.name} is a Vault issuer, which signs remotely, not in-process`);
  return material;
}

async function issuerCa(
  config: Config,
  kc: import("@kubernetes/client-node").KubeConfig,
  core: import("@kubernetes/client-node").CoreV1Api,
  want: IssuerReference,
): Promise<CaMaterial | undefined> {
  const k8s = await import("@kubernetes/client-node");
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const ref = `${want.kind} ${want.kind === "Issuer" ? `${want.namespace}/` : ""}${want.name}`;
  if (want.group !== "cert-manager.io" || (want.kind !== "Issuer" && want.kind !== "ClusterIssuer")) {
    throw new MeshsignError("ERR_CONFIG_INVALID", `${ref} (${want.group}): only cert-manager.io Issuers and ClusterIssuers sign in-process`);
  }
  let issuer: { spec?: { ca?: { secretName?: string }; vault?: unknown; acme?: unknown } };
  try {
    issuer = (want.kind === "ClusterIssuer"
      ? await custom.getClusterCustomObject({ group: want.group, version: "v1", plural: "clusterissuers", name: want.name })
      : await custom.getNamespacedCustomObject({ group: want.group, version: "v1", namespace: want.namespace, plural: "issuers", name: want.name })) as typeof issuer;
  } catch (err) {
    throw new MeshsignError("ERR_ISSUER_NOT_FOUND", `cannot read ${ref}`, { cause: err, retry: "transient" });
  }
  if (issuer.spec?.vault !== undefined && issuer.spec.vault !== null) return undefined;
  const secretName = issuer.spec?.ca?.secretName;
  if (issuer.spec?.acme !== undefined && issuer.spec.acme !== null) {
    throw acmeWorkloadIssuerError(ref);
  }
  if (!secretName) throw new MeshsignError("ERR_CONFIG_INVALID", `${ref} is neither a CA issuer (spec.ca.secretName) nor a Vault issuer (spec.vault); only those sign workload certificates`);
  const namespace = want.kind === "ClusterIssuer" ? config.clusterResourceNamespace : want.namespace;
  let secret: import("@kubernetes/client-node").V1Secret;
  try {
    secret = await core.readNamespacedSecret({ name: secretName, namespace });
  } catch (err) {
    throw new MeshsignError("ERR_ISSUER_NOT_READY", `${ref}: cannot read Secret ${namespace}/${secretName}`, { cause: err, retry: "transient" });
  }
  const data = secret.data ?? {};
  const decode = (k: string) => (data[k] ? Buffer.from(data[k], "base64").toString() : "");
  const cert = decode("tls.crt");
  const key = decode("tls.key");
  if (!cert || !key) throw new MeshsignError("ERR_ISSUER_NOT_READY", `${ref}: Secret ${namespace}/${secretName} lacks tls.crt or tls.key`);
  const chain = splitPemBundle(cert);
  const roots = config.rootCaFile ? readFileSync(config.rootCaFile, "utf8") : decode("ca.crt") || (chain.at(-1) ?? cert);
  return {
    certificatePem: cert,
    privateKeyPem: key,
    origin: `${ref} (secret ${namespace}/${secretName})`,
    rootsPem: rootsBundle(roots, config.rootCaFile ? `--root-ca-file ${config.rootCaFile}` : `${ref} ca.crt`),
  };
}
