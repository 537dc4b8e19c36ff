import { describe, expect, it } from "vitest";
import { checkClusterId } from "../../src/authn/index.js";
import { isMeshsignError } from "../../src/errors/index.js";
import { allowZtunnel, identityOf, impersonationError, type KubernetesInfo, type Pod, podOtherNode, podSameNode, ztunnelCaller, ztunnelPod } from "./lib/node-auth.js";

/*
 * istio/istio security/pkg/server/ca/node_auth_test.go, translated case by
 * case: the node authorizer that lets ztunnel ask for the identities of pods
 * on its own node. Same fixtures, same expected error substrings.
 */

const UPSTREAM = "istio/istio security/pkg/server/ca/node_auth_test.go";

describe(`${UPSTREAM} TestSingleClusterNodeAuthorization`, () => {
  const cases: {
    name: string;
    pods?: Pod[];
    caller?: KubernetesInfo;
    requested?: string;
    trusted?: string[];
    wantErr: string;
  }[] = [
    { name: "empty allowed identities", wantErr: "not allowed to impersonate" },
    {
      name: "allowed identities, but not on node",
      caller: ztunnelCaller,
      trusted: allowZtunnel,
      requested: identityOf(podSameNode),
      pods: [ztunnelPod],
      wantErr: "no instances",
    },
    {
      name: "allowed identities, on node",
      caller: ztunnelCaller,
      trusted: allowZtunnel,
      requested: identityOf(podSameNode),
      pods: [ztunnelPod, podSameNode],
      wantErr: "",
    },
    {
      name: "allowed identities, off node",
      caller: ztunnelCaller,
      trusted: allowZtunnel,
      requested: identityOf(podSameNode),
      pods: [ztunnelPod, podOtherNode],
      wantErr: "no instances",
    },
    {
      name: "allowed identities, on and off node",
      caller: ztunnelCaller,
      trusted: allowZtunnel,
      requested: identityOf(podSameNode),
      pods: [ztunnelPod, podSameNode, podOtherNode],
      wantErr: "",
    },
    {
      name: "invalid requested",
      caller: ztunnelCaller,
      trusted: allowZtunnel,
      requested: "not-spiffe-idenditity",
      pods: [ztunnelPod],
      wantErr: "failed to validate impersonated identity",
    },
    {
      name: "unknown caller",
      caller: ztunnelCaller,
      trusted: allowZtunnel,
      requested: identityOf(podSameNode),
      pods: [podSameNode],
      wantErr: "pod istio-system/ztunnel-a not found",
    },
    {
      name: "bad UID",
      caller: { ...ztunnelCaller, PodUID: "bogus" },
      trusted: allowZtunnel,
      requested: identityOf(podSameNode),
      pods: [ztunnelPod],
      wantErr: "pod found, but UID does not match",
    },
    {
      name: "bad account",
      caller: ztunnelCaller,
      trusted: allowZtunnel,
      requested: identityOf(podSameNode),
      pods: [{ ...ztunnelPod, account: "bogus" }],
      wantErr: "pod found, but ServiceAccount does not match",
    },
  ];

  it.each(cases)("$name", async ({ caller, trusted, requested, pods, wantErr }) => {
    const err = await impersonationError(caller ?? {}, trusted ?? [], requested ?? "", pods ?? []);
    if (wantErr === "") expect(err).toBeUndefined();
    else expect(err).toContain(wantErr);
  });
});

describe(`${UPSTREAM} TestMultiClusterNodeAuthorization`, () => {
  // meshsign serves one cluster (like istio-csr): the local one is "primary" here, and a caller
  // whose clusterid names another cluster is refused before impersonation is considered.
  const LOCAL = "primary";
  const ztunnelPodPrimary: Pod = { ...ztunnelPod, node: "zt-node-primary" };
  const podSameNodePrimary: Pod = { ...podSameNode, node: "zt-node-primary" };
  const podSameNodeRemote: Pod = {
    name: "pod-b",
    namespace: "ns-b",
    account: "sa-b",
    uid: "2",
    node: "zt-node-remote",
  };
  const primaryPods = [ztunnelPodPrimary, podSameNodePrimary];

  async function decide(
    clusterId: string,
    caller: KubernetesInfo,
    requested: string,
  ): Promise<string | undefined> {
    try {
      checkClusterId({ clusterId: [clusterId] }, LOCAL);
    } catch (err) {
      if (!isMeshsignError(err)) throw err;
      return err.message;
    }
    return impersonationError(caller, allowZtunnel, requested, primaryPods);
  }

  it("allowed identities, on node of primary cluster", async () => {
    expect(await decide("primary", ztunnelCaller, identityOf(podSameNodePrimary))).toBeUndefined();
  });

  // Upstream: no error (istiod reads the remote cluster's pods). Deliberate: meshsign knows no remote clusters.
  it("allowed identities, on node of remote cluster: refused, meshsign knows only its own cluster", async () => {
    const caller = { ...ztunnelCaller, PodName: "ztunnel-b", PodUID: "12346" };
    expect(await decide("remote", caller, identityOf(podSameNodeRemote))).toMatch(
      /claims to be in cluster "remote"/,
    );
  });

  it("ztunnel caller from removed remote cluster (wantErr 'no node authorizer'): refused as a foreign cluster", async () => {
    const caller = { ...ztunnelCaller, PodName: "ztunnel-c", PodUID: "12347" };
    expect(await decide("remote2", caller, "")).toMatch(/claims to be in cluster "remote2"/);
  });

  it("allowed identities in remote cluster, but ztunnel caller from primary cluster", async () => {
    expect(await decide("primary", ztunnelCaller, identityOf(podSameNodeRemote))).toContain("no instance");
  });
});
