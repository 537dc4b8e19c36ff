/**
 * The Kubernetes backend of the Store (src/store/types.ts).
 * For end users: KubeStore and its options. `apply` (server-side apply) is
 * Kubernetes-only and not part of the Store interface. For process wiring: RestClient, the
 * keep-alive JSON client the store uses, for other API calls (TokenReview).
 */
export {
  type ApplyOptions,
  DEFAULT_FIELD_MANAGER,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_RESYNC_MS,
  KubeStore,
  type KubeStoreOptions,
  SECRET_CACHE_LABEL,
} from "./kube-store.js";
export { RestClient, type RestRequest } from "./lib/rest.js";
