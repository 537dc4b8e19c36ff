import type { Caller } from "../authn/index.js";
import { MeshsignError } from "../errors/index.js";
import { parseCsr, type ParsedCsr } from "../pki/index.js";
import type { CertificateTemplate } from "../pki/template.js";
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
   * Checks that an impersonating caller's pod runs on the same node as a pod of
   * the requested identity (istio-csr's node authorizer). Kubernetes mode only;
   * without it impersonation is refused.
   */
  readonly nodeAuthorizer?: (caller: Caller, requestedIdentity: string) => Promise<void>;
  /** How far notBefore is back-dated for clock skew. */
  readonly backdateMs?: number;
}

/** notBefore is back-dated for clock skew between meshsign and its clients (istiod uses 2 min). */
export const DEFAULT_BACKDATE_MS = 2 * 60_000;

/**
 * The CreateCertificate policy: parse the CSR, decide the identity it may
 * carry (the caller's own, or an impersonated one for trusted node agents),
 * run the authorization chain, and build the X.509-SVID template from the
 * authenticated identity (never copied from the CSR).
 */
export function createSvidPolicy(options: SvidPolicyOptions): CsrPolicy {
  const keyTypes = new Set(options.keyTypes);
  const backdate = options.backdateMs ?? DEFAULT_BACKDATE_MS;
  return async ({ caller, csrPem, validityDurationSeconds, impersonatedIdentity, now }) => {
    if (!csrPem) throw new MeshsignError("ERR_CSR_MISSING", "request has no CSR");
    const csr = parseCsr(csrPem, { maxBytes: options.maxCsrBytes });
    const identity = expectedIdentity(caller, impersonatedIdentity, options);
    if (impersonatedIdentity !== undefined) {
      if (!options.nodeAuthorizer) {
        throw new MeshsignError("ERR_IMPERSONATION_DENIED", "impersonation needs Kubernetes mode (pods are checked on the caller's node)");
      }
      await options.nodeAuthorizer(caller, identity);
    }
    for (const check of CHECKS) check(csr, identity, keyTypes);
    const durationMs = validity(validityDurationSeconds, options);
    const template: CertificateTemplate = {
      publicKeySpki: csr.publicKeySpki,
      uris: [identity],
      isCA: false,
      keyUsage: csr.keyAlgorithm.type === "rsa" ? ["digitalSignature", "keyEncipherment"] : ["digitalSignature"],
      extKeyUsage: ["serverAuth", "clientAuth"],
      notBefore: new Date(now - backdate),
      notAfter: new Date(now + durationMs),
    };
    return { identity, template, keyAlgorithm: keyAlgorithmName(csr) } satisfies AuthorizedRequest;
  };
}

/** validity_duration <= 0 gets the default; longer than the max is clamped, as istio-csr does. */
export function validity(requestedSeconds: bigint, options: Pick<SvidPolicyOptions, "maxDurationMs" | "defaultDurationMs">): number {
  if (requestedSeconds <= 0n) return Math.min(options.defaultDurationMs, options.maxDurationMs);
  const maxSeconds = BigInt(Math.floor(options.maxDurationMs / 1000));
  return Number(requestedSeconds > maxSeconds ? maxSeconds : requestedSeconds) * 1000;
}

function expectedIdentity(caller: Caller, impersonated: string | undefined, options: SvidPolicyOptions): string {
  const own = caller.identities;
  if (impersonated === undefined) {
    if (own.length !== 1) {
      throw new MeshsignError("ERR_UNAUTHENTICATED", "caller must have exactly one identity", { detail: { identities: own.length } });
    }
    return own[0] as string;
  }
  // ztunnel asks on behalf of a workload on its node (reference §3.2 item 4).
  if (options.trustedNodeAccounts.length === 0) {
    throw new MeshsignError("ERR_IMPERSONATION_DENIED", "impersonation is not allowed: --ca-trusted-node-accounts is not configured");
  }
  const k = caller.kubernetes;
  if (!k || !options.trustedNodeAccounts.includes(`${k.namespace}/${k.serviceAccount}`)) {
    throw new MeshsignError("ERR_IMPERSONATION_DENIED", "caller is not a trusted node account and may not impersonate");
  }
  const prefix = `spiffe://${options.trustDomain}/ns/`;
  if (!impersonated.startsWith(prefix) || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/sa\/[a-z0-9]([-.a-z0-9]*[a-z0-9])?$/.test(impersonated.slice(prefix.length))) {
    throw new MeshsignError("ERR_IMPERSONATION_DENIED", `impersonated identity must be spiffe://${options.trustDomain}/ns/<ns>/sa/<sa>`);
  }
  return impersonated;
}

type Check = (csr: ParsedCsr, identity: string, keyTypes: ReadonlySet<CsrKeyType>) => void;

const ALLOWED_EXTENSIONS = new Set(["2.5.29.17", "2.5.29.15", "2.5.29.37"]);

/** The authorization chain, in order; the first failing rule names itself. */
const CHECKS: readonly Check[] = [
  function keyAllowed(csr, _id, keyTypes) {
    const k = csr.keyAlgorithm;
    const type: CsrKeyType | undefined =
      k.type === "rsa" ? "rsa" : k.type === "ed25519" ? "ed25519" : k.curve === "P-256" ? "ecdsa-p256" : k.curve === "P-384" ? "ecdsa-p384" : undefined;
    if (type === undefined || !keyTypes.has(type)) {
      throw new MeshsignError("ERR_CSR_KEY_WEAK", `CSR key ${keyAlgorithmName(csr)} is not allowed (allowed: ${[...keyTypes].join(", ")})`);
    }
    if (k.type === "rsa" && (k.bits < 2048 || k.bits > 8192)) {
      throw new MeshsignError("ERR_CSR_KEY_WEAK", `CSR RSA key of ${k.bits} bits is not allowed (2048 to 8192)`);
    }
  },
  function proofOfPossession(csr) {
    if (!csr.verifySignature()) throw new MeshsignError("ERR_CSR_SIGNATURE", "CSR signature does not verify (proof of possession failed)");
  },
  function noCommonName(csr) {
    if (csr.commonName !== undefined && csr.commonName !== "") {
      throw new MeshsignError("ERR_CSR_SUBJECT_FORBIDDEN", "CSR must not carry a common name");
    }
  },
  function onlyUriSans(csr) {
    if (csr.dnsNames.length > 0) throw new MeshsignError("ERR_CSR_SAN_FORBIDDEN", "CSR must not carry DNS SANs");
    if (csr.ipAddresses.length > 0) throw new MeshsignError("ERR_CSR_SAN_FORBIDDEN", "CSR must not carry IP SANs");
    if (csr.emailAddresses.length > 0) throw new MeshsignError("ERR_CSR_SAN_FORBIDDEN", "CSR must not carry email SANs");
    if (csr.otherNames > 0) throw new MeshsignError("ERR_CSR_SAN_FORBIDDEN", "CSR SANs must be URIs only");
  },
  function onlyAllowedExtensions(csr) {
    for (const e of csr.extensions) {
      if (e.oid === "2.5.29.19") throw new MeshsignError("ERR_CSR_CA_FORBIDDEN", "CSR must not request basicConstraints (a CA certificate)");
      if (!ALLOWED_EXTENSIONS.has(e.oid)) throw new MeshsignError("ERR_CSR_EXTENSION_FORBIDDEN", `CSR extension ${e.oid} is not allowed`);
    }
  },
  function keyUsageAllowed(csr) {
    const bad = csr.keyUsage?.filter((u) => u !== "digitalSignature" && u !== "keyEncipherment") ?? [];
    if (bad.length > 0) throw new MeshsignError("ERR_CSR_KEY_USAGE_FORBIDDEN", `CSR key usage ${bad.join(", ")} is not allowed`);
  },
  function extKeyUsageAllowed(csr) {
    const bad = csr.extKeyUsageOids?.filter((o) => o !== "1.3.6.1.5.5.7.3.1" && o !== "1.3.6.1.5.5.7.3.2") ?? [];
    if (bad.length > 0) throw new MeshsignError("ERR_CSR_EXT_KEY_USAGE_FORBIDDEN", `CSR extended key usage ${bad.join(", ")} is not allowed`);
  },
  function exactlyTheIdentity(csr, identity) {
    if (csr.uris.length !== 1) {
      throw new MeshsignError("ERR_CSR_SAN_MISMATCH", `CSR must carry exactly one URI SAN (${identity}), it carries ${csr.uris.length}`);
    }
    if (csr.uris[0] !== identity) {
      throw new MeshsignError("ERR_CSR_SAN_MISMATCH", `CSR URI SAN does not match the caller's identity ${identity}`);
    }
  },
];

function keyAlgorithmName(csr: ParsedCsr): string {
  const k = csr.keyAlgorithm;
  return k.type === "rsa" ? `rsa-${k.bits}` : k.type === "ec" ? `ecdsa-${k.curve.toLowerCase().replace("-", "")}` : "ed25519";
}
