/**
 * Trust bundle publication: where the mesh roots come from (a file watched
 * for rotation, or a source fed by the CA) and where they go (the
 * istio-ca-root-cert ConfigMap in every selected namespace).
 */

export type { RootConfigMapPlan } from "./lib/root-configmap-plan.js";
export {
  ISTIO_CONFIG_LABEL,
  ROOT_CERT_CONFIGMAP,
  ROOT_CERT_KEY,
  RootConfigMapDistributor,
  type RootConfigMapOptions,
} from "./root-configmap.js";
export { DEFAULT_ROOTS_POLL_INTERVAL_MS, type RootsFileOptions, RootsFileWatcher } from "./roots-file.js";
export { RootsBroadcaster, type RootsSource } from "./roots-source.js";
