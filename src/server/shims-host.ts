import type { Logger } from "pino";
import { GATEWAYS, INGRESSES, ISTIO_GATEWAYS, LISTENER_SETS } from "../api/types.js";
import { type EventRecorder, StoreEventRecorder, systemClock } from "../engine/index.js";
import { ShimController } from "../engine/shims/index.js";
import type { ResourceType, Store } from "../store/types.js";
import type { CertificateShim, Config } from "./config.js";

/** The kinds each shim reads (the Gateway API shim also reads ListenerSets, which add listeners to Gateways). */
const TYPES: Readonly<Record<CertificateShim, readonly ResourceType[]>> = {
  ingress: [INGRESSES],
  gateway: [GATEWAYS, LISTENER_SETS],
  "istio-gateway": [ISTIO_GATEWAYS],
};

/** The certificate shims as the server runs them, next to the engine on the same store. */
export interface ShimsHost {
  stop(): Promise<void>;
}

/**
 * Starts the shims selected by `--certificate-shims` (none: returns undefined).
 * Their Events go on the sources: to the API server in Kubernetes mode (what
 * `kubectl describe ingress` shows), and to the log in both modes, the only
 * place a standalone user sees them. A kind whose API is not served is named
 * once in the log and skipped.
 */
export async function startShims(options: {
  config: Config;
  store: Store;
  log: Logger;
}): Promise<ShimsHost | undefined> {
  const { config, store, log } = options;
  if (config.certificateShims.length === 0) return undefined;
  const stored =
    config.mode === "kubernetes"
      ? new StoreEventRecorder({
          store,
          clock: systemClock,
          component: "meshsign-shim",
          expire: false,
          onError: (err) => log.debug({ err }, "shim event not written"),
        })
      : undefined;
  const events: EventRecorder = {
    record(object, type, reason, message) {
      stored?.record(object, type, reason, message);
      const source = `${object.kind} ${object.metadata.namespace ?? ""}/${object.metadata.name ?? ""}`;
      if (type === "Warning") log.warn({ source, apiVersion: object.apiVersion, reason }, message);
      else log.info({ source, apiVersion: object.apiVersion, reason }, message);
    },
  };
  const controller = new ShimController({
    store,
    events,
    types: [...new Set(config.certificateShims)].flatMap((s) => TYPES[s]),
    options: {
      defaultIssuerName: config.defaultIssuerName,
      defaultIssuerKind: config.defaultIssuerKind,
      defaultIssuerGroup: config.defaultIssuerGroup,
      autoCertificateAnnotations: config.autoCertificateAnnotations,
      istioGatewaySecretNamespace: config.istioGatewaySecretNamespace,
    },
    onKindSkipped: (type, reason) =>
      log.info(
        { kind: type.kind, group: type.group },
        `certificate shim for ${type.kind} (${type.group}) off: ${reason}`,
      ),
    onError: (source, err) => log.warn({ source, err }, "certificate shim reconcile failed; retrying"),
  });
  await controller.start();
  log.info({ shims: config.certificateShims }, "certificate shims started");
  return {
    stop: async () => {
      controller.stop();
      await stored?.flush();
    },
  };
}
