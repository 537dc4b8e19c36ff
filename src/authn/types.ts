/**
 * The contract between the transport (the CSR service adapts gRPC metadata and
 * the TLS peer into an {@link AuthnInput}) and the authenticators, which turn
 * credentials into a {@link Caller}. Nothing here knows about gRPC.
 */

/** Request credentials, already lifted out of the transport. */
export interface AuthnInput {
  /** All values of the `authorization` metadata key, in order. */
  readonly authorization: readonly string[];
  /** All values of the `clusterid` metadata key. */
  readonly clusterId: readonly string[];
  /** Verified client certificate chain (DER, leaf first) when TLS presented one, else undefined. */
  readonly peerCertificates?: readonly Uint8Array[];
}

/** Where in Kubernetes the caller runs, when the credential says so. */
export interface KubernetesInfo {
  namespace: string;
  serviceAccount: string;
  /** Present for bound (projected) tokens only. */
  podName?: string;
  podUid?: string;
}

/** Who is calling, as proven by exactly one authenticator. */
export interface Caller {
  /** SPIFFE IDs, e.g. `["spiffe://cluster.local/ns/foo/sa/bar"]`. Never empty. */
  identities: string[];
  /** The authenticator that accepted the credential. */
  source: "jwks" | "tokenreview" | "client-cert";
  kubernetes?: KubernetesInfo;
  /** Seconds since epoch when the credential expires, if known (for caching / logging). */
  expiresAt?: number;
}

/** One way of proving who is calling. Rejections are thrown as `MeshsignError`s. */
export interface Authenticator {
  /** Short stable name used in logs, metrics and error details ("jwks", "tokenreview", "client-cert"). */
  readonly name: string;
  authenticate(input: AuthnInput): Promise<Caller>;
}

/** Milliseconds since the Unix epoch; injected so tests can freeze time. */
export type Clock = () => number;

/** The wall clock. */
export const systemClock: Clock = () => Date.now();
