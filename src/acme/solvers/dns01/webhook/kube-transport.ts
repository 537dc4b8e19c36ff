/**
 * Kubernetes mode: the call goes to meshsign's own API server, whose
 * aggregation layer proxies it to the Service named by the APIService
 * `v1alpha1.<groupName>`, exactly as cert-manager's webhook provider does. The
 * webhook authenticates meshsign from the API server's request headers and
 * authorizes it with a SubjectAccessReview (create on `<solverName>` in
 * `<groupName>`), so meshsign's ServiceAccount needs that RBAC rule, as
 * cert-manager's does.
 */

import type { RequestOptions } from "node:https";
import type { KubeConfig } from "@kubernetes/client-node";
import { MeshsignError } from "../../../../errors/index.js";
import { httpsPostJson } from "./lib/https-post.js";
import {
  DEFAULT_WEBHOOK_TIMEOUT_MS,
  type WebhookCall,
  type WebhookResponse,
  type WebhookTransport,
  webhookPath,
} from "./transport.js";

export class KubeWebhookTransport implements WebhookTransport {
  readonly #kubeConfig: KubeConfig;
  readonly #timeoutMs: number;

  constructor(kubeConfig: KubeConfig, options: { readonly timeoutMs?: number } = {}) {
    this.#kubeConfig = kubeConfig;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_WEBHOOK_TIMEOUT_MS;
  }

  async post(call: WebhookCall): Promise<WebhookResponse> {
    const cluster = this.#kubeConfig.getCurrentCluster();
    if (cluster === null)
      throw new MeshsignError("ERR_CONFIG_INVALID", "the kubeconfig names no current cluster");
    const base = new URL(cluster.server);
    if (base.protocol !== "https:")
      throw new MeshsignError("ERR_CONFIG_INVALID", `the API server ${base.origin} is not https`);
    const prefix = base.pathname.replace(/\/+$/, "");
    const url = new URL(`${prefix}${webhookPath(call.groupName, call.solverName)}`, base.origin);
    // Credentials (token, client certificate, exec plugin) and the cluster CA, as every other API call meshsign makes.
    const options: RequestOptions = {};
    try {
      await this.#kubeConfig.applyToHTTPSOptions(options);
    } catch (err) {
      // An exec credential plugin or a token file that failed this time.
      throw new MeshsignError(
        "ERR_DNS01_UNAVAILABLE",
        "cannot get meshsign's credentials for the API server",
        {
          retry: "transient",
          cause: err,
        },
      );
    }
    return httpsPostJson(url, call.body, { ...options, timeoutMs: this.#timeoutMs, signal: call.signal });
  }
}
