/**
 * Renders manifests/ with kustomize (built from Go modules by setup.sh) and
 * applies the result object by object with server-side apply.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { parseAllDocuments } from "yaml";
import { NAMESPACES } from "../../../src/api/types.js";
import type { KubeStore } from "../../../src/store/kube/index.js";
import type { KubeObject, ResourceType } from "../../../src/store/types.js";
import { harnessEnv, repoRoot } from "../harness.js";

function rt(group: string, kind: string, plural: string, namespaced: boolean): ResourceType {
  return { group, version: "v1", kind, plural, namespaced };
}

/** The kinds manifests/ contains, as the Store addresses them ("<apiVersion>/<kind>"). */
export const MANIFEST_KINDS: Readonly<Record<string, ResourceType>> = {
  "v1/Namespace": NAMESPACES,
  "v1/ServiceAccount": rt("", "ServiceAccount", "serviceaccounts", true),
  "v1/Service": rt("", "Service", "services", true),
  "rbac.authorization.k8s.io/v1/ClusterRole": rt(
    "rbac.authorization.k8s.io",
    "ClusterRole",
    "clusterroles",
    false,
  ),
  "rbac.authorization.k8s.io/v1/ClusterRoleBinding": rt(
    "rbac.authorization.k8s.io",
    "ClusterRoleBinding",
    "clusterrolebindings",
    false,
  ),
  "rbac.authorization.k8s.io/v1/Role": rt("rbac.authorization.k8s.io", "Role", "roles", true),
  "rbac.authorization.k8s.io/v1/RoleBinding": rt(
    "rbac.authorization.k8s.io",
    "RoleBinding",
    "rolebindings",
    true,
  ),
  "apps/v1/Deployment": rt("apps", "Deployment", "deployments", true),
  "policy/v1/PodDisruptionBudget": rt("policy", "PodDisruptionBudget", "poddisruptionbudgets", true),
  "networking.k8s.io/v1/NetworkPolicy": rt("networking.k8s.io", "NetworkPolicy", "networkpolicies", true),
};

/** `kustomize build <repo>/<dir>`, parsed. */
export function renderManifests(dir: string): KubeObject[] {
  const kustomize = harnessEnv().MESHSIGN_KUSTOMIZE;
  if (!kustomize || !existsSync(kustomize))
    throw new Error("kustomize not built: run bash test/kube/setup.sh");
  const out = execFileSync(kustomize, ["build", path.join(repoRoot, dir)], { encoding: "utf8" });
  return parseAllDocuments(out).map((d) => d.toJS() as KubeObject);
}

/** Server-side applies each object in order; fails on a kind this table does not know. */
export async function applyObjects(store: KubeStore, objects: readonly KubeObject[]): Promise<void> {
  for (const obj of objects) {
    const type = MANIFEST_KINDS[`${obj.apiVersion}/${obj.kind}`];
    if (!type) throw new Error(`manifests contain ${obj.apiVersion} ${obj.kind}, unknown to the test`);
    await store.apply(type, obj);
  }
}
