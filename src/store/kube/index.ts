/**
 * The Kubernetes backend of the Store (src/store/types.ts).
 * For end users: KubeStore and its options. `apply` (server-side apply) is
 * Kubernetes-only and not part of the Store interface. For process wiring: RestClient, the
 * keep-alive JSON client the store uses, and Http2RestClient, its HTTP/2 sibling for calls made
 * once per workload request (TokenReview).
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
export { CREDENTIALS_REFRESH_MS } from "./lib/credentials.js";
export { RestClient, type RestRequest } from "./lib/rest.js";
export { Http2RestClient, type Http2RestClientOptions } from "./lib/rest-h2.js";
