import type { Caller } from "../authn/index.js";
import {
  authorizeCsr,
  authorizeImpersonation,
  buildSvidTemplate,
  DEFAULT_CSR_POLICY,
  parseTrustedNodeAccounts,
  type CsrPolicy as CsrAuthzPolicy,
  type KeyPolicy,
  type PodLookup,
} from "../authz/index.js";
import { MeshsignError } from "../errors/index.js";
import { parseCsr, type ParsedCsr } from "../pki/index.js";
import type { CsrKeyType } from "../server/config.js";
import type { AuthorizedRequest, CsrPolicy } from "./handler.js";

export interface SvidPolicyOptions {
  readonly trustDomain: string;
  readonly maxDurationMs: number;
  readonly defaultDurationMs: number;
  readonly maxCsrBytes: number;
  readonly keyTypes: readonly CsrKeyType[];
  /** ns/sa of callers allowed to impersonate (ztunnel); empty = impersonation refused. */
  readonly trustedNodeAccounts: readonly string[];
  /**
   * Pods, to check that an impersonating caller runs on the same node as a pod
   * of the requested identity (istio-csr's node authorizer). Kubernetes mode
   * only; without it impersonation is refused.
   */
  readonly pods?: PodLookup;
  /** How far notBefore is back-dated for clock skew. */
  readonly backdateMs?: number;
}

/** notBefore is back-dated for clock skew between meshsign and its clients (istiod uses 2 min). */
export const DEFAULT_BACKDATE_MS = 2 * 60_000;

/**
 * The CreateCertificate policy: parse the CSR, decide the identity it may
 * carry (the caller's own, or an impersonated one for trusted node agents),
 * run the authorization chain of `src/authz`, and build the X.509-SVID
 * template from the authenticated identity (never copied from the CSR).
 */
export function createSvidPolicy(options: SvidPolicyOptions): CsrPolicy {
  const authz: CsrAuthzPolicy = { ...DEFAULT_CSR_POLICY, keys: keyPolicy(options.keyTypes) };
  const trusted = parseTrustedNodeAccounts(options.trustedNodeAccounts);
  const backdate = options.backdateMs ?? DEFAULT_BACKDATE_MS;
  return async ({ caller, csrPem, validityDurationSeconds, impersonatedIdentity, now }) => {
    if (!csrPem) throw new MeshsignError("ERR_CSR_MISSING", "request has no CSR");
    const csr = parseCsr(csrPem, { maxBytes: options.maxCsrBytes });
    const identity =
      impersonatedIdentity === undefined ? ownIdentity(caller) : await impersonated(caller, impersonatedIdentity, trusted, options);
    authorizeCsr({ csr, expectedIdentity: identity, policy: authz });
    const durationMs = validity(validityDurationSeconds, options);
    const template = buildSvidTemplate(identity, csr.publicKeySpki, {
      notBefore: new Date(now - backdate),
      notAfter: new Date(now + durationMs),
    });
    return { identity, template, keyAlgorithm: keyAlgorithmName(csr) } satisfies AuthorizedRequest;
  };
}

/** validity_duration <= 0 gets the default; longer than the max is clamped, as istio-csr does. */
export function validity(requestedSeconds: bigint, options: Pick<SvidPolicyOptions, "maxDurationMs" | "defaultDurationMs">): number {
  if (requestedSeconds <= 0n) return Math.min(options.defaultDurationMs, options.maxDurationMs);
  const maxSeconds = BigInt(Math.floor(options.maxDurationMs / 1000));
  return Number(requestedSeconds > maxSeconds ? maxSeconds : requestedSeconds) * 1000;
}

function keyPolicy(types: readonly CsrKeyType[]): KeyPolicy {
  const curves = types.flatMap((t) => (t === "ecdsa-p256" ? ["P-256" as const] : t === "ecdsa-p384" ? ["P-384" as const] : []));
  return {
    ...DEFAULT_CSR_POLICY.keys,
    // Without "rsa" no RSA key passes: the minimum is raised past any modulus accepted.
    rsaMinBits: types.includes("rsa") ? DEFAULT_CSR_POLICY.keys.rsaMinBits : Number.POSITIVE_INFINITY,
    ecCurves: curves,
    ed25519: types.includes("ed25519"),
  };
}

function ownIdentity(caller: Caller): string {
  if (caller.identities.length !== 1) {
    throw new MeshsignError("ERR_UNAUTHENTICATED", "caller must have exactly one identity", { detail: { identities: caller.identities.length } });
  }
  return caller.identities[0] as string;
}

/** ztunnel asks on behalf of a workload on its node (istio-csr's node authorizer, reference §3.2 item 4). */
async function impersonated(
  caller: Caller,
  requested: string,
  trusted: ReturnType<typeof parseTrustedNodeAccounts>,
  options: SvidPolicyOptions,
): Promise<string> {
  if (!options.pods) {
    throw new MeshsignError("ERR_IMPERSONATION_DENIED", "impersonation needs Kubernetes mode (pods are checked on the caller's node)");
  }
  const k = caller.kubernetes;
  if (!k) throw new MeshsignError("ERR_IMPERSONATION_DENIED", "impersonation needs a Kubernetes service-account token");
  return authorizeImpersonation(
    {
      caller: { namespace: k.namespace, serviceAccount: k.serviceAccount, ...(k.podName ? { podName: k.podName } : {}), ...(k.podUid ? { podUid: k.podUid } : {}) },
      requestedIdentity: requested,
      trustedAccounts: trusted,
      trustDomain: options.trustDomain,
    },
    options.pods,
  );
}

function keyAlgorithmName(csr: ParsedCsr): string {
  const k = csr.keyAlgorithm;
  return k.type === "rsa" ? `rsa-${k.bits}` : k.type === "ec" ? `ecdsa-${k.curve.toLowerCase().replace("-", "")}` : "ed25519";
}
