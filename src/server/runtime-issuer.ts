import type { Logger } from "pino";
import { CONFIGMAPS } from "../api/types.js";
import type { KubeObject, Store, Watch } from "../store/types.js";
import type { IssuerReference } from "./kube-ca.js";

interface ConfigMapObject extends KubeObject {
  data?: Record<string, string>;
}

const KEYS = ["issuer-name", "issuer-kind", "issuer-group"] as const;

/**
 * istio-csr's runtime issuance configuration: a ConfigMap whose keys
 * `issuer-name`, `issuer-kind` and `issuer-group` (all present, non-empty)
 * select the issuer that signs workload certificates from then on. An
 * incomplete ConfigMap is refused with a log line and changes nothing;
 * deleting it returns to the start-up issuer (`undefined`). Every replica
 * watches it, leader or not, since every replica signs.
 */
export function watchRuntimeIssuer(options: {
  store: Store;
  namespace: string;
  name: string;
  /** Namespace of an Issuer-kind reference. */
  issuerNamespace: string;
  log: Logger;
  onChange: (ref: IssuerReference | undefined) => void;
}): Watch {
  let last = "";
  return options.store.watch<ConfigMapObject>(
    CONFIGMAPS,
    (event) => {
      if (event.object.metadata.name !== options.name) return;
      if (event.type === "DELETED") {
        last = "";
        options.log.info({ configMap: `${options.namespace}/${options.name}` }, "runtime issuance ConfigMap deleted; back to the start-up issuer");
        options.onChange(undefined);
        return;
      }
      const data = event.object.data ?? {};
      const missing = KEYS.filter((k) => !data[k]);
      if (missing.length > 0) {
        options.log.error({ configMap: `${options.namespace}/${options.name}`, missing }, "runtime issuance ConfigMap refused: issuer-name, issuer-kind and issuer-group must all be set");
        return;
      }
      const ref = {
        name: data["issuer-name"] as string,
        kind: data["issuer-kind"] as string,
        group: data["issuer-group"] as string,
        namespace: options.issuerNamespace,
      };
      const key = JSON.stringify(ref);
      if (key === last) return;
      last = key;
      options.onChange(ref);
    },
    { namespace: options.namespace },
  );
}
