/**
 * From an Issuer / ClusterIssuer resource to an {@link Issuer} instance.
 *
 * Backends register a factory under their spec key (`ca`, `selfSigned`,
 * `vault`, `acme`). A resource whose spec names no registered backend gets
 * an issuer that is not ready and says so, instead of failing silently.
 *
 * Scoping: an Issuer reads Secrets in its own namespace; a ClusterIssuer
 * reads them in the cluster resource namespace, which defaults to
 * `meshsign-system` (cert-manager's code default is `kube-system` and its Helm
 * chart uses the release namespace, a frequent confusion, #6215; meshsign
 * names it in every not-ready message instead).
 */
import type { AcmeRequestObservation } from "../acme/index.js";
import { MeshsignError } from "../errors/index.js";
import { createAcmeIssuerFactory } from "./acme/acme-issuer.js";
import type { AcmeOrderSigner } from "./acme/types.js";
import { CaIssuer } from "./ca/ca-issuer.js";
import type { SharedIssuers } from "./instance-pool.js";
import type { Issuer, IssuerStatus, SignResult } from "./issuer.js";
import { SelfSignedIssuer } from "./selfsigned/selfsigned-issuer.js";
import { vaultIssuerFactory } from "./vault/factory.js";

export const DEFAULT_CLUSTER_RESOURCE_NAMESPACE = "meshsign-system";

export type IssuerResourceKind = "Issuer" | "ClusterIssuer";

/** The parts of an Issuer/ClusterIssuer resource a factory reads. */
export interface IssuerResourceLike {
  readonly kind: string;
  readonly metadata: { readonly name?: string; readonly namespace?: string };
  readonly spec: Readonly<Record<string, unknown>>;
}

export interface IssuerBuildContext {
  /** Namespace whose Secrets this issuer reads (its own, or the cluster resource namespace). */
  readonly secretNamespace: string;
  /** Reads a Secret's data, base64-decoded to UTF-8; undefined when the Secret does not exist. */
  readSecret(name: string): Promise<Readonly<Record<string, string>> | undefined>;
  /** The current time in ms, the engine's clock (a CA refuses to sign once its certificate expired). */
  readonly now?: () => number;
  /** The resource being built (kind and name), for what names it, e.g. Vault's token audience. */
  readonly resource?: { readonly kind: string; readonly name: string; readonly namespace?: string };
  /**
   * A short-lived token of service account `name` in {@link secretNamespace}
   * through the Kubernetes TokenRequest API; absent where there is no API
   * server (standalone).
   */
  readonly requestServiceAccountToken?: ServiceAccountTokenRequester;
  /**
   * Creates a Secret in `secretNamespace` (ACME: the generated account key);
   * absent where nothing may be written.
   */
  createSecret?(
    name: string,
    data: Readonly<Record<string, string>>,
    labels: Readonly<Record<string, string>>,
  ): Promise<void>;
  /** Services the engine lends to backends that keep state in the store (ACME Orders). */
  readonly services?: IssuerServices;
  /** Instances shared with the other builders in this process (remote backends: one login per resource). */
  readonly shared?: SharedIssuers;
}

/** What the engine lends to issuers whose signing is a resource lifecycle rather than one call. */
export interface IssuerServices {
  /** ACME: signs a request through an Order resource (src/engine/acme/request-signer.ts). */
  readonly acmeOrders?: AcmeOrderSigner;
}

/** Kubernetes TokenRequest: a bound token for a service account with these audiences. */
export type ServiceAccountTokenRequester = (request: {
  readonly namespace: string;
  readonly name: string;
  readonly audiences: readonly string[];
  readonly expirationSeconds: number;
}) => Promise<string>;

export interface BuiltIssuer {
  readonly issuer: Issuer;
  /** Secret names (in `secretNamespace`) whose changes require a rebuild. */
  readonly secretNames: readonly string[];
  /** Build again after this long even without a change (a transient failure, e.g. the ACME server down). */
  readonly retryAfterMs?: number;
}

export type IssuerFactory = (config: unknown, ctx: IssuerBuildContext) => Promise<BuiltIssuer>;

/** Stable key of an issuer resource: `Issuer/<ns>/<name>` or `ClusterIssuer/<name>`. */
export function issuerKey(kind: IssuerResourceKind, namespace: string | undefined, name: string): string {
  return kind === "ClusterIssuer" ? `ClusterIssuer/${name}` : `Issuer/${namespace ?? ""}/${name}`;
}

/** An issuer that can never sign, with a fixed not-ready status. */
export class NotReadyIssuer implements Issuer {
  readonly kind: string;
  readonly #status: IssuerStatus;
  constructor(kind: string, reason: string, message: string) {
    this.kind = kind;
    this.#status = { ready: false, reason, message };
  }
  status(): IssuerStatus {
    return this.#status;
  }
  async sign(): Promise<SignResult> {
    throw new MeshsignError(
      "ERR_ISSUER_NOT_READY",
      `Referenced issuer is not ready: ${this.#status.message}`,
      { retry: "transient" },
    );
  }
}

const SPEC_KEYS = ["ca", "selfSigned", "vault", "acme", "venafi"] as const;

export interface IssuerRegistryOptions {
  /** Where ClusterIssuers read Secrets. Default {@link DEFAULT_CLUSTER_RESOURCE_NAMESPACE}. */
  readonly clusterResourceNamespace?: string;
  /** The current time in ms, handed to the backends it builds. Default Date.now. */
  readonly now?: () => number;
  /** Sees every request of every ACME issuer's client (cert-manager's `certmanager_http_acme_client_request_*`). */
  readonly observeAcmeRequest?: (o: AcmeRequestObservation) => void;
  /** Deadline of each whole ACME request (connect, headers, body). Default 90 s, as cert-manager's ACME HTTP client. */
  readonly acmeRequestTimeoutMs?: number;
  /** Kubernetes mode: TokenRequest for issuers that authenticate as a service account (Vault serviceAccountRef). */
  readonly requestServiceAccountToken?: ServiceAccountTokenRequester;
  /**
   * One pool per process, given to every registry in it (the engine's and the
   * workload issuer's): a Vault issuer is then built once per resource, spec
   * and Secrets, and shared.
   */
  readonly shared?: SharedIssuers;
}

export class IssuerRegistry {
  readonly clusterResourceNamespace: string;
  readonly #requestToken: ServiceAccountTokenRequester | undefined;
  readonly #shared: SharedIssuers | undefined;
  readonly #now: (() => number) | undefined;
  readonly #factories = new Map<string, IssuerFactory>();
  readonly #instances = new Map<string, Issuer>();

  constructor(options: IssuerRegistryOptions = {}) {
    this.clusterResourceNamespace = options.clusterResourceNamespace ?? DEFAULT_CLUSTER_RESOURCE_NAMESPACE;
    this.#requestToken = options.requestServiceAccountToken;
    this.#shared = options.shared;
    this.#now = options.now;
  }

  /** Registers the backend for resources whose spec has `specKey` (e.g. "ca"). */
  register(specKey: string, factory: IssuerFactory): this {
    this.#factories.set(specKey, factory);
    return this;
  }

  /** Namespace whose Secrets the resource may read. */
  secretNamespaceOf(resource: IssuerResourceLike): string {
    return resource.kind === "ClusterIssuer"
      ? this.clusterResourceNamespace
      : (resource.metadata.namespace ?? "");
  }

  /** Builds an instance for a resource; never throws (problems become a not-ready issuer). */
  async build(
    resource: IssuerResourceLike,
    readSecret: IssuerBuildContext["readSecret"],
    extra: Pick<IssuerBuildContext, "createSecret" | "services"> = {},
  ): Promise<BuiltIssuer> {
    const present = Object.keys(resource.spec).filter(
      (k) => resource.spec[k] !== undefined && resource.spec[k] !== null,
    );
    const configured = present.filter(
      (k) => (SPEC_KEYS as readonly string[]).includes(k) || this.#factories.has(k),
    );
    if (configured.length !== 1) {
      const message =
        configured.length === 0
          ? "No issuer type configured (one of ca, selfSigned, vault, acme)"
          : `Exactly one issuer type must be configured, found: ${configured.join(", ")}`;
      return { issuer: new NotReadyIssuer("unknown", "IssuerTypeMissing", message), secretNames: [] };
    }
    const specKey = configured[0] as string;
    const factory = this.#factories.get(specKey);
    if (factory === undefined) {
      return {
        issuer: new NotReadyIssuer(
          specKey.toLowerCase(),
          "UnsupportedIssuerType",
          `Issuer type "${specKey}" is not supported by this meshsign build yet`,
        ),
        secretNames: [],
      };
    }
    const ctx: IssuerBuildContext = {
      secretNamespace: this.secretNamespaceOf(resource),
      readSecret,
      resource: {
        kind: resource.kind,
        name: resource.metadata.name ?? "",
        ...(resource.metadata.namespace !== undefined ? { namespace: resource.metadata.namespace } : {}),
      },
      ...(this.#requestToken !== undefined ? { requestServiceAccountToken: this.#requestToken } : {}),
      ...(this.#shared !== undefined ? { shared: this.#shared } : {}),
      ...(this.#now !== undefined ? { now: this.#now } : {}),
      ...extra,
    };
    try {
      return await factory(resource.spec[specKey], ctx);
    } catch (err) {
      const message = err instanceof MeshsignError ? err.message : "failed to initialise issuer";
      return { issuer: new NotReadyIssuer(specKey.toLowerCase(), "ErrInitIssuer", message), secretNames: [] };
    }
  }

  /** Installs (or replaces) the live instance for a key. */
  set(key: string, issuer: Issuer): void {
    this.#instances.set(key, issuer);
  }

  delete(key: string): void {
    this.#instances.delete(key);
  }

  /** The live instance for an issuerRef seen from `namespace`, if the resource exists. */
  resolve(ref: { name: string; kind?: string; group?: string }, namespace: string): Issuer | undefined {
    const group = ref.group === undefined || ref.group === "" ? "cert-manager.io" : ref.group;
    if (group !== "cert-manager.io") return undefined;
    const kind = ref.kind === "ClusterIssuer" ? "ClusterIssuer" : "Issuer";
    return this.#instances.get(issuerKey(kind, namespace, ref.name));
  }
}

/** cert-manager's `ca` issuer config: a Secret with tls.crt (chain) and tls.key (+ optional ca.crt). */
export const caIssuerFactory: IssuerFactory = async (config, ctx) => {
  const secretName =
    typeof config === "object" && config !== null
      ? (config as { secretName?: unknown }).secretName
      : undefined;
  if (typeof secretName !== "string" || secretName === "") {
    return { issuer: CaIssuer.unavailable("spec.ca.secretName is required"), secretNames: [] };
  }
  const data = await ctx.readSecret(secretName);
  const where = `secret "${ctx.secretNamespace}/${secretName}"`;
  if (data === undefined) {
    return {
      issuer: CaIssuer.unavailable(`Error getting keypair for CA issuer: ${where} not found`),
      secretNames: [secretName],
    };
  }
  const crt = data["tls.crt"] ?? "";
  const key = data["tls.key"] ?? "";
  if (crt === "" || key === "") {
    return {
      issuer: CaIssuer.unavailable(`Error getting keypair for CA issuer: ${where} has no tls.crt or tls.key`),
      secretNames: [secretName],
    };
  }
  const chain = data["ca.crt"] === undefined ? crt : `${crt}\n${data["ca.crt"]}`;
  const issuer = await CaIssuer.create(
    { certificatePem: chain, privateKeyPem: key, origin: where },
    ctx.now !== undefined ? { clock: ctx.now } : {},
  );
  return { issuer, secretNames: [secretName] };
};

export const selfSignedIssuerFactory: IssuerFactory = async () => ({
  issuer: new SelfSignedIssuer(),
  secretNames: [],
});

/** A registry with the in-process backends (ca, selfSigned), Vault and ACME registered. */
export function createDefaultIssuerRegistry(options: IssuerRegistryOptions = {}): IssuerRegistry {
  const acme = createAcmeIssuerFactory({
    ...(options.observeAcmeRequest ? { observe: options.observeAcmeRequest } : {}),
    ...(options.acmeRequestTimeoutMs ? { timeoutMs: options.acmeRequestTimeoutMs } : {}),
  });
  return new IssuerRegistry(options)
    .register("ca", caIssuerFactory)
    .register("selfSigned", selfSignedIssuerFactory)
    .register("vault", vaultIssuerFactory)
    .register("acme", acme);
}
