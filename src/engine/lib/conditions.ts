/** Condition list helpers (Kubernetes semantics: lastTransitionTime moves only when status changes). */
import type { Condition } from "./api.js";

export function getCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

/** Returns the new list, or the same array when nothing changed. */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  next: Omit<Condition, "lastTransitionTime">,
  nowIso: string,
): Condition[] {
  const list = conditions ?? [];
  const current = getCondition(list, next.type);
  if (
    current !== undefined &&
    current.status === next.status &&
    current.reason === next.reason &&
    current.message === next.message &&
    current.observedGeneration === next.observedGeneration
  ) {
    return list as Condition[];
  }
  const lastTransitionTime = current !== undefined && current.status === next.status && current.lastTransitionTime !== undefined ? current.lastTransitionTime : nowIso;
  const cond: Condition = { ...next, lastTransitionTime };
  if (cond.observedGeneration === undefined) delete cond.observedGeneration;
  return current === undefined ? [...list, cond] : list.map((c) => (c.type === next.type ? cond : c));
}

export function removeCondition(conditions: readonly Condition[] | undefined, type: string): Condition[] {
  return (conditions ?? []).filter((c) => c.type !== type);
}
