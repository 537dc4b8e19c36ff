/**
 * The contract every DNS-01 provider implements (RFC 2136, Route53,
 * Cloudflare, webhook). The ACME Challenge reconciler calls `present` before
 * it accepts a DNS-01 challenge and `cleanUp` after the authorization is
 * settled (valid, invalid, or the Challenge deleted), also after a restart.
 *
 * Both calls are idempotent and touch only their own value: several TXT
 * values may live under one name (a wildcard and its apex in one order), and
 * `cleanUp` removes exactly `record.value`, leaving the others.
 *
 * Errors are MeshsignErrors whose `retry` says transient (timeouts,
 * SERVFAIL, 5xx, throttling) or terminal (NOTAUTH/BADSIG, 403, unknown zone),
 * with a message that names what the provider refused and never a secret.
 */
import type { AcmeSolver } from "../../../api/types.js";

/** One TXT record to present or remove. */
export interface Dns01Record {
  /** Fully qualified record name with a trailing dot, after CNAME following, e.g. `_acme-challenge.example.com.` */
  readonly fqdn: string;
  /** Apex of the zone that holds `fqdn` (found by SOA), with a trailing dot, e.g. `example.com.` */
  readonly zone: string;
  /** The TXT value: base64url(SHA-256(key authorization)). */
  readonly value: string;
}

/** What a webhook provider forwards in cert-manager's ChallengePayload; others ignore it. */
export interface Dns01ChallengeInfo {
  readonly uid: string;
  /** The Challenge's namespace (the Certificate's). */
  readonly namespace: string;
  /** The name being validated, e.g. `example.com` for `*.example.com`. */
  readonly dnsName: string;
  /** The key authorization (cert-manager's `spec.key`). */
  readonly key: string;
  /** Where the provider's Secrets are read (the Issuer's namespace or the cluster resource namespace). */
  readonly resourceNamespace: string;
  readonly allowAmbientCredentials: boolean;
}

export interface Dns01Provider {
  /** The spec key, e.g. "rfc2136", "route53". */
  readonly name: string;
  present(record: Dns01Record, challenge: Dns01ChallengeInfo, signal?: AbortSignal): Promise<void>;
  cleanUp(record: Dns01Record, challenge: Dns01ChallengeInfo, signal?: AbortSignal): Promise<void>;
}

/** What a provider factory may use; all I/O is injected. */
export interface Dns01BuildContext {
  /** Namespace the provider's Secrets come from. */
  readonly secretNamespace: string;
  /** "Issuer" or "ClusterIssuer": ambient credentials are allowed only for ClusterIssuers (cert-manager's rule). */
  readonly issuerKind: "Issuer" | "ClusterIssuer";
  /** A Secret's data value (UTF-8), or undefined when the Secret or key is missing. */
  readSecretKey(name: string, key: string): Promise<string | undefined>;
  /** Environment for ambient credentials (AWS_*), injected for tests. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Requests a service-account token (TokenRequest) in Kubernetes mode; absent standalone. */
  requestServiceAccountToken?(name: string, audiences: readonly string[]): Promise<string>;
}

export type Dns01Config = NonNullable<AcmeSolver["dns01"]>;

/** Builds a provider for one solver's `dns01` block (the provider key already chosen). */
export type Dns01ProviderFactory = (
  config: unknown,
  dns01: Dns01Config,
  ctx: Dns01BuildContext,
) => Promise<Dns01Provider>;
