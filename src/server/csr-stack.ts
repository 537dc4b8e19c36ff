import { X509Certificate } from "node:crypto";
import { buildSvidTemplate } from "../authz/index.js";
import { decodePemAll, splitPemBundle, verifyChain } from "../pki/index.js";
import { buildCsr, generateKeySync, publicKeySpki } from "../pki/keys.js";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import {
  authenticateChain,
  ClientCertAuthenticator,
  DevTokenIssuer,
  JwksAuthenticator,

  TokenReviewAuthenticator,
  type Authenticator,
  type JwksSource,
} from "../authn/index.js";
import { checkIssuedForWorkload } from "../csr-service/check-issued.js";
import type { CsrServiceDeps, IssuedEvent } from "../csr-service/handler.js";
import { IdentityRateLimiter, rateLimitedPolicy } from "../csr-service/identity-rate-limit.js";
import { CsrMetrics } from "../csr-service/metrics.js";
import { verifiedPeerCertificates } from "../csr-service/peer-certificate.js";
import { createSvidPolicy } from "../csr-service/policy.js";
import { MeshsignError } from "../errors/index.js";
import { CaIssuer } from "../issuers/ca/ca-issuer.js";
import type { Issuer } from "../issuers/issuer.js";
import type { Config } from "./config.js";
import { flatLineLogger } from "./logger.js";
import { PresentedChains } from "./tls/presented-chains.js";

/** The signing CA and the mesh roots a process serves with; handed from the primary to workers. */
export interface CaMaterial {
  readonly certificatePem: string;
  readonly privateKeyPem: string;
  /** Where it came from, for messages ("file ...", "secret ns/name"). */
  readonly origin: string;
  /** Concatenated PEM of every trusted root (the last element of each response). */
  readonly rootsPem: string;
  /**
   * Kubernetes: `--issuer-name` names a remote (Vault) issuer, so this is
   * meshsign's own CA and its roots are not the workloads' (those are known
   * once the remote issuer has signed, unless `--root-ca-file` gives them).
   */
  readonly workloadIssuerRemote?: boolean;
}

/**
 * Workload certificates signed by a remote issuer (Vault) instead of the
 * in-process CA. Every answer is checked against `rootsPem` before it is
 * returned.
 */
export interface RemoteSigning {
  readonly issuer: Issuer;
  /** Concatenated PEM of the mesh roots (the last element of each response). */
  readonly rootsPem: string;
  /** For messages, e.g. "Vault ClusterIssuer/vault". */
  readonly origin: string;
}

/** Everything CreateCertificate needs, built once per process. */
export interface CsrStack {
  readonly issuer: Issuer;
  /** Concatenated PEM of the mesh roots. */
  roots(): string;
  /** Replaces the roots (rotation: old + new) after checking the CA still chains to them; throws otherwise. */
  setRoots(pem: string): Promise<void>;
  /** Switches the signing CA and its roots (runtime issuer selection) after the same self-test; throws otherwise. */
  setCa(ca: CaMaterial): Promise<void>;
  /**
   * Switches signing to a remote issuer and its roots, after one self-test
   * signature through it unless `selfTest` is false (a worker whose primary
   * tested the same issuer); throws otherwise.
   */
  setRemote(remote: RemoteSigning, options?: { selfTest?: boolean }): Promise<void>;
  /**
   * With the client-certificate authenticator: the chains clients present in
   * their handshakes, which the frontend records and the check reads.
   */
  readonly clientChains: PresentedChains | undefined;
  /** Whether a remote issuer signs now (and its answers are checked). */
  remote(): boolean;
  deps(onIssued: (event: IssuedEvent) => void): CsrServiceDeps;
  close(): Promise<void>;
}

export async function buildCsrStack(
  config: Config,
  ca: CaMaterial,
  log: Logger,
  registry: Registry,
  options: {
    dataDir: string;
    /**
     * The token's and the leaf's signatures on libuv's thread pool. Each trip
     * costs more CPU than the signature itself; it pays only where cores would
     * otherwise be idle (fewer CreateCertificate processes than usable cores).
     */
    cryptoOnThreadPool?: boolean;
  },
): Promise<CsrStack> {
  const onPool = options.cryptoOnThreadPool === true;
  const usableCa = (material: CaMaterial) => usableCaIssuer(material, onPool);
  let current: Issuer = await usableCa(ca);
  let origin = ca.origin;
  let rootsPem = ca.rootsPem;
  let remote = false;
  // Named after where the roots come from, so a root file that does not hold the CA's root names the flag to fix.
  await selfTest(current, rootsPem, config.trustDomain, origin, remote, config.rootCaFile ? `the roots of --root-ca-file ${config.rootCaFile}` : undefined);
  // The handler holds this one object; setCa and setRemote swap what it delegates to.
  const issuer: Issuer = {
    get kind() {
      return current.kind;
    },
    status: () => current.status(),
    sign: (request, signal) => current.sign(request, signal),
  };
  const authenticators = await buildAuthenticators(config, options.dataDir, onPool);
  const metrics = new CsrMetrics(registry);
  metrics.caExpiry.set(Date.parse(new X509Certificate(ca.certificatePem).validTo) / 1000);
  const policy = createSvidPolicy({
    trustDomain: config.trustDomain,
    maxDurationMs: config.maxClientCertificateDuration,
    defaultDurationMs: config.defaultClientCertificateDuration,
    maxCsrBytes: config.maxCsrBytes,
    keyTypes: config.csrKeyTypes,
    trustedNodeAccounts: config.caTrustedNodeAccounts,
    ...(config.mode === "kubernetes" && config.caTrustedNodeAccounts.length > 0 ? { pods: await kubePods(config) } : {}),
  });
  // One identity cannot take the CA from the others (per process; see IdentityRateLimiter).
  const limitedPolicy =
    config.identityRateLimit > 0
      ? rateLimitedPolicy(policy, new IdentityRateLimiter({ ratePerSecond: config.identityRateLimit, burst: config.identityBurst }))
      : policy;
  const clientChains = config.enableClientCertAuthenticator ? new PresentedChains() : undefined;
  const peerCertificates = clientChains
    ? verifiedPeerCertificates(
        () => rootsPem,
        (leaf) => clientChains.above(leaf),
      )
    : undefined;
  // Its fields are strings only (see flatLineLogger).
  const audit = flatLineLogger(log);
  return {
    issuer,
    clientChains,
    roots: () => rootsPem,
    setRoots: async (pem) => {
      const bundle = rootsBundle(pem, "the new roots");
      await selfTest(current, bundle, config.trustDomain, origin, remote);
      rootsPem = bundle;
    },
    setCa: async (next) => {
      const candidate = await usableCa(next);
      await selfTest(candidate, next.rootsPem, config.trustDomain, next.origin, false);
      current = candidate;
      origin = next.origin;
      rootsPem = next.rootsPem;
      remote = false;
      metrics.caExpiry.set(Date.parse(new X509Certificate(next.certificatePem).validTo) / 1000);
    },
    setRemote: async (next, opts) => {
      const bundle = rootsBundle(next.rootsPem, `the mesh roots of ${next.origin}`);
      if (opts?.selfTest !== false) await selfTest(next.issuer, bundle, config.trustDomain, next.origin, true);
      current = next.issuer;
      origin = next.origin;
      rootsPem = bundle;
      remote = true;
    },
    remote: () => remote,
    deps: (onIssued) => ({
      authenticate: (input) => authenticateChain(authenticators, input),
      policy: limitedPolicy,
      issuer,
      roots: () => rootsPem,
      checkIssued: () => remote,
      ...(peerCertificates ? { peerCertificates } : {}),
      metrics,
      log,
      onIssued: (event) => {
        // The audit trail: one line per issued workload certificate. Never the token or the CSR.
        audit.info(
          {
            identity: event.identity,
            serial: event.serial,
            notAfter: new Date(event.notAfter).toISOString(),
            keyAlgorithm: event.keyAlgorithm,
            authenticator: event.authenticator,
            peer: event.peer,
          },
          "certificate issued",
        );
        onIssued(event);
      },
    }),
    close: async () => {},
  };
}

async function usableCaIssuer(ca: CaMaterial, signOnThreadPool: boolean): Promise<CaIssuer> {
  const issuer = await CaIssuer.create(
    { certificatePem: ca.certificatePem, privateKeyPem: ca.privateKeyPem, origin: ca.origin },
    { signOnThreadPool },
  );
  const status = issuer.status();
  if (!status.ready) throw new MeshsignError("ERR_ISSUER_NOT_READY", `the CA (${ca.origin}) is not usable: ${status.message}`);
  return issuer;
}

/**
 * Issues one throwaway SVID at start and verifies it the way a client will:
 * up to one of the roots we return, for serverAuth and clientAuth (istio-csr
 * checks every response so; with an in-process CA one check at start
 * suffices, and a CA that does not chain to `--root-ca-file` fails loudly
 * here instead of in every sidecar). A remote issuer gets a real CSR and the
 * checks every one of its answers gets.
 */
async function selfTest(issuer: Issuer, rootsPem: string, trustDomain: string, origin: string, remote: boolean, rootsOrigin = "the mesh roots"): Promise<void> {
  const now = Date.now();
  const privateKey = generateKeySync({ type: "ec", curve: "P-256" });
  const identity = `spiffe://${trustDomain}/ns/meshsign-system/sa/self-test`;
  const template = buildSvidTemplate(identity, publicKeySpki(privateKey), {
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 5 * 60_000),
  });
  const csrPem = remote ? buildCsr(privateKey, { uris: [identity] }) : "";
  const result = await issuer.sign({ requestId: "self-test", csrPem, template }).catch((err: unknown) => {
    const why = err instanceof MeshsignError ? err.message : "unexpected error";
    throw new MeshsignError("ERR_ISSUER_NOT_READY", `${origin} did not sign the start-up self-test: ${why}`, { cause: err, retry: "transient" });
  });
  if (result.status !== "issued") throw new MeshsignError("ERR_ISSUER_NOT_READY", `the CA (${origin}) did not sign the start-up self-test`);
  if (remote) checkIssuedForWorkload({ chain: result.chain, template, identity, rootsPem, now: new Date(now) });
  const [leaf, ...intermediates] = result.chain.map((p) => decodePemAll(p, "CERTIFICATE")[0] as Uint8Array);
  try {
    verifyChain(leaf as Uint8Array, intermediates, decodePemAll(rootsPem, "CERTIFICATE"), {
      at: new Date(now),
      extKeyUsage: ["serverAuth", "clientAuth"],
    });
  } catch (err) {
    throw new MeshsignError("ERR_CHAIN_INVALID", `certificates signed by the CA (${origin}) do not verify against ${rootsOrigin}: ${(err as Error).message}`, { cause: err });
  }
}

/** Splits a PEM bundle into its certificates, refusing one with none. */
export function rootsBundle(pem: string, origin: string): string {
  let blocks: string[];
  try {
    blocks = splitPemBundle(pem);
  } catch (err) {
    throw new MeshsignError("ERR_CONFIG_INVALID", `${origin} is not a valid PEM bundle`, { cause: err });
  }
  if (blocks.length === 0) throw new MeshsignError("ERR_CONFIG_INVALID", `${origin} holds no PEM certificate`);
  return blocks.join("");
}

/**
 * The authenticator chain, in istiod's order: the client certificate first
 * (when enabled), then tokens (TokenReview or JWKS), then the dev issuer.
 */
async function buildAuthenticators(config: Config, dataDir: string, verifyOnThreadPool: boolean): Promise<Authenticator[]> {
  const common = {
    trustDomain: config.trustDomain,
    clusterId: config.clusterId,
    audiences: config.tokenAudiences,
  };
  const list: Authenticator[] = [];
  if (config.enableClientCertAuthenticator) list.push(new ClientCertAuthenticator({ trustDomain: config.trustDomain }));
  if (config.tokenAuthenticator === "tokenreview") {
    const [{ loadKubeConfig }, { keepAliveTokenReviewer }] = await Promise.all([import("./kube-config.js"), import("./kube-token-reviewer.js")]);
    list.push(new TokenReviewAuthenticator({ ...common, reviewer: keepAliveTokenReviewer(await loadKubeConfig(config)) }));
  }
  const sources: { source: JwksSource; issuer?: string }[] = [];
  if (config.jwksFile) sources.push({ source: { kind: "file", path: config.jwksFile } });
  if (config.jwksUrl) sources.push({ source: { kind: "url", url: config.jwksUrl } });
  if (config.oidcIssuerUrl) sources.push({ source: { kind: "oidc", issuer: config.oidcIssuerUrl } });
  for (const s of sources) {
    const issuer = config.tokenIssuer || (s.source.kind === "oidc" ? s.source.issuer : undefined);
    if (!issuer) throw new MeshsignError("ERR_CONFIG_INVALID", "--token-issuer: required with --jwks-file or --jwks-url");
    list.push(
      await JwksAuthenticator.create({ ...common, clockSkewSeconds: config.tokenClockSkew, source: s.source, issuer, verifyOnThreadPool }),
    );
  }
  if (config.devTokenIssuer) {
    const dev = DevTokenIssuer.loadOrCreate(dataDir, { enabled: config.devTokenIssuer });
    list.push(
      await JwksAuthenticator.create({
        ...common,
        clockSkewSeconds: config.tokenClockSkew,
        source: { kind: "static", jwks: dev.jwks },
        issuer: dev.issuer,
        verifyOnThreadPool,
      }),
    );
  }
  return list;
}

async function kubePods(config: Config) {
  const [{ KubeStore }, { loadKubeConfig }, { storePodLookup }] = await Promise.all([
    import("../store/kube/index.js"),
    import("./kube-config.js"),
    import("./kube-pods.js"),
  ]);
  return storePodLookup(new KubeStore({ kubeConfig: await loadKubeConfig(config) }));
}
