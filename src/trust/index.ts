/**
 * Trust bundle publication: where the mesh roots come from (a file watched
 * for rotation, or a source fed by the CA) and where they go (the
 * istio-ca-root-cert ConfigMap in every selected namespace, and the SPIFFE
 * bundle document a bundle endpoint serves, with its persisted sequence).
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
export {
  BUNDLE_SEQUENCE_CONFIGMAP,
  BUNDLE_SEQUENCE_FILE,
  type BundleSequenceStore,
  ConfigMapBundleSequence,
  type ConfigMapBundleSequenceOptions,
  FileBundleSequence,
} from "./bundle-sequence.js";
export { parseSpiffeBundle } from "./parse-spiffe-bundle.js";
export {
  type BundleSequenceState,
  buildSpiffeBundle,
  bundleContentDigest,
  nextBundleSequence,
  rootsDigest,
  type SpiffeBundleDocument,
  type SpiffeBundleOptions,
  type SpiffeX509Key,
  spiffeBundleToPem,
} from "./spiffe-bundle.js";
