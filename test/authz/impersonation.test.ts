import { describe, expect, it } from "vitest";
import {
  authorizeCsr,
  authorizeImpersonation,
  type CallerInfo,
  DEFAULT_CSR_POLICY,
  type PodInfo,
  type PodLookup,
  parseTrustedNodeAccounts,
} from "../../src/authz/index.js";
import { isMeshsignError } from "../../src/errors/index.js";
import { buildCsr, generateKeySync, parseCsr } from "../../src/pki/index.js";

/** An in-memory PodLookup over a list of pods. */
function podsOf(pods: PodInfo[], fail = false): PodLookup {
  return {
    async getPod(ns, name) {
      if (fail) throw new Error("apiserver down");
      return pods.find((p) => p.namespace === ns && p.name === name);
    },
    async podsOnNode(ns, sa, node) {
      if (fail) throw new Error("apiserver down");
      return pods.filter((p) => p.namespace === ns && p.serviceAccount === sa && p.nodeName === node).length;
    },
  };
}

const ztunnelPod: PodInfo = {
  namespace: "istio-system",
  name: "ztunnel-abc",
  uid: "uid-1",
  serviceAccount: "ztunnel",
  nodeName: "zt-node",
};
const appOnNode: PodInfo = {
  namespace: "ns",
  name: "app-1",
  uid: "uid-2",
  serviceAccount: "sa",
  nodeName: "zt-node",
};
const appElsewhere: PodInfo = {
  namespace: "ns",
  name: "app-2",
  uid: "uid-3",
  serviceAccount: "sa",
  nodeName: "other-node",
};
const caller: CallerInfo = {
  namespace: "istio-system",
  serviceAccount: "ztunnel",
  podName: "ztunnel-abc",
  podUid: "uid-1",
};
const TRUSTED = parseTrustedNodeAccounts("istio-system/ztunnel");
const WANT = "spiffe://cluster.local/ns/ns/sa/sa";

async function outcome(p: Promise<string>): Promise<string> {
  try {
    return `ok ${await p}`;
  } catch (err) {
    if (!isMeshsignError(err)) throw err;
    return `${err.code} ${String(err.detail.rule ?? "")}`.trim();
  }
}

describe("authorizeImpersonation (istio-csr TestAuthImpersonation, Istio node_auth_test)", () => {
  const cases: {
    name: string;
    caller?: CallerInfo;
    requested?: string;
    trusted?: ReadonlySet<string>;
    pods: PodInfo[];
    want: string;
  }[] = [
    {
      name: "a trusted caller asking for a workload on its own node is allowed",
      pods: [ztunnelPod, appOnNode],
      want: `ok ${WANT}`,
    },
    {
      name: "the same with pods of that workload on other nodes too is allowed",
      pods: [ztunnelPod, appOnNode, appElsewhere],
      want: `ok ${WANT}`,
    },
    {
      name: "no trusted node accounts configured is denied",
      trusted: new Set(),
      pods: [ztunnelPod, appOnNode],
      want: "ERR_IMPERSONATION_DENIED impersonation-enabled",
    },
    {
      name: "a caller that is not trusted is denied",
      caller: { ...caller, serviceAccount: "default" },
      pods: [ztunnelPod, appOnNode],
      want: "ERR_IMPERSONATION_DENIED caller-trusted",
    },
    {
      name: "an identity that is not spiffe://td/ns/x/sa/y is refused",
      requested: "spiffe://invalid",
      pods: [ztunnelPod],
      want: "ERR_SPIFFE_ID_INVALID impersonated-identity-valid",
    },
    {
      name: "an identity in another trust domain is denied (hardening)",
      requested: "spiffe://other.domain/ns/ns/sa/sa",
      pods: [ztunnelPod, appOnNode],
      want: "ERR_IMPERSONATION_DENIED impersonated-trust-domain",
    },
    {
      name: "a legacy token without a pod binding is denied",
      caller: { namespace: "istio-system", serviceAccount: "ztunnel" },
      pods: [ztunnelPod, appOnNode],
      want: "ERR_IMPERSONATION_DENIED caller-pod-known",
    },
    {
      name: "a workload only on another node is denied",
      pods: [ztunnelPod, appElsewhere],
      want: "ERR_IMPERSONATION_DENIED target-on-node",
    },
    {
      name: "a caller pod that does not exist is denied",
      pods: [appOnNode],
      want: "ERR_IMPERSONATION_DENIED caller-pod-exists",
    },
    {
      name: "a caller pod with another UID is denied",
      pods: [{ ...ztunnelPod, uid: "uid-x" }, appOnNode],
      want: "ERR_IMPERSONATION_DENIED caller-pod-uid",
    },
    {
      name: "a caller pod running as another service account is denied",
      pods: [{ ...ztunnelPod, serviceAccount: "other" }, appOnNode],
      want: "ERR_IMPERSONATION_DENIED caller-pod-service-account",
    },
    {
      name: "an unscheduled caller pod is denied",
      pods: [
        { ...ztunnelPod, nodeName: "" },
        { ...appOnNode, nodeName: "" },
      ],
      want: "ERR_IMPERSONATION_DENIED caller-pod-scheduled",
    },
  ];
  for (const c of cases) {
    it(`${c.name}`, async () => {
      const input = {
        caller: c.caller ?? caller,
        requestedIdentity: c.requested ?? WANT,
        trustedAccounts: c.trusted ?? TRUSTED,
        trustDomain: "cluster.local",
      };
      expect(await outcome(authorizeImpersonation(input, podsOf(c.pods)))).toBe(c.want);
    });
  }

  it("a failing pod lookup is a transient ERR_AUTHN_BACKEND_UNAVAILABLE, not a denial", async () => {
    const input = { caller, requestedIdentity: WANT, trustedAccounts: TRUSTED, trustDomain: "cluster.local" };
    const err = await authorizeImpersonation(input, podsOf([], true)).catch((e: unknown) => e);
    expect(isMeshsignError(err, "ERR_AUTHN_BACKEND_UNAVAILABLE")).toBe(true);
    expect((err as { retry: string }).retry).toBe("transient");
  });
});

describe("parseTrustedNodeAccounts", () => {
  const ok = [
    { name: "one entry", value: "istio-system/ztunnel", want: ["istio-system/ztunnel"] },
    { name: "a comma-separated string with spaces and blanks", value: " a/b, ,c/d ", want: ["a/b", "c/d"] },
    { name: "a list whose items hold commas", value: ["a/b,c/d", "e/f"], want: ["a/b", "c/d", "e/f"] },
    { name: "an empty string", value: "", want: [] },
  ];
  for (const c of ok) {
    it(`parses ${c.name}`, () => {
      expect([...parseTrustedNodeAccounts(c.value)]).toEqual(c.want);
    });
  }
  for (const bad of ["ztunnel", "a/b/c", "/sa", "ns/"]) {
    it(`refuses the entry ${JSON.stringify(bad)} with ERR_CONFIG_INVALID naming it`, () => {
      expect(() => parseTrustedNodeAccounts(`a/b,${bad}`)).toThrow(
        expect.objectContaining({
          code: "ERR_CONFIG_INVALID",
          message: expect.stringContaining(JSON.stringify(bad)),
        }),
      );
    });
  }
});

describe("impersonation with the CSR rules (istio-csr TestAuthRequestImpersonation)", () => {
  const ztunnelId = "spiffe://cluster.local/ns/istio-system/sa/ztunnel";
  const input = { caller, requestedIdentity: WANT, trustedAccounts: TRUSTED, trustDomain: "cluster.local" };
  const keyObj = generateKeySync({ type: "ec", curve: "P-256" });

  it("a CSR for the impersonated identity is accepted once impersonation is allowed", async () => {
    const expected = await authorizeImpersonation(input, podsOf([ztunnelPod, appOnNode]));
    const csr = parseCsr(buildCsr(keyObj, { subject: [], uris: [WANT] }));
    expect(() => authorizeCsr({ csr, expectedIdentity: expected, policy: DEFAULT_CSR_POLICY })).not.toThrow();
  });

  it("a CSR carrying the caller's own identity instead of the impersonated one is refused", async () => {
    const expected = await authorizeImpersonation(input, podsOf([ztunnelPod, appOnNode]));
    const csr = parseCsr(buildCsr(keyObj, { subject: [], uris: [ztunnelId] }));
    expect(() => authorizeCsr({ csr, expectedIdentity: expected, policy: DEFAULT_CSR_POLICY })).toThrow(
      expect.objectContaining({ code: "ERR_CSR_SAN_MISMATCH" }),
    );
  });

  it("an empty trusted set refuses before the CSR is looked at", async () => {
    const err = await authorizeImpersonation(
      { ...input, trustedAccounts: new Set() },
      podsOf([ztunnelPod, appOnNode]),
    ).catch((e: unknown) => e);
    expect(isMeshsignError(err, "ERR_IMPERSONATION_DENIED")).toBe(true);
  });
});
