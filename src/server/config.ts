import { accessSync, constants, readFileSync, statSync } from "node:fs";
import { delimiter, join } from "node:path";
import { hostname } from "node:os";
import { isIP } from "node:net";
import { parse as parseYaml } from "yaml";
import { MeshsignError } from "../errors/index.js";
import { formatGoDuration, tryParseGoDuration } from "../api/duration.js";
import { MINIMUM_CERTIFICATE_DURATION_MS, MINIMUM_RENEW_BEFORE_MS } from "../api/index.js";
import { EVERYTHING, type LabelSelector, tryParseLabelSelector } from "../api/label-selector.js";
import { loadWebhookEndpoints } from "../acme/solvers/dns01/webhook/index.js";
import { parseRecursiveNameservers } from "../acme/solvers/dns01/recursive-nameservers.js";
import { servingTlsProblems } from "./tls/serving-settings.js";

/**
 * meshsign's configuration: one typed object, read from a YAML file
 * (`--config`), `MESHSIGN_*` environment variables and flags (in rising
 * precedence), validated once at start-up. Flag names and defaults follow
 * istio-csr where the meaning is the same.
 *
 * Every option is declared once in {@link OPTIONS}; the flag parser, the env
 * reader, the YAML reader and the validator all come from that table, so an
 * error always names the key the user wrote.
 */

export type Mode = "standalone" | "kubernetes";
export type LogFormat = "json" | "text";
export type LogLevel = "trace" | "debug" | "info" | "warn" | "error" | "fatal";
export type CaKeyAlgorithm = "ecdsa-p256" | "ecdsa-p384" | "rsa-2048" | "rsa-3072" | "rsa-4096" | "ed25519";
export type CsrKeyType = "rsa" | "ecdsa-p256" | "ecdsa-p384" | "ed25519";
export type BundleEndpointProfile = "https_web" | "https_spiffe";
export type CertificateShim = "ingress" | "gateway" | "istio-gateway";
/** gRPC servers of the CreateCertificate port (`--grpc-implementation`). */
export const GRPC_IMPLEMENTATIONS = ["grpc-js", "h2"] as const;
export type GrpcImplementation = (typeof GRPC_IMPLEMENTATIONS)[number];
/** meshsign's own unary server: the same behaviour as grpc-js's for CreateCertificate, for less CPU per call (docs/benchmarks.md). */
export const DEFAULT_GRPC_IMPLEMENTATION: GrpcImplementation = "h2";

/** Every certificate shim, the default of --certificate-shims. */
export const CERTIFICATE_SHIMS: readonly CertificateShim[] = ["ingress", "gateway", "istio-gateway"];

/** Default spiffe_refresh_hint: how often federated peers poll the bundle endpoint. */
export const DEFAULT_BUNDLE_REFRESH_HINT_MS = 5 * 60_000;

export interface Config {
  /** Where standalone state lives: root CA, serving cert, dev token key, store. */
  dataDir: string;
  /** standalone (embedded store, no cluster) or kubernetes (API server store, leader election). */
  mode: Mode;
  /** host:port of Istio's CreateCertificate gRPC/TLS listener. */
  servingAddress: string;
  /** Lowest TLS version of the CreateCertificate port: VersionTLS12 or VersionTLS13 (istio-csr's names). */
  servingTlsMinVersion: string;
  /** TLS 1.2 cipher suites of the CreateCertificate port, by Go's names; empty = Node's defaults. */
  servingTlsCipherSuites: string[];
  /** Key exchange groups of the CreateCertificate port (X25519, CurveP256, ...); empty = Node's defaults. */
  servingTlsCurvePreferences: string[];
  /** DNS names in the serving certificate (default: localhost and the host name). */
  servingDnsNames: string[];
  /** IP addresses in the serving certificate (default: 127.0.0.1, ::1). */
  servingIpAddresses: string[];
  /** Lifetime of the serving certificate; it is renewed at 2/3 of it. */
  servingCertificateDuration: number;
  /** Port of /readyz and /healthz on all interfaces. */
  readinessProbePort: number;
  /** Port of Prometheus /metrics on all interfaces. */
  metricsPort: number;
  /** host:port of the admin API (Connect/gRPC/gRPC-Web); loopback by default. */
  adminAddress: string;
  /** SPIFFE trust domain of the mesh. */
  trustDomain: string;
  /** Cluster ID a `clusterid` header must match when present. */
  clusterId: string;
  /** Longest client certificate lifetime; longer requests are clamped. */
  maxClientCertificateDuration: number;
  /** Lifetime given when a request asks for none (validity_duration <= 0). */
  defaultClientCertificateDuration: number;
  /** PEM bundle of the mesh roots returned to clients; default: the data dir's root. */
  rootCaFile: string;
  /** Algorithm of a root CA created on first start. */
  caKeyAlgorithm: CaKeyAlgorithm;
  /** Lifetime of a root CA created on first start. */
  caDuration: number;
  /** ns/sa service accounts allowed to impersonate (ztunnel), e.g. istio-system/ztunnel. */
  caTrustedNodeAccounts: string[];
  /** Accept a verified mesh client certificate instead of a token (renewals). */
  enableClientCertAuthenticator: boolean;
  /** Token authenticator: jwks (local verification) or tokenreview (Kubernetes API). */
  tokenAuthenticator: "jwks" | "tokenreview";
  /** JWKS file for the jwks authenticator. */
  jwksFile: string;
  /** JWKS URL for the jwks authenticator. */
  jwksUrl: string;
  /** OIDC issuer whose discovery document names the JWKS (and the expected `iss`). */
  oidcIssuerUrl: string;
  /** Expected `iss` of tokens; default: the dev issuer or the OIDC issuer. */
  tokenIssuer: string;
  /** Accepted token audiences. */
  tokenAudiences: string[];
  /** Allowed clock skew for exp/nbf, seconds. */
  tokenClockSkew: number;
  /** Mint development tokens with `meshsign token` and accept them. Never in Kubernetes mode. */
  devTokenIssuer: boolean;
  /** Key types accepted in CSRs. */
  csrKeyTypes: CsrKeyType[];
  /** Largest accepted CSR, bytes of PEM. */
  maxCsrBytes: number;
  /** gRPC worker processes; 0 = one per core. */
  workers: number;
  /** Which server speaks gRPC on the CreateCertificate port: grpc-js's generic server, or meshsign's own unary server on node:http2. */
  grpcImplementation: GrpcImplementation;
  /** HTTP/2 streams (calls) one client connection may have open on the CreateCertificate port. */
  grpcMaxConcurrentStreams: number;
  /** Open connections each CreateCertificate worker accepts; more are closed at once. */
  grpcMaxConnections: number;
  /** A connection with no call in flight for this long is closed (GOAWAY). */
  grpcMaxConnectionIdle: number;
  /** Connections are closed (GOAWAY, then in-flight calls get a 10 s grace) after this age, +-10%. */
  grpcMaxConnectionAge: number;
  /** CreateCertificate calls a worker processes at once. */
  maxInFlight: number;
  /** Calls a worker holds waiting for a slot; more are refused RESOURCE_EXHAUSTED. */
  maxQueued: number;
  /** Longest a call waits for a slot before it is refused RESOURCE_EXHAUSTED. */
  maxQueueWait: number;
  /** Certificates one SPIFFE identity may get per second from one worker, sustained (0 = no limit). */
  identityRateLimit: number;
  /** Certificates one SPIFFE identity may get at once from one worker before the rate applies. */
  identityBurst: number;
  /** Grace period for in-flight requests on SIGTERM. */
  shutdownGracePeriod: number;
  /** Directory of Certificate/Issuer manifests (standalone). */
  manifests: string;
  /** Refuse manifests with unknown fields (a misspelled `duraton`) instead of warning about them. */
  strictManifests: boolean;
  /** Where issued Secrets are also written as files (standalone). */
  outputDir: string;
  /** Command run after a Secret file changes (argv, whitespace separated, no shell). */
  secretHook: string;
  /** Namespace of ClusterIssuer secrets and meshsign's own resources. */
  clusterResourceNamespace: string;
  /** Kubernetes mode: kubeconfig path (in-cluster config when empty). */
  kubeconfig: string;
  /** Standalone: YAML file mapping each DNS-01 webhook groupName to its URL, CA file and optional token file. */
  dns01WebhookConfig: string;
  /** Issuer (or ClusterIssuer) of kind CA whose Secret signs workload certificates; empty = meshsign's own root. */
  issuerName: string;
  issuerKind: "Issuer" | "ClusterIssuer";
  issuerGroup: string;
  /** Namespace of the Issuer named by issuerName (Issuer kind). */
  issuerNamespace: string;
  /**
   * Reconcile only Certificates whose labels this Kubernetes label selector selects (empty = all):
   * coexisting with cert-manager. Parsed at load (src/api/label-selector.ts).
   */
  certificateSelector: LabelSelector;
  /** Reconcile only Certificates whose issuerRef.group is listed (empty = all). */
  certificateIssuerGroups: string[];
  /** ConfigMap (keys issuer-name, issuer-kind, issuer-group) that switches the signing issuer at runtime; empty = off. */
  runtimeIssuanceConfigMapName: string;
  runtimeIssuanceConfigMapNamespace: string;
  /** Namespace of the leader-election Lease. */
  leaderElectionNamespace: string;
  /**
   * Namespaces that get istio-ca-root-cert: a Kubernetes label selector, as istio-csr's flag takes
   * (`maistra.io/member-of in (istio-system)`, `!istio-injection`, ...); empty = all.
   */
  configmapNamespaceSelector: LabelSelector;
  /** Issue istiod's serving certificate (Secret istiod-tls) through the engine. */
  istiodCertificateEnable: boolean;
  /** Namespace of istiod. */
  istioNamespace: string;
  /** Istio revisions whose istiod DNS names go in istiod-tls. */
  istioRevisions: string[];
  istiodCertificateDuration: number;
  istiodCertificateRenewBefore: number;
  /** DNS names added to istiod's certificate (an istiod reached by another name, e.g. from remote clusters). */
  istiodCertificateAdditionalDnsNames: string[];
  /** Key of istiod's certificate: RSA or ECDSA (istio-csr's --istiod-cert-key-algorithm). */
  istiodCertificateKeyAlgorithm: "RSA" | "ECDSA";
  /** RSA bits, or the ECDSA curve size (256, 384); 0 = the algorithm's default (2048, 256). */
  istiodCertificateKeySize: number;
  /** Sources the certificate shims read: ingress, gateway (Gateway API), istio-gateway; empty = shims off. */
  certificateShims: CertificateShim[];
  /** Issuer of shimmed Certificates whose source names none (kubernetes.io/tls-acme); empty = such sources are refused. */
  defaultIssuerName: string;
  /** Kind of --default-issuer-name. */
  defaultIssuerKind: string;
  /** Group of --default-issuer-name. */
  defaultIssuerGroup: string;
  /** Ingress annotations that, set to true, ask for Certificates from the default issuer. */
  autoCertificateAnnotations: string[];
  /** Namespace of the Secrets made for Istio Gateways (where the gateway deployment runs); empty = the Gateway's own. */
  istioGatewaySecretNamespace: string;
  /** host:port of the SPIFFE trust bundle endpoint (HTTPS); empty = off. */
  bundleEndpointAddress: string;
  /** ACME HTTP-01 solver listener (cert-manager's solver port 8089); opened once an ACME issuer exists; empty = off. */
  acmeHttp01SolverAddress: string;
  /** ACME Challenges in flight at once (cert-manager's --max-concurrent-challenges). */
  maxConcurrentChallenges: number;
  /** Deadline of an ACME Order from its creation: past it, the Order is errored with its last reason. */
  acmeOrderDeadline: number;
  /** DNS-01 propagation check: recursive resolvers (host[:port], [v6][:port] or DoH https:// URLs); empty = the system's. */
  dns01RecursiveNameservers: string[];
  /** DNS-01 propagation check asks only dns01RecursiveNameservers, never the zone's authoritative servers. */
  dns01RecursiveNameserversOnly: boolean;
  /** How the bundle endpoint authenticates itself: https_web (a Web PKI or meshsign serving certificate) or https_spiffe (meshsign's own SVID). */
  bundleEndpointProfile: BundleEndpointProfile;
  /** https_web: PEM certificate chain for a Web PKI name instead of meshsign's serving certificate (re-read when it changes). */
  bundleEndpointCertFile: string;
  /** https_web: PEM private key of bundleEndpointCertFile. */
  bundleEndpointKeyFile: string;
  /** spiffe_refresh_hint of the served bundle. */
  bundleEndpointRefreshHint: number;
  logLevel: LogLevel;
  logFormat: LogFormat;
}

type Kind = "string" | "int" | "bool" | "duration" | "list" | "labelSelector" | { enum: readonly string[] };

interface OptionSpec<K extends keyof Config = keyof Config> {
  readonly key: K;
  readonly flag: string;
  readonly kind: Kind;
  readonly description: string;
  /** Default value, or a function of the mode. */
  readonly default: Config[K] | ((mode: Mode) => Config[K]);
  readonly validate?: (value: Config[K]) => string | undefined;
}

const H = 3_600_000;

/** Most CreateCertificate worker processes `--workers` accepts (and the default picks). */
export const MAX_WORKERS = 64;

function recursiveNameserversProblem(v: readonly string[]): string | undefined {
  try {
    parseRecursiveNameservers(v.join(","), "");
    return undefined;
  } catch (err) {
    return (err as Error).message.replace(/^: /, "");
  }
}

function hostPort(v: string): string | undefined {
  const i = v.lastIndexOf(":");
  if (i < 0) return "must be host:port";
  // Digits only: Number("") is 0, so "0.0.0.0:" (a $PORT that was never set) would listen on a
  // random port; Number(" 80") and Number("1e3") would pass too. Port 0 is still taken as written.
  const digits = v.slice(i + 1);
  if (!/^\d{1,5}$/.test(digits) || Number(digits) > 65535) return `port must be a number 0-65535, not "${digits}"`;
  return undefined;
}
/** An RFC 1123 host name, optionally a wildcard ("*.example.com"), at most 253 characters: what a TLS client can match. */
function isDnsName(v: string): boolean {
  const name = v.startsWith("*.") ? v.slice(2) : v;
  return v.length <= 253 && name.split(".").every((label) => /^[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?$/.test(label));
}
/** A Kubernetes namespace name (RFC 1123 label), as the options naming one need. */
function namespaceName(v: string): string | undefined {
  return /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(v) ? undefined : `"${v}" is not a namespace name (lowercase letters, digits and hyphens, at most 63)`;
}
/** A file this process can read now (it is read again later, e.g. on an unknown key id). */
function readableFile(v: string): string | undefined {
  try {
    accessSync(v, constants.R_OK);
    return undefined;
  } catch (err) {
    return `cannot read ${v} (${(err as NodeJS.ErrnoException).code ?? "error"})`;
  }
}
/** An http(s) URL (https in earnest; http for a local test issuer). */
function httpUrl(v: string): string | undefined {
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    return `${JSON.stringify(v)} is not a URL`;
  }
  return url.protocol === "https:" || url.protocol === "http:" ? undefined : `${JSON.stringify(v)} must be an https:// URL`;
}
/**
 * These lifetimes become engine Certificates, which cert-manager's validation refuses under 1h: a
 * shorter one would be raised silently (serving) or leave the Certificate invalid (istiod).
 */
function atLeastCertificateMinimum(v: number): string | undefined {
  return v >= MINIMUM_CERTIFICATE_DURATION_MS ? undefined : `must be at least ${formatGoDuration(MINIMUM_CERTIFICATE_DURATION_MS)} (cert-manager's shortest Certificate duration)`;
}
/**
 * A --secret-hook that could not run as meant: it is split on whitespace and started without a
 * shell, so quotes would reach the program as literal characters, and a program that is not there
 * would only show up as a warning after the first Secret change.
 */
function secretHookProblem(v: string): string | undefined {
  if (/["'`$|;&<>\\]/.test(v)) return "is split on spaces and run without a shell: quotes, $, pipes and redirections are not interpreted; put the command in a script and name the script";
  const program = v.trim().split(/\s+/)[0] as string;
  const candidates = program.includes("/") ? [program] : (process.env.PATH ?? "").split(delimiter).filter(Boolean).map((dir) => join(dir, program));
  for (const file of candidates) {
    try {
      accessSync(file, constants.X_OK);
      if (statSync(file).isFile()) return undefined;
    } catch {
      // not this one
    }
  }
  return program.includes("/") ? `${program} is not an executable file` : `${program} is not an executable on PATH`;
}
function port(v: number): string | undefined {
  return Number.isInteger(v) && v >= 0 && v <= 65535 ? undefined : "must be a port number 0-65535";
}
function positive(v: number): string | undefined {
  return v > 0 ? undefined : "must be positive";
}

/**
 * Longest --shutdown-grace-period: 596h. It is waited with setTimeout (the primary waits 2 s more
 * for its workers), and Node.js holds a timer for at most 2^31-1 ms (about 24.8 days, 596h31m): a
 * longer one fires after 1 ms, so a SIGTERM cut every in-flight call at once instead of waiting.
 * Not capped like the connection limits (src/server/lib/timer-delay.ts), where "24.8 days" and
 * "never" are the same: a grace period is a wait the user asked for, and one that large is a typo.
 */
export const MAX_SHUTDOWN_GRACE_PERIOD_MS = 596 * 3_600_000;

function shutdownGracePeriod(v: number): string | undefined {
  if (v <= 0) return "must be positive";
  return v <= MAX_SHUTDOWN_GRACE_PERIOD_MS
    ? undefined
    : `must be at most ${MAX_SHUTDOWN_GRACE_PERIOD_MS / 3_600_000}h (Node.js timers wait at most 2^31-1 ms, about 24.8 days; a longer wait ends at once)`;
}

/** Every option meshsign takes. */
export const OPTIONS: readonly OptionSpec[] = [
  spec("dataDir", "--data-dir", "string", "state directory (root CA, serving cert, dev keys, store)", ".meshsign"),
  spec("mode", "--mode", { enum: ["standalone", "kubernetes"] }, "standalone (embedded store) or kubernetes", "standalone"),
  spec("servingAddress", "--serving-address", "string", "Istio CreateCertificate listener host:port", "0.0.0.0:6443", hostPort),
  spec("servingTlsMinVersion", "--serving-tls-min-version", { enum: ["VersionTLS12", "VersionTLS13"] }, "lowest TLS version of the CreateCertificate port", "VersionTLS12"),
  spec("servingTlsCipherSuites", "--serving-tls-cipher-suites", "list", "TLS 1.2 cipher suites of the CreateCertificate port, by Go's names (default: Node's)", []),
  spec("servingTlsCurvePreferences", "--serving-tls-curve-preferences", "list", "key exchange groups of the CreateCertificate port: X25519, CurveP256, CurveP384, CurveP521 (default: Node's)", []),
  spec("servingDnsNames", "--serving-certificate-dns-names", "list", "DNS names of the serving certificate (default: localhost and the host name; in Kubernetes the Service's names)", (m) =>
    m === "kubernetes"
      ? ["meshsign.meshsign-system.svc", "meshsign.meshsign-system.svc.cluster.local", "localhost"]
      : ["localhost", hostname()],
    (v) => {
      const bad = v.find((n) => !isDnsName(n));
      return bad === undefined ? undefined : `"${bad}" is not a DNS name (letters, digits and hyphens in dot-separated labels; "*." first for a wildcard)`;
    },
  ),
  spec("servingIpAddresses", "--serving-certificate-ip-addresses", "list", "IP addresses of the serving certificate", ["127.0.0.1", "::1"], (v) =>
    v.every((ip) => isIP(ip) !== 0) ? undefined : "must list IP addresses",
  ),
  spec("servingCertificateDuration", "--serving-certificate-duration", "duration", "serving certificate lifetime (renewed at 2/3)", H, atLeastCertificateMinimum),
  spec("readinessProbePort", "--readiness-probe-port", "int", "port of /readyz and /healthz", 6060, port),
  spec("metricsPort", "--metrics-port", "int", "port of Prometheus /metrics", 9402, port),
  spec("adminAddress", "--admin-address", "string", "admin API host:port (keep it on loopback)", "127.0.0.1:9443", hostPort),
  spec("trustDomain", "--trust-domain", "string", "SPIFFE trust domain", "cluster.local", (v) =>
    /^[a-z0-9._-]{1,255}$/.test(v) ? undefined : "must be a lowercase SPIFFE trust domain ([a-z0-9._-], at most 255)",
  ),
  spec("clusterId", "--cluster-id", "string", "cluster ID a clusterid header must match", "Kubernetes"),
  spec("maxClientCertificateDuration", "--max-client-certificate-duration", "duration", "longest client certificate lifetime (longer is clamped)", 24 * H, positive),
  spec("defaultClientCertificateDuration", "--default-client-certificate-duration", "duration", "lifetime when a request asks for none", 24 * H, positive),
  spec("rootCaFile", "--root-ca-file", "string", "PEM bundle of mesh roots (default: <data-dir>/root-cert.pem)", ""),
  spec("caKeyAlgorithm", "--ca-key-algorithm", { enum: ["ecdsa-p256", "ecdsa-p384", "rsa-2048", "rsa-3072", "rsa-4096", "ed25519"] }, "algorithm of a root CA created on first start", "ecdsa-p256"),
  spec("caDuration", "--ca-duration", "duration", "lifetime of a root CA created on first start", 87_600 * H, positive),
  spec("caTrustedNodeAccounts", "--ca-trusted-node-accounts", "list", "ns/sa accounts allowed to impersonate (ztunnel)", [], (v) =>
    v.every((a) => /^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-.a-z0-9]*[a-z0-9])?$/.test(a)) ? undefined : "entries must be namespace/serviceaccount",
  ),
  spec("enableClientCertAuthenticator", "--enable-client-cert-authenticator", "bool", "accept a verified mesh client certificate instead of a token", false),
  spec("tokenAuthenticator", "--token-authenticator", { enum: ["jwks", "tokenreview"] }, "jwks (local verification) or tokenreview", (m) => (m === "kubernetes" ? "tokenreview" : "jwks")),
  spec("jwksFile", "--jwks-file", "string", "JWKS file for the jwks authenticator", "", (v) => (v === "" ? undefined : readableFile(v))),
  spec("jwksUrl", "--jwks-url", "string", "JWKS URL for the jwks authenticator", "", (v) => (v === "" ? undefined : httpUrl(v))),
  spec("oidcIssuerUrl", "--oidc-issuer-url", "string", "OIDC issuer URL (discovery names the JWKS)", "", (v) => (v === "" ? undefined : httpUrl(v))),
  spec("tokenIssuer", "--token-issuer", "string", "expected iss of tokens", ""),
  spec("tokenAudiences", "--token-audiences", "list", "accepted token audiences", ["istio-ca"], (v) => (v.length > 0 ? undefined : "needs at least one audience")),
  spec("tokenClockSkew", "--token-clock-skew", "int", "allowed clock skew for exp/nbf, seconds", 30, (v) => (v >= 0 && v <= 300 ? undefined : "must be 0-300 seconds")),
  spec("devTokenIssuer", "--dev-token-issuer", "bool", "mint and accept development tokens (trying meshsign out only)", (m) => m === "standalone"),
  spec("csrKeyTypes", "--csr-key-types", "list", "key types accepted in CSRs", ["rsa", "ecdsa-p256", "ecdsa-p384", "ed25519"], (v) =>
    v.length > 0 && v.every((t) => ["rsa", "ecdsa-p256", "ecdsa-p384", "ed25519"].includes(t)) ? undefined : "entries must be rsa, ecdsa-p256, ecdsa-p384 or ed25519",
  ),
  spec("maxCsrBytes", "--max-csr-bytes", "int", "largest accepted CSR PEM, bytes", 16_384, (v) => (v >= 512 && v <= 1_048_576 ? undefined : "must be 512-1048576")),
  spec("workers", "--workers", "int", "CreateCertificate processes (0 = the primary alone on up to 2 usable CPUs, else one worker per CPU, within the container's CPU limit)", 0, (v) => (v >= 0 && v <= MAX_WORKERS ? undefined : `must be 0-${MAX_WORKERS}`)),
  spec("grpcImplementation", "--grpc-implementation", { enum: GRPC_IMPLEMENTATIONS }, "gRPC server of the CreateCertificate port: h2 (meshsign's own unary server on node:http2) or grpc-js", DEFAULT_GRPC_IMPLEMENTATION),
  spec("grpcMaxConcurrentStreams", "--grpc-max-concurrent-streams", "int", "HTTP/2 streams one connection may open on the CreateCertificate port", 100, (v) =>
    v >= 1 && v <= 10_000 ? undefined : "must be 1-10000",
  ),
  spec("grpcMaxConnections", "--grpc-max-connections", "int", "open connections per CreateCertificate worker; more are closed", 4096, (v) =>
    v >= 1 && v <= 1_000_000 ? undefined : "must be 1-1000000",
  ),
  spec("grpcMaxConnectionIdle", "--grpc-max-connection-idle", "duration", "close a CreateCertificate connection idle this long", 5 * 60_000, positive),
  spec("grpcMaxConnectionAge", "--grpc-max-connection-age", "duration", "close CreateCertificate connections after this age (+-10%, 10s grace)", 30 * 60_000, positive),
  spec("maxInFlight", "--max-in-flight", "int", "CreateCertificate calls a worker processes at once", 64, (v) => (v >= 1 && v <= 10_000 ? undefined : "must be 1-10000")),
  spec("maxQueued", "--max-queued", "int", "CreateCertificate calls a worker holds waiting; more get RESOURCE_EXHAUSTED", 1024, (v) =>
    v >= 0 && v <= 1_000_000 ? undefined : "must be 0-1000000",
  ),
  spec("maxQueueWait", "--max-queue-wait", "duration", "longest a CreateCertificate call waits for a slot before RESOURCE_EXHAUSTED", 2000, positive),
  spec("identityRateLimit", "--identity-rate-limit", "int", "certificates per second one SPIFFE identity may get from a worker (0 = no limit)", 10, (v) =>
    v >= 0 && v <= 1_000_000 ? undefined : "must be 0-1000000",
  ),
  spec("identityBurst", "--identity-burst", "int", "certificates one SPIFFE identity may get at once from a worker", 100, (v) =>
    v >= 1 && v <= 1_000_000 ? undefined : "must be 1-1000000",
  ),
  spec("shutdownGracePeriod", "--shutdown-grace-period", "duration", "grace period for in-flight requests on SIGTERM (at most 596h)", 10_000, shutdownGracePeriod),
  spec("manifests", "--manifests", "string", "directory of Certificate/Issuer manifests (standalone)", ""),
  spec("strictManifests", "--strict-manifests", "bool", "refuse manifests with unknown fields instead of warning (standalone)", false),
  spec("outputDir", "--output-dir", "string", "where Secrets are also written as files (default <data-dir>/secrets)", ""),
  spec("secretHook", "--secret-hook", "string", "command run after a Secret file changes (no shell)", "", (v) => (v.trim() === "" ? undefined : secretHookProblem(v))),
  spec("clusterResourceNamespace", "--cluster-resource-namespace", "string", "namespace of ClusterIssuer secrets", "meshsign-system", namespaceName),
  spec("kubeconfig", "--kubeconfig", "string", "kubeconfig (kubernetes mode; in-cluster when empty)", ""),
  spec("dns01WebhookConfig", "--dns01-webhook-config", "string", "standalone: YAML file of DNS-01 webhook groups (groupName, url, caFile, tokenFile)", "", (v) =>
    v === "" ? undefined : dns01WebhookConfigProblem(v),
  ),
  spec("issuerName", "--issuer-name", "string", "CA or Vault Issuer/ClusterIssuer that signs workload certificates (default: meshsign's root)", ""),
  spec("issuerKind", "--issuer-kind", { enum: ["Issuer", "ClusterIssuer"] }, "kind of --issuer-name", "ClusterIssuer"),
  spec("issuerGroup", "--issuer-group", "string", "group of --issuer-name", "cert-manager.io", (v) =>
    v === "cert-manager.io" ? undefined : "only cert-manager.io issuers are served in-process",
  ),
  spec("issuerNamespace", "--issuer-namespace", "string", "namespace of --issuer-name when it is an Issuer", "istio-system", namespaceName),
  spec("certificateSelector", "--certificate-selector", "labelSelector", "reconcile only Certificates whose labels this selector selects", EVERYTHING),
  spec("certificateIssuerGroups", "--certificate-issuer-groups", "list", "reconcile only Certificates whose issuerRef.group is listed", []),
  spec("runtimeIssuanceConfigMapName", "--runtime-issuance-config-map-name", "string", "ConfigMap selecting the signing issuer at runtime (issuer-name/kind/group)", ""),
  spec("runtimeIssuanceConfigMapNamespace", "--runtime-issuance-config-map-namespace", "string", "namespace of the runtime issuance ConfigMap", "meshsign-system", namespaceName),
  spec("leaderElectionNamespace", "--leader-election-namespace", "string", "namespace of the leader-election Lease", "meshsign-system", namespaceName),
  spec("configmapNamespaceSelector", "--configmap-namespace-selector", "labelSelector", "namespaces that get istio-ca-root-cert (empty = all)", EVERYTHING),
  spec("istiodCertificateEnable", "--istiod-certificate-enable", "bool", "issue istiod's serving certificate (Secret istiod-tls)", (m) => m === "kubernetes"),
  spec("istioNamespace", "--istio-namespace", "string", "namespace of istiod", "istio-system", namespaceName),
  spec("istioRevisions", "--istio-revisions", "list", "Istio revisions whose istiod names go in istiod-tls", ["default"], (v) => {
    // Each becomes a DNS label of istiod's certificate (istiod-<revision>.<ns>.svc), as Istio's revision names are.
    const bad = v.find((r) => !/^[a-z0-9]([-a-z0-9]{0,54}[a-z0-9])?$/.test(r));
    return bad === undefined ? undefined : `"${bad}" is not an Istio revision name (lowercase letters, digits and hyphens)`;
  }),
  spec("istiodCertificateDuration", "--istiod-certificate-duration", "duration", "lifetime of istiod's certificate", H, atLeastCertificateMinimum),
  spec("istiodCertificateRenewBefore", "--istiod-certificate-renew-before", "duration", "renew istiod's certificate this long before expiry", 30 * 60_000, (v) =>
    v >= MINIMUM_RENEW_BEFORE_MS ? undefined : `must be at least ${formatGoDuration(MINIMUM_RENEW_BEFORE_MS)} (cert-manager's shortest renewBefore)`,
  ),
  spec("istiodCertificateAdditionalDnsNames", "--istiod-certificate-additional-dns-names", "list", "DNS names added to istiod's certificate", [], (v) => {
    const bad = v.find((n) => !isDnsSubdomain(n));
    return bad === undefined ? undefined : `"${bad}" is not a DNS-1123 subdomain (lowercase letters, digits, '-' and '.', at most 253 characters)`;
  }),
  spec("istiodCertificateKeyAlgorithm", "--istiod-certificate-key-algorithm", { enum: ["RSA", "ECDSA"] }, "key algorithm of istiod's certificate", "RSA"),
  spec("istiodCertificateKeySize", "--istiod-certificate-key-size", "int", "RSA bits (2048-8192) or ECDSA curve size (256, 384) of istiod's key; 0 = 2048 for RSA, 256 for ECDSA", 0, (v) =>
    v >= 0 ? undefined : "must not be negative",
  ),
  spec("acmeHttp01SolverAddress", "--acme-http01-solver-address", "string", "ACME HTTP-01 solver listener host:port, opened once an ACME issuer exists (empty = off)", "0.0.0.0:8089", (v) => (v === "" ? undefined : hostPort(v))),
  spec("maxConcurrentChallenges", "--max-concurrent-challenges", "int", "ACME challenges in flight at once", 60, positive),
  spec("acmeOrderDeadline", "--acme-order-deadline", "duration", "ACME: an Order not complete this long after its creation is errored with its last reason", H, (v) =>
    v >= 60_000 && v <= 7 * 24 * H ? undefined : "must be between 1m and 168h",
  ),
  spec("dns01RecursiveNameservers", "--dns01-recursive-nameservers", "list", "DNS-01: resolvers for the propagation check (host[:port], [v6][:port], https:// DoH URLs; default: the system's)", [], (v) =>
    recursiveNameserversProblem(v),
  ),
  spec("dns01RecursiveNameserversOnly", "--dns01-recursive-nameservers-only", "bool", "DNS-01: check propagation only at --dns01-recursive-nameservers, not at the zone's authoritative servers", false),
  spec("certificateShims", "--certificate-shims", "list", "annotated sources that get Certificates: ingress, gateway (Gateway API), istio-gateway; empty = off", [...CERTIFICATE_SHIMS], (v) =>
    v.every((s) => (CERTIFICATE_SHIMS as readonly string[]).includes(s)) ? undefined : `entries must be ${CERTIFICATE_SHIMS.join(", ")}`,
  ),
  spec("defaultIssuerName", "--default-issuer-name", "string", "issuer of shimmed Certificates whose source names none (kubernetes.io/tls-acme)", ""),
  spec("defaultIssuerKind", "--default-issuer-kind", "string", "kind of the fallback issuer of shimmed Certificates", "Issuer"),
  spec("defaultIssuerGroup", "--default-issuer-group", "string", "group of the fallback issuer of shimmed Certificates", "cert-manager.io"),
  spec("autoCertificateAnnotations", "--auto-certificate-annotations", "list", "Ingress annotations that, set to true, ask for a Certificate from the default issuer", ["kubernetes.io/tls-acme"]),
  spec("istioGatewaySecretNamespace", "--istio-gateway-secret-namespace", "string", "namespace of the Secrets made for Istio Gateways, where the gateway deployment runs (default: the Gateway's)", "", (v) =>
    v === "" ? undefined : namespaceName(v),
  ),
  spec("bundleEndpointAddress", "--bundle-endpoint-address", "string", "SPIFFE trust bundle endpoint host:port (HTTPS; empty = off)", "", (v) => (v === "" ? undefined : hostPort(v))),
  spec("bundleEndpointProfile", "--bundle-endpoint-profile", { enum: ["https_web", "https_spiffe"] }, "bundle endpoint authentication: https_web or https_spiffe (meshsign's SVID spiffe://<trust-domain>/meshsign)", "https_web"),
  spec("bundleEndpointCertFile", "--bundle-endpoint-cert-file", "string", "https_web: certificate chain for a Web PKI name (default: meshsign's serving certificate)", ""),
  spec("bundleEndpointKeyFile", "--bundle-endpoint-key-file", "string", "https_web: private key of --bundle-endpoint-cert-file", ""),
  spec("bundleEndpointRefreshHint", "--bundle-endpoint-refresh-hint", "duration", "spiffe_refresh_hint of the served bundle", DEFAULT_BUNDLE_REFRESH_HINT_MS, (v) =>
    v >= 1000 && v <= 7 * 24 * H ? undefined : "must be between 1s and 168h",
  ),
  spec("logLevel", "--log-level", { enum: ["trace", "debug", "info", "warn", "error", "fatal"] }, "log level", "info"),
  spec("logFormat", "--log-format", { enum: ["json", "text"] }, "log format", "json"),
];

function spec<K extends keyof Config>(
  key: K,
  flag: string,
  kind: Kind,
  description: string,
  dflt: Config[K] | ((mode: Mode) => Config[K]),
  validate?: (value: Config[K]) => string | undefined,
): OptionSpec {
  return { key, flag, kind, description, default: dflt, validate } as unknown as OptionSpec;
}

/** Environment variable of an option: --max-csr-bytes -> MESHSIGN_MAX_CSR_BYTES. */
export function envName(option: OptionSpec): string {
  return `MESHSIGN_${option.flag.slice(2).toUpperCase().replaceAll("-", "_")}`;
}

export interface ConfigSources {
  /** Path of a YAML file (keys are the camelCase option names). */
  readonly file?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Flag values keyed by camelCase option name, as the CLI parser gives them. */
  readonly flags?: Readonly<Record<string, unknown>>;
}

export interface LoadConfigOptions {
  /**
   * "serve" (the default) runs every cross-check. "client" skips those only a
   * serving process needs (where tokens are verified, certificate lifetimes),
   * so that a CLI command like `meshsign token` reports what concerns it (the
   * dev issuer is off) rather than a server setting it does not use.
   */
  readonly purpose?: "serve" | "client";
}

/**
 * An empty environment variable counts as unset (Kubernetes and shells leave them behind), except
 * for the options whose default is on and whose documented "empty = off" is the only way to turn
 * them off: without this, MESHSIGN_CERTIFICATE_SHIMS= left every shim running.
 */
const EMPTY_TURNS_OFF: ReadonlySet<keyof Config> = new Set<keyof Config>(["acmeHttp01SolverAddress", "certificateShims"]);

/** Options only the Kubernetes mode reads, with what they are for. */
const KUBERNETES_ONLY: readonly (readonly [keyof Config, string])[] = [
  ["kubeconfig", "how to reach the API server"],
  ["leaderElectionNamespace", "the Lease replicas elect a leader with"],
  ["runtimeIssuanceConfigMapName", "a ConfigMap that switches the signing issuer"],
  ["runtimeIssuanceConfigMapNamespace", "a ConfigMap that switches the signing issuer"],
  ["configmapNamespaceSelector", "namespaces that get istio-ca-root-cert"],
  ["istiodCertificateEnable", "istiod's serving certificate, the Secret istiod-tls"],
];

/** Reads, merges and validates the configuration. Throws ERR_CONFIG_INVALID naming every bad key. */
export function loadConfig(sources: ConfigSources = {}, options: LoadConfigOptions = {}): Config {
  const problems: string[] = [];
  const fromFile = sources.file ? readConfigFile(sources.file) : {};
  const known = new Set(OPTIONS.map((o) => o.key as string));
  for (const k of Object.keys(fromFile)) {
    if (!known.has(k)) problems.push(`${sources.file}: unknown key "${k}"`);
  }
  const raw = new Map<keyof Config, { value: unknown; origin: string }>();
  for (const o of OPTIONS) {
    const flagValue = sources.flags?.[o.key];
    const envValue = sources.env?.[envName(o)];
    if (flagValue !== undefined) raw.set(o.key, { value: flagValue, origin: o.flag });
    else if (envValue !== undefined && (envValue !== "" || EMPTY_TURNS_OFF.has(o.key))) raw.set(o.key, { value: envValue, origin: envName(o) });
    else if (o.key in fromFile) {
      const value = fromFile[o.key];
      // YAML reads `shutdownGracePeriod: 30` as a number, which would be taken as 30 ms; Go's (and
      // cert-manager's) config files write durations as strings, so a bare number is a missing unit.
      if (o.kind === "duration" && typeof value === "number") {
        problems.push(`${sources.file}: ${o.key}: ${value} has no unit: write a duration such as ${value}s, ${value}m or ${value}h`);
        continue;
      }
      raw.set(o.key, { value, origin: `${sources.file}: ${o.key}` });
    }
  }
  const modeRaw = raw.get("mode")?.value ?? "standalone";
  const mode: Mode = modeRaw === "kubernetes" ? "kubernetes" : "standalone";
  const out: Record<string, unknown> = {};
  for (const o of OPTIONS) {
    const given = raw.get(o.key);
    let value: unknown;
    if (given === undefined) {
      value = typeof o.default === "function" ? (o.default as (m: Mode) => unknown)(mode) : o.default;
    } else {
      const coerced = coerce(o.kind, given.value);
      if (typeof coerced === "string" && coerced.startsWith("\u0000")) {
        problems.push(`${given.origin}: ${coerced.slice(1)}`);
        continue;
      }
      value = coerced;
      const bad = o.validate?.(value as never);
      if (bad) {
        problems.push(`${given.origin}: ${bad}`);
        continue;
      }
    }
    out[o.key] = value;
  }
  const config = out as unknown as Config;
  if (mode === "standalone" && (options.purpose ?? "serve") === "serve") {
    // Given but read only by the Kubernetes mode: refused, as the reverse is, rather than ignored.
    for (const [key, what] of KUBERNETES_ONLY) {
      const given = raw.get(key);
      if (given !== undefined && !(key === "istiodCertificateEnable" && out[key] === false))
        problems.push(`${given.origin}: kubernetes mode only (${what}); standalone has no cluster`);
    }
  }
  if (problems.length === 0) problems.push(...crossChecks(config, options.purpose ?? "serve"));
  if (problems.length > 0) {
    throw new MeshsignError("ERR_CONFIG_INVALID", `invalid configuration:\n  ${problems.join("\n  ")}`);
  }
  return config;
}

function crossChecks(c: Config, purpose: "serve" | "client"): string[] {
  const p: string[] = [];
  if (c.mode === "kubernetes" && c.devTokenIssuer) {
    p.push("--dev-token-issuer: the development token issuer can never be enabled in kubernetes mode");
  }
  if (purpose === "client") return p;
  if (c.tokenAuthenticator === "jwks" && !c.devTokenIssuer && !c.jwksFile && !c.jwksUrl && !c.oidcIssuerUrl) {
    p.push("--token-authenticator: jwks needs --jwks-file, --jwks-url or --oidc-issuer-url when --dev-token-issuer is off");
  }
  // Only an OIDC issuer names its own `iss`; a JWKS file or URL does not say which issuer signs with it.
  if ((c.jwksFile !== "" || c.jwksUrl !== "") && c.tokenIssuer === "") {
    p.push(`--token-issuer: required with ${c.jwksFile !== "" ? "--jwks-file" : "--jwks-url"} (the iss its tokens carry, e.g. https://kubernetes.default.svc.cluster.local)`);
  }
  if ((c.bundleEndpointCertFile === "") !== (c.bundleEndpointKeyFile === "")) {
    p.push("--bundle-endpoint-cert-file: needs --bundle-endpoint-key-file, and the reverse");
  } else if (c.bundleEndpointCertFile !== "" && c.bundleEndpointProfile !== "https_web") {
    p.push("--bundle-endpoint-cert-file: only the https_web profile serves a configured certificate; https_spiffe serves meshsign's SVID");
  }
  if (c.mode === "kubernetes") {
    // The engine reads Certificates from the API server and writes Secrets there; these would be ignored.
    const standaloneOnly: [keyof Config, string, string][] = [
      ["manifests", "--manifests", "apply the manifests to the cluster (kubectl apply)"],
      ["outputDir", "--output-dir", "Secrets are written to the API server; mount them where files are needed"],
      ["secretHook", "--secret-hook", "no Secret files are written"],
    ];
    for (const [key, flag, instead] of standaloneOnly) {
      if (c[key] !== "") p.push(`${flag}: standalone only; in kubernetes mode ${instead}`);
    }
    if (c.strictManifests) p.push("--strict-manifests: standalone only (manifests are validated by the API server in kubernetes mode)");
  }
  if (c.mode === "kubernetes" && c.dns01WebhookConfig !== "") {
    p.push("--dns01-webhook-config: standalone only; in kubernetes mode webhooks are reached through the API server (their APIService)");
  }
  if (c.dns01RecursiveNameserversOnly && c.dns01RecursiveNameservers.length === 0) {
    p.push("--dns01-recursive-nameservers-only: needs --dns01-recursive-nameservers (the resolvers to ask instead of the authoritative servers)");
  }
  p.push(...servingTlsProblems(c));
  if (c.istiodCertificateEnable) {
    if (c.istiodCertificateRenewBefore >= c.istiodCertificateDuration) {
      p.push("--istiod-certificate-renew-before: must be shorter than --istiod-certificate-duration");
    }
    const size = c.istiodCertificateKeySize;
    if (c.istiodCertificateKeyAlgorithm === "RSA" && size !== 0 && (size < 2048 || size > 8192)) {
      p.push("--istiod-certificate-key-size: an RSA key must be 2048-8192 bits");
    } else if (c.istiodCertificateKeyAlgorithm === "ECDSA" && size !== 0 && size !== 256 && size !== 384) {
      p.push("--istiod-certificate-key-size: an ECDSA key must be 256 or 384 (P-256 or P-384)");
    }
  }
  if (c.defaultClientCertificateDuration > c.maxClientCertificateDuration) {
    p.push("--default-client-certificate-duration: must not exceed --max-client-certificate-duration");
  }
  return p;
}

/** What is wrong with a --dns01-webhook-config file, or undefined when it loads. */
function dns01WebhookConfigProblem(file: string): string | undefined {
  try {
    loadWebhookEndpoints(file);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new MeshsignError("ERR_CONFIG_INVALID", `cannot read config file ${path}`, { cause: err });
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new MeshsignError("ERR_CONFIG_INVALID", `config file ${path} is not valid YAML: ${(err as Error).message}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== "object" || Array.isArray(doc)) {
    throw new MeshsignError("ERR_CONFIG_INVALID", `config file ${path} must be a YAML mapping`);
  }
  return doc as Record<string, unknown>;
}

/** Coerces a raw value; returns "\0<message>" on failure (keeps the loop flat). */
function coerce(kind: Kind, v: unknown): unknown {
  if (typeof kind === "object") {
    return typeof v === "string" && kind.enum.includes(v) ? v : `\u0000must be one of ${kind.enum.join(", ")}`;
  }
  switch (kind) {
    case "string":
      return typeof v === "string" ? v : typeof v === "number" ? String(v) : "\u0000must be a string";
    case "int": {
      const n = typeof v === "number" ? v : typeof v === "string" && /^-?\d+$/.test(v.trim()) ? Number(v) : Number.NaN;
      return Number.isInteger(n) ? n : "\u0000must be an integer";
    }
    case "bool":
      if (typeof v === "boolean") return v;
      if (v === "true" || v === "1") return true;
      if (v === "false" || v === "0") return false;
      return "\u0000must be true or false";
    case "duration":
      if (typeof v === "number" && v > 0) return v;
      if (typeof v === "string") {
        const ms = tryParseGoDuration(v);
        return ms === undefined ? `\u0000"${v}" is not a duration (e.g. 1h, 30m, 2160h)` : ms;
      }
      return "\u0000must be a duration such as 1h or 30m";
    case "list":
      if (Array.isArray(v) && v.every((x) => typeof x === "string")) return v.map((x) => x.trim()).filter(Boolean);
      if (typeof v === "string") return v.split(",").map((x) => x.trim()).filter(Boolean);
      return "\u0000must be a comma-separated list";
    case "labelSelector": {
      // Kubernetes' label selector syntax (labels.Parse), parsed here once; empty selects everything.
      if (typeof v !== "string") return "\u0000must be a label selector such as app=x or env in (prod,staging)";
      const parsed = tryParseLabelSelector(v);
      return "selector" in parsed ? parsed.selector : `\u0000${JSON.stringify(v)}: ${parsed.problem}`;
    }
  }
}

/** A DNS-1123 subdomain, as Kubernetes validates names (and istio-csr istiod's additional DNS names). */
function isDnsSubdomain(name: string): boolean {
  return name.length <= 253 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(name);
}
