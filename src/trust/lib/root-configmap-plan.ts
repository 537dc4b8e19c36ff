import { type LabelSelector, matchesLabelSelector } from "../../api/label-selector.js";
import type { ConfigMap, Namespace } from "../../api/types.js";

/** What to do for one namespace's root ConfigMap (reference §2.5 reconcile rules). */
export type RootConfigMapPlan =
  | {
      readonly action: "skip";
      readonly reason: "NamespaceNotFound" | "NamespaceNotSelected" | "NamespaceTerminating" | "NoRoots";
    }
  | { readonly action: "none" }
  | { readonly action: "create"; readonly configMap: ConfigMap }
  | { readonly action: "update"; readonly configMap: ConfigMap };

export interface PlanInput {
  readonly namespace: Namespace | undefined;
  readonly configMap: ConfigMap | undefined;
  readonly roots: string | undefined;
  readonly selector: LabelSelector;
  readonly name: string;
  readonly key: string;
  readonly label: readonly [string, string];
}

type Check = (input: PlanInput) => RootConfigMapPlan | undefined;

/** Ordered checks; the first that returns a plan decides (STYLE principle 6). */
const checks: readonly Check[] = [
  ({ namespace }) => (namespace ? undefined : { action: "skip", reason: "NamespaceNotFound" }),
  ({ namespace, selector }) =>
    matchesLabelSelector(selector, namespace?.metadata.labels)
      ? undefined
      : { action: "skip", reason: "NamespaceNotSelected" },
  // A Terminating namespace refuses new objects; writing there only produces errors.
  ({ namespace }) =>
    namespace?.metadata.deletionTimestamp || namespace?.status?.phase === "Terminating"
      ? { action: "skip", reason: "NamespaceTerminating" }
      : undefined,
  ({ roots }) => (roots ? undefined : { action: "skip", reason: "NoRoots" }),
  (input) => (input.configMap ? undefined : { action: "create", configMap: fresh(input) }),
  (input) => repair(input),
];

/** Decides how to bring one namespace's root ConfigMap to the wanted state. */
export function planRootConfigMap(input: PlanInput): RootConfigMapPlan {
  for (const check of checks) {
    const plan = check(input);
    if (plan) return plan;
  }
  return { action: "none" };
}

function fresh({ namespace, roots, name, key, label }: PlanInput): ConfigMap {
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name, namespace: namespace?.metadata.name, labels: { [label[0]]: label[1] } },
    data: { [key]: roots ?? "" },
  };
}

/**
 * Data must be exactly { key: roots } (any other key means all data is
 * replaced, binaryData included); the label must be present with its value.
 * Other labels and annotations are kept. Undefined when nothing is wrong.
 */
function repair({ configMap, roots, key, label }: PlanInput): RootConfigMapPlan | undefined {
  if (!configMap) return undefined;
  const data = configMap.data ?? {};
  const dataOk =
    Object.keys(data).length === 1 &&
    data[key] === roots &&
    Object.keys(configMap.binaryData ?? {}).length === 0;
  const labelOk = configMap.metadata.labels?.[label[0]] === label[1];
  if (dataOk && labelOk) return { action: "none" };
  const { binaryData: _dropped, ...rest } = configMap;
  return {
    action: "update",
    configMap: {
      ...rest,
      metadata: { ...configMap.metadata, labels: { ...configMap.metadata.labels, [label[0]]: label[1] } },
      data: { [key]: roots ?? "" },
    },
  };
}
