import { X509Certificate } from "node:crypto";
import type { Logger } from "pino";
import { CERTIFICATE_NAME } from "../api/annotations.js";
import { CERTIFICATE_REQUESTS, CERTIFICATES, SECRETS } from "../api/types.js";
import { isMeshsignError } from "../errors/index.js";
import type { KubeObject, Store, Watch } from "../store/types.js";
import type { ServingKeyPair } from "./tls/rotating-credentials.js";

/** The Certificate (and Secret) that hold meshsign's own TLS serving certificate. */
export const SERVING_CERTIFICATE = "meshsign-serving";
export const SERVING_SECRET = "meshsign-serving-tls";

export interface ServingCertificateOptions {
  readonly store: Store;
  readonly namespace: string;
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
  readonly durationMs: number;
  /** The mesh CA issuer, so istio-agent verifies meshsign against istio-ca-root-cert. */
  readonly issuerRef: { readonly name: string; readonly kind: string; readonly group: string };
  readonly log: Logger;
  readonly clock?: () => number;
  /** Another certificate kept the same way (default meshsign-serving / meshsign-serving-tls). */
  readonly certificateName?: string;
  readonly secretName?: string;
  /** URI SANs, e.g. meshsign's own SPIFFE ID for the https_spiffe bundle endpoint. */
  readonly uris?: readonly string[];
}

interface SecretObject extends KubeObject {
  data?: Record<string, string>;
}

interface RequestObject extends KubeObject {
  status?: { conditions?: { type: string; status: string; reason?: string; message?: string }[] };
}

/**
 * What keeps a CertificateRequest from being issued, as its conditions say: denied, invalid, or
 * not Ready with the issuer's reason ("Referenced issuer is not ready: VaultError: ..."); an issued
 * or untouched request says nothing.
 */
function requestProblem(cr: RequestObject): string | undefined {
  const conds = cr.status?.conditions ?? [];
  for (const type of ["Denied", "InvalidRequest"]) {
    const c = conds.find((x) => x.type === type && x.status === "True");
    if (c !== undefined) return `${c.reason || type}: ${c.message ?? ""}`;
  }
  const ready = conds.find((x) => x.type === "Ready");
  return ready !== undefined && ready.status === "False" ? ready.message || ready.reason : undefined;
}

/**
 * meshsign's own serving certificate runs through the Certificate engine
 * like any other control-plane certificate: a Certificate
 * `meshsign-serving` (ECDSA P-256, a new key on every renewal, renewed at 2/3
 * of its lifetime) whose Secret this class watches. Each new key pair in the
 * Secret is pushed to the listeners without a restart. In Kubernetes mode
 * every replica reads the Secret the leader's engine keeps.
 */
export class ServingCertificate {
  #current: (ServingKeyPair & { notAfter: number }) | undefined;
  #watch: Watch | undefined;
  /** Follows the Certificate's requests until the first key pair arrives, to say what holds it up. */
  #requests: Watch | undefined;
  #waitingReason: string | undefined;
  readonly #listeners = new Set<(pair: ServingKeyPair) => void>();
  readonly #clock: () => number;
  #firstResolve: ((pair: ServingKeyPair) => void) | undefined;

  constructor(private readonly options: ServingCertificateOptions) {
    this.#clock = options.clock ?? Date.now;
  }

  get #secretName(): string {
    return this.options.secretName ?? SERVING_SECRET;
  }

  /** Ensures the Certificate exists with the configured names and resolves with the first key pair. */
  async start(): Promise<ServingKeyPair> {
    await this.ensureCertificate();
    const first = new Promise<ServingKeyPair>((resolve) => {
      this.#firstResolve = resolve;
    });
    this.#watch = this.options.store.watch<SecretObject>(
      SECRETS,
      (event) => {
        const o = event.object;
        if (o.metadata.namespace !== this.options.namespace || o.metadata.name !== this.#secretName || event.type === "DELETED") return;
        this.load(o);
      },
      { namespace: this.options.namespace },
    );
    await this.#watch.synced;
    if (!this.#current) {
      this.options.log.info({ secret: `${this.options.namespace}/${this.#secretName}` }, "waiting for the serving certificate");
      this.#followRequests();
    }
    return first;
  }

  /**
   * Until the first certificate arrives, what its CertificateRequest says holds it up (a signing
   * issuer that is not ready, such as a Vault down at start-up): /readyz shows it after
   * `serving_certificate failed`, and each new reason is logged once. Without this, start-up
   * waited silently.
   */
  waitingReason(): string | undefined {
    return this.#current === undefined ? this.#waitingReason : undefined;
  }

  #followRequests(): void {
    const certificateName = this.options.certificateName ?? SERVING_CERTIFICATE;
    this.#requests = this.options.store.watch<RequestObject>(
      CERTIFICATE_REQUESTS,
      (event) => {
        const cr = event.object;
        if (this.#current !== undefined || event.type === "DELETED") return;
        if (cr.metadata.namespace !== this.options.namespace || cr.metadata.annotations?.[CERTIFICATE_NAME] !== certificateName) return;
        const why = requestProblem(cr);
        if (why === undefined || why === this.#waitingReason) return;
        this.#waitingReason = why;
        this.options.log.warn(
          { secret: `${this.options.namespace}/${this.#secretName}`, request: `${cr.metadata.namespace}/${cr.metadata.name}`, reason: why },
          "the serving certificate is not issued yet",
        );
      },
      { namespace: this.options.namespace },
    );
  }

  get current(): ServingKeyPair | undefined {
    return this.#current;
  }

  /** True while a certificate is held that has not expired. */
  valid(): boolean {
    return this.#current !== undefined && this.#current.notAfter > this.#clock();
  }

  onRenew(listener: (pair: ServingKeyPair) => void): void {
    this.#listeners.add(listener);
  }

  stop(): void {
    this.#watch?.stop();
    this.#watch = undefined;
    this.#requests?.stop();
    this.#requests = undefined;
  }

  private load(secret: SecretObject): void {
    const crt = secret.data?.["tls.crt"];
    const key = secret.data?.["tls.key"];
    if (!crt || !key) return;
    const certificateChainPem = Buffer.from(crt, "base64").toString();
    const privateKeyPem = Buffer.from(key, "base64").toString();
    if (this.#current?.certificateChainPem === certificateChainPem && this.#current.privateKeyPem === privateKeyPem) return;
    let notAfter: number;
    try {
      notAfter = Date.parse(new X509Certificate(certificateChainPem).validTo);
    } catch (err) {
      this.options.log.warn({ err }, "serving certificate Secret holds no valid certificate; keeping the current one");
      return;
    }
    const pair = { certificateChainPem, privateKeyPem, notAfter };
    const first = this.#current === undefined;
    this.#current = pair;
    this.options.log.info({ notAfter: new Date(notAfter).toISOString() }, first ? "serving certificate loaded" : "serving certificate renewed");
    if (first) {
      this.#requests?.stop();
      this.#requests = undefined;
      this.#waitingReason = undefined;
      this.#firstResolve?.(pair);
      this.#firstResolve = undefined;
    } else {
      for (const l of this.#listeners) l(pair);
    }
  }

  /** Creates the Certificate, or brings its names and issuer back to the configuration. */
  private async ensureCertificate(): Promise<void> {
    const o = this.options;
    const spec = {
      secretName: this.#secretName,
      dnsNames: [...o.dnsNames],
      ipAddresses: [...o.ipAddresses],
      ...(o.uris ? { uris: [...o.uris] } : {}),
      duration: `${Math.max(3600, Math.round(o.durationMs / 1000))}s`,
      privateKey: { algorithm: "ECDSA", size: 256, rotationPolicy: "Always", encoding: "PKCS8" },
      usages: ["digital signature", "server auth"],
      revisionHistoryLimit: 1,
      issuerRef: { ...o.issuerRef },
    };
    const desired = {
      apiVersion: "cert-manager.io/v1",
      kind: "Certificate",
      metadata: { name: o.certificateName ?? SERVING_CERTIFICATE, namespace: o.namespace, labels: { "app.kubernetes.io/managed-by": "meshsign" } },
      spec,
    };
    for (let attempt = 0; attempt < 5; attempt++) {
      const existing = await o.store.get<KubeObject & { spec?: unknown }>(CERTIFICATES, o.namespace, o.certificateName ?? SERVING_CERTIFICATE);
      try {
        if (!existing) {
          await o.store.create(CERTIFICATES, desired);
        } else if (differs(existing.spec, spec)) {
          await o.store.update(CERTIFICATES, { ...existing, spec: { ...(existing.spec as object), ...spec } });
        }
        return;
      } catch (err) {
        // Another replica got there first: read again and compare.
        if (!isMeshsignError(err, "ERR_CONFLICT", "ERR_ALREADY_EXISTS")) throw err;
      }
    }
  }
}

/** Whether any field meshsign sets differs (fields the API server defaults are left alone). */
function differs(actual: unknown, desired: Record<string, unknown>): boolean {
  const a = (actual ?? {}) as Record<string, unknown>;
  return Object.keys(desired).some((k) => JSON.stringify(a[k]) !== JSON.stringify(desired[k]));
}
