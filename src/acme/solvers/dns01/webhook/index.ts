/**
 * The `webhook` DNS-01 provider (cert-manager's webhook solver protocol).
 *
 * Importing this registers `webhook` with a transport that refuses every
 * call, naming what to configure; the process wiring then calls
 * {@link useDns01WebhookTransport} once at start-up with the API server
 * transport (Kubernetes mode) or the configured endpoints (standalone).
 */
import { MeshsignError } from "../../../../errors/index.js";
import { registerDns01Provider } from "../registry.js";
import type { WebhookTransport } from "./transport.js";
import { webhookProviderFactory } from "./webhook-provider.js";

export type { WebhookEndpoint } from "./endpoints.js";
export { loadWebhookEndpoints } from "./endpoints.js";
export { KubeWebhookTransport } from "./kube-transport.js";
export { StandaloneWebhookTransport } from "./standalone-transport.js";
export type { WebhookCall, WebhookResponse, WebhookTransport } from "./transport.js";
export { DEFAULT_WEBHOOK_TIMEOUT_MS } from "./transport.js";
export type { WebhookSolverConfig } from "./webhook-provider.js";
export { createWebhookProvider, webhookProviderFactory } from "./webhook-provider.js";

/** Makes the `webhook` provider call webhooks through `transport` (replaces the previous one). */
export function useDns01WebhookTransport(transport: WebhookTransport): void {
  registerDns01Provider("webhook", webhookProviderFactory(transport));
}

const unconfigured: WebhookTransport = {
  post: async (call) => {
    throw new MeshsignError(
      "ERR_DNS01_UNSUPPORTED",
      `no route to webhook group ${call.groupName}: standalone, list it in --dns01-webhook-config`,
      { retry: "terminal" },
    );
  },
};

useDns01WebhookTransport(unconfigured);
