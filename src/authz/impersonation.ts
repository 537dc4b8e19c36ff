/**
 * Impersonation for ztunnel (reference §3.2 item 4, §5 item 4): a trusted
 * node agent asks for a certificate for a workload running on its own node,
 * naming it in `metadata.ImpersonatedIdentity`. Off unless trusted node
 * accounts are configured.
 *
 * The pure rules (configured, caller trusted, identity well-formed and in our
 * trust domain) run as a check chain; the pod rules go through an injected
 * {@link PodLookup} (implemented over Kubernetes elsewhere). Messages contain
 * the phrases of Istio's node authorizer ("not allowed to impersonate", "no
 * instances of", "pod found, but UID does not match", ...), which operators
 * search for.
 */
import { MeshsignError } from "../errors/index.js";
import { parseIstioIdentity, validateTrustDomain } from "../pki/index.js";
import { type Check, evaluate } from "./chain.js";

/** A pod as impersonation needs it. */
export interface PodInfo {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly serviceAccount: string;
  /** Empty when not yet scheduled. */
  readonly nodeName: string;
}

/** Read access to pods, injected (a Kubernetes informer in production, a map in tests). */
export interface PodLookup {
  getPod(namespace: string, name: string): Promise<PodInfo | undefined>;
  /** How many pods of service account `namespace/serviceAccount` are scheduled on `node`. */
  podsOnNode(namespace: string, serviceAccount: string, node: string): Promise<number>;
}

/** The authenticated caller, as the token authenticator saw it. */
export interface CallerInfo {
  readonly namespace: string;
  readonly serviceAccount: string;
  /** From a bound token's `pod-name` extra; empty for legacy tokens. */
  readonly podName?: string;
  readonly podUid?: string;
}

/** Trusted node accounts as a set of `namespace/serviceAccount`. */
export type TrustedNodeAccounts = ReadonlySet<string>;

/**
 * Parses `--ca-trusted-node-accounts` (`ns/sa` entries, comma-separated or
 * as a list; blanks ignored). Unlike istio-csr, which silently skips an entry
 * without "/", a malformed entry is a configuration error naming the entry.
 */
export function parseTrustedNodeAccounts(value: string | readonly string[]): TrustedNodeAccounts {
  const entries = (typeof value === "string" ? value.split(",") : value.flatMap((v) => v.split(","))).map(
    (e) => e.trim(),
  );
  const out = new Set<string>();
  for (const e of entries) {
    if (e === "") continue;
    const parts = e.split("/");
    if (parts.length !== 2 || parts[0] === "" || parts[1] === "") {
      throw new MeshsignError(
        "ERR_CONFIG_INVALID",
        `ca-trusted-node-accounts: entry ${JSON.stringify(e)} must be <namespace>/<service-account>`,
      );
    }
    out.add(e);
  }
  return out;
}

export interface ImpersonationInput {
  readonly caller: CallerInfo;
  readonly requestedIdentity: string;
  readonly trustedAccounts: TrustedNodeAccounts;
  readonly trustDomain: string;
}

const deny = (message: string) => ({ code: "ERR_IMPERSONATION_DENIED" as const, message });

/** The rules that need no lookups, in order. */
export const IMPERSONATION_CHECKS: readonly Check<ImpersonationInput>[] = [
  {
    name: "impersonation-enabled",
    check: ({ caller, trustedAccounts }) =>
      trustedAccounts.size > 0
        ? undefined
        : deny(
            `caller ${caller.namespace}/${caller.serviceAccount} is not allowed to impersonate (no trusted node accounts are configured)`,
          ),
  },
  {
    name: "caller-trusted",
    check: ({ caller, trustedAccounts }) =>
      trustedAccounts.has(`${caller.namespace}/${caller.serviceAccount}`)
        ? undefined
        : deny(`caller ${caller.namespace}/${caller.serviceAccount} is not allowed to impersonate`),
  },
  {
    name: "impersonated-identity-valid",
    check: ({ requestedIdentity }) => {
      try {
        parseIstioIdentity(requestedIdentity);
        return undefined;
      } catch {
        return {
          code: "ERR_SPIFFE_ID_INVALID",
          message:
            "failed to validate impersonated identity: identity is not a spiffe format (spiffe://<td>/ns/<ns>/sa/<sa>)",
        };
      }
    },
  },
  {
    // Hardening over istio-csr, which does not compare trust domains (reference §5 item 4).
    name: "impersonated-trust-domain",
    check: ({ requestedIdentity, trustDomain }) =>
      parseIstioIdentity(requestedIdentity).trustDomain === validateTrustDomain(trustDomain)
        ? undefined
        : deny("the impersonated identity is not in this trust domain"),
  },
  {
    name: "caller-pod-known",
    check: ({ caller }) =>
      caller.podName && caller.podUid
        ? undefined
        : deny("the caller's token is not bound to a pod (no pod name and UID)"),
  },
];

async function lookup<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof MeshsignError) throw err;
    throw new MeshsignError("ERR_AUTHN_BACKEND_UNAVAILABLE", "pod lookup failed", {
      cause: err,
      retry: "transient",
    });
  }
}

function denied(rule: string, message: string): MeshsignError {
  return new MeshsignError("ERR_IMPERSONATION_DENIED", `${rule}: ${message}`, { detail: { rule } });
}

/**
 * Decides whether `caller` may obtain a certificate for `requestedIdentity`.
 * Returns the identity the leaf will carry; throws ERR_IMPERSONATION_DENIED or
 * ERR_SPIFFE_ID_INVALID naming the rule, or a transient
 * ERR_AUTHN_BACKEND_UNAVAILABLE when pods cannot be looked up.
 */
export async function authorizeImpersonation(input: ImpersonationInput, pods: PodLookup): Promise<string> {
  evaluate(IMPERSONATION_CHECKS, input);
  const { caller } = input;
  const target = parseIstioIdentity(input.requestedIdentity);
  const pod = await lookup(() => pods.getPod(caller.namespace, caller.podName as string));
  if (pod === undefined)
    throw denied("caller-pod-exists", `pod ${caller.namespace}/${caller.podName} not found`);
  if (pod.uid !== caller.podUid)
    throw denied("caller-pod-uid", "pod found, but UID does not match the token");
  if (pod.serviceAccount !== caller.serviceAccount) {
    throw denied("caller-pod-service-account", "pod found, but ServiceAccount does not match the token");
  }
  if (pod.nodeName === "")
    throw denied("caller-pod-scheduled", "the caller's pod is not scheduled on a node");
  const n = await lookup(() => pods.podsOnNode(target.namespace, target.serviceAccount, pod.nodeName));
  if (n < 1) {
    throw denied(
      "target-on-node",
      `no instances of "${target.namespace}/${target.serviceAccount}" found on node "${pod.nodeName}"`,
    );
  }
  return input.requestedIdentity;
}
