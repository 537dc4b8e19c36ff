/**
 * A remote workload issuer: `--issuer-name` (or istio-csr's runtime issuance
 * ConfigMap) naming a Vault Issuer/ClusterIssuer. It is read from the store
 * (standalone: a ClusterIssuer from `--manifests`; Kubernetes: the API
 * server), built by the same issuer registry the engine uses, and wrapped in
 * a {@link GuardedIssuer} so a Vault outage answers UNAVAILABLE fast. The
 * mesh roots are `--root-ca-file`, else the root-most certificate Vault
 * returns with a signature.
 *
 * It is built in the primary process, which holds its one login; with
 * CreateCertificate workers, each worker calls Vault itself with the token
 * the primary shares (`share`, worker-vault.ts). A change to the issuer's
 * spec or to one of its Secrets builds a new instance and hands it to
 * `onChange`.
 */
import { readFileSync } from "node:fs";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { CLUSTER_ISSUERS, ISSUERS, SECRETS } from "../api/types.js";
import { buildSvidTemplate } from "../authz/index.js";
import { MeshsignError } from "../errors/index.js";
import type { Issuer } from "../issuers/issuer.js";
import { VaultIssuer, type VaultShare } from "../issuers/vault/index.js";
import { createDefaultIssuerRegistry, type IssuerResourceLike } from "../issuers/registry.js";
import { type SharedIssuers, sharedInstanceOf } from "../issuers/instance-pool.js";
import { buildCsr, generateKeySync, publicKeySpki } from "../pki/keys.js";
import type { KubeObject, Store, Watch } from "../store/types.js";
import type { Config } from "./config.js";
import { type RemoteSigning, rootsBundle } from "./csr-stack.js";
import type { IssuerReference } from "./kube-ca.js";
import { guardRemoteIssuer } from "./remote-guard.js";
import { kubeServiceAccountTokens } from "./kube-token-request.js";

/** Spec keys of issuers that sign remotely (the others sign in-process). */
const REMOTE_SPEC_KEYS = ["vault"] as const;

interface IssuerObject extends KubeObject {
  spec?: Record<string, unknown>;
}

interface SecretObject extends KubeObject {
  data?: Record<string, string>;
}

/** A built remote issuer; `close` releases it when it is replaced. */
export interface RemoteWorkloadIssuer extends RemoteSigning {
  /** Namespace and names of the Secrets it reads (a change rebuilds it). */
  readonly secretNamespace: string;
  readonly secretNames: readonly string[];
  /** How CreateCertificate workers call the same Vault with this instance's token. */
  readonly share: VaultShare | undefined;
  close(): void;
}

function describeRef(ref: IssuerReference): string {
  return `${ref.kind} ${ref.kind === "Issuer" ? `${ref.namespace}/` : ""}${ref.name}`;
}

/** Whether the referenced issuer signs remotely; undefined when it does not exist. */
export async function isRemoteIssuer(store: Store, ref: IssuerReference): Promise<boolean | undefined> {
  const resource = await readIssuer(store, ref);
  if (resource === undefined) return undefined;
  return REMOTE_SPEC_KEYS.some((k) => resource.spec?.[k] !== undefined && resource.spec?.[k] !== null);
}

/**
 * Why an ACME issuer is refused as the workload issuer (`--issuer-name`, the runtime issuance
 * ConfigMap): said once, for both modes.
 */
export function acmeWorkloadIssuerError(where: string): MeshsignError {
  return new MeshsignError(
    "ERR_CONFIG_INVALID",
    `${where} is an ACME issuer: public ACME CAs do not issue SPIFFE SVIDs, so it cannot sign workload certificates (CreateCertificate); name a CA issuer here and use the ACME issuer for gateway Certificates`,
  );
}

/**
 * Refuses, at start-up, a workload issuer that is an ACME issuer. Standalone reads it from
 * `--manifests`; without this, the serving certificate would wait forever for an ACME order.
 */
export async function refuseAcmeWorkloadIssuer(store: Store, ref: IssuerReference): Promise<void> {
  const resource = await readIssuer(store, ref);
  if (resource?.spec?.acme !== undefined && resource.spec.acme !== null)
    throw acmeWorkloadIssuerError(describeRef(ref));
}

async function readIssuer(store: Store, ref: IssuerReference): Promise<IssuerObject | undefined> {
  if (ref.group !== "cert-manager.io") return undefined;
  return ref.kind === "ClusterIssuer"
    ? store.get<IssuerObject>(CLUSTER_ISSUERS, undefined, ref.name)
    : store.get<IssuerObject>(ISSUERS, ref.namespace, ref.name);
}

/**
 * Builds the remote issuer named by `ref` and learns its mesh roots; throws
 * (naming the issuer and what is wrong) when it does not exist, is not a
 * remote issuer, or is not Ready.
 */
export async function buildRemoteWorkloadIssuer(options: {
  store: Store;
  ref: IssuerReference;
  config: Config;
  log: Logger;
  metrics: Registry;
  /** The process's pool of issuer instances: the engine's instance of the same issuer is used, not a second one. */
  sharedIssuers?: SharedIssuers;
}): Promise<RemoteWorkloadIssuer> {
  const { store, ref, config, log } = options;
  const where = describeRef(ref);
  const resource = await readIssuer(store, ref);
  if (resource === undefined)
    throw new MeshsignError("ERR_ISSUER_NOT_FOUND", `${where} (${ref.group}) does not exist`, {
      retry: "transient",
    });
  if (!REMOTE_SPEC_KEYS.some((k) => resource.spec?.[k] !== undefined)) {
    throw new MeshsignError("ERR_CONFIG_INVALID", `${where} is not a Vault issuer`);
  }
  const registry = createDefaultIssuerRegistry({
    clusterResourceNamespace: config.clusterResourceNamespace,
    ...(config.mode === "kubernetes"
      ? { requestServiceAccountToken: await kubeServiceAccountTokens(config) }
      : {}),
    ...(options.sharedIssuers !== undefined ? { shared: options.sharedIssuers } : {}),
  });
  const like: IssuerResourceLike = {
    kind: ref.kind,
    metadata: { name: ref.name, namespace: ref.namespace },
    spec: resource.spec ?? {},
  };
  const ns = registry.secretNamespaceOf(like);
  const built = await registry.build(like, async (name) => {
    const s = await store.get<SecretObject>(SECRETS, ns, name);
    if (s === undefined) return undefined;
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(s.data ?? {})) out[k] = Buffer.from(v, "base64").toString("utf8");
    return out;
  });
  const inner = built.issuer;
  const status = inner.status();
  if (!status.ready) {
    inner.close?.();
    throw new MeshsignError("ERR_ISSUER_NOT_READY", `${where} is not ready: ${status.message}`, {
      retry: "transient",
    });
  }
  const origin = `Vault ${where}`;
  const issuer = guardRemoteIssuer(inner, { origin, where, log, metrics: options.metrics });
  let rootsPem: string;
  try {
    rootsPem = config.rootCaFile
      ? rootsBundle(readFileSync(config.rootCaFile, "utf8"), `--root-ca-file ${config.rootCaFile}`)
      : await issuerRoot(inner, config.trustDomain, origin);
  } catch (err) {
    inner.close?.();
    throw err;
  }
  return {
    issuer,
    rootsPem,
    origin,
    secretNamespace: ns,
    secretNames: built.secretNames,
    share: shareOf(inner),
    close: () => inner.close?.(),
  };
}

/** How workers call the same Vault with the token of `issuer` (the shared instance's, when pooled). */
function shareOf(issuer: Issuer): VaultShare | undefined {
  const instance = sharedInstanceOf(issuer);
  return instance instanceof VaultIssuer ? instance.share() : undefined;
}

/** The root-most certificate the issuer returns with a throwaway SVID: the mesh root without `--root-ca-file`. */
async function issuerRoot(issuer: Issuer, trustDomain: string, origin: string): Promise<string> {
  const key = generateKeySync({ type: "ec", curve: "P-256" });
  const identity = `spiffe://${trustDomain}/ns/meshsign-system/sa/self-test`;
  const now = Date.now();
  const template = buildSvidTemplate(identity, publicKeySpki(key), {
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 5 * 60_000),
  });
  const result = await issuer
    .sign({ requestId: "roots", csrPem: buildCsr(key, { uris: [identity] }), template })
    .catch((err: unknown) => {
      throw new MeshsignError(
        "ERR_ISSUER_NOT_READY",
        `${origin} could not sign to name its root: ${err instanceof MeshsignError ? err.message : "unexpected error"}`,
        { cause: err, retry: "transient" },
      );
    });
  if (result.status !== "issued" || result.ca === undefined) {
    throw new MeshsignError(
      "ERR_ISSUER_NOT_READY",
      `${origin} returned no CA certificate to use as the mesh root; set --root-ca-file`,
    );
  }
  return rootsBundle(result.ca, `the root returned by ${origin}`);
}

/**
 * Calls `onChange` whenever the spec of the issuer named by `ref`, or the
 * data of a Secret it reads, changes after start (the caller rebuilds).
 */
export function watchRemoteIssuer(
  store: Store,
  ref: IssuerReference,
  built: Pick<RemoteWorkloadIssuer, "secretNamespace" | "secretNames">,
  onChange: () => void,
): Watch {
  let synced = false;
  const seen = new Map<string, string>();
  const changed = (key: string, value: string) => {
    const before = seen.get(key);
    seen.set(key, value);
    if (synced && before !== value) onChange();
  };
  const issuers = ref.kind === "ClusterIssuer" ? CLUSTER_ISSUERS : ISSUERS;
  const a = store.watch<IssuerObject>(issuers, (e) => {
    if (e.object.metadata.name !== ref.name) return;
    if (ref.kind === "Issuer" && e.object.metadata.namespace !== ref.namespace) return;
    changed("issuer", e.type === "DELETED" ? "" : JSON.stringify(e.object.spec ?? {}));
  });
  const b = store.watch<SecretObject>(
    SECRETS,
    (e) => {
      const name = e.object.metadata.name ?? "";
      if (built.secretNames.includes(name))
        changed(`secret/${name}`, e.type === "DELETED" ? "" : JSON.stringify(e.object.data ?? {}));
    },
    { namespace: built.secretNamespace },
  );
  const all = Promise.all([a.synced, b.synced]).then(() => {
    synced = true;
  });
  return {
    synced: all,
    stop: () => {
      a.stop();
      b.stop();
    },
  };
}
