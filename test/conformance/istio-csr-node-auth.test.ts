import { describe, expect, it } from "vitest";
import { allowZtunnel, identityOf, impersonationError, type KubernetesInfo, type Pod, podOtherNode, podSameNode, ztunnelCaller, ztunnelPod } from "./lib/node-auth.js";

/*
 * cert-manager/istio-csr pkg/server/node_auth_test.go TestAuthImpersonation,
 * translated case by case (istio-csr's copy of Istio's node authorizer).
 * Upstream compares whole messages that print Go structs; meshsign keeps the
 * phrase each message is known by and asserts that.
 */

const UPSTREAM = "cert-manager/istio-csr pkg/server/node_auth_test.go TestAuthImpersonation";

describe(UPSTREAM, () => {
  const cases: {
    name: string;
    caller: KubernetesInfo;
    trusted: string[];
    pods: Pod[];
    requested: string;
    expErr?: string;
  }[] = [
    {
      name: "if caller is trusted, and requested identity on same node, return nil",
      caller: ztunnelCaller,
      trusted: allowZtunnel,
      pods: [ztunnelPod, podSameNode],
      requested: identityOf(podSameNode),
    },
    {
      name: "if caller is trusted, and requested identity on same node with other nodes, return nil",
      caller: ztunnelCaller,
      trusted: allowZtunnel,
      pods: [ztunnelPod, podSameNode, podOtherNode],
      requested: identityOf(podSameNode),
    },
    {
      name: "if caller is not trusted, return error",
      caller: ztunnelCaller,
      trusted: [],
      pods: [ztunnelPod, podSameNode],
      requested: identityOf(podSameNode),
      expErr: "is not allowed to impersonate",
    },
    {
      name: "if caller is trusted, but requested identity is not valid, return error",
      caller: ztunnelCaller,
      trusted: allowZtunnel,
      pods: [ztunnelPod, podSameNode],
      requested: "spiffe://invalid",
      expErr: "identity is not a spiffe format",
    },
    {
      name: "if caller is trusted, but requested identity not on same node, return error",
      caller: ztunnelCaller,
      trusted: allowZtunnel,
      pods: [ztunnelPod, podOtherNode],
      requested: identityOf(podOtherNode),
      expErr: `no instances of "ns-a/sa-a" found on node "zt-node"`,
    },
    {
      name: "if caller is trusted, but caller pod not found, return error",
      caller: ztunnelCaller,
      trusted: allowZtunnel,
      pods: [podSameNode],
      requested: identityOf(podSameNode),
      expErr: "pod istio-system/ztunnel-a not found",
    },
    {
      name: "if caller is trusted, but caller pod UID does not match",
      caller: { ...ztunnelCaller, PodUID: podSameNode.uid },
      trusted: allowZtunnel,
      pods: [ztunnelPod, podSameNode],
      requested: identityOf(podSameNode),
      expErr: "pod found, but UID does not match",
    },
    {
      name: "if caller is trusted, but caller service account does not match",
      caller: ztunnelCaller,
      trusted: allowZtunnel,
      pods: [{ ...ztunnelPod, account: podSameNode.account }],
      requested: identityOf(podSameNode),
      expErr: "pod found, but ServiceAccount does not match",
    },
  ];

  it.each(cases)("$name", async ({ caller, trusted, pods, requested, expErr }) => {
    const err = await impersonationError(caller, trusted, requested, pods);
    if (expErr === undefined) expect(err).toBeUndefined();
    else expect(err).toContain(expErr);
  });
});
