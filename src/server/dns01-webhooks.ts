import {
  KubeWebhookTransport,
  loadWebhookEndpoints,
  StandaloneWebhookTransport,
  useDns01WebhookTransport,
} from "../acme/solvers/dns01/webhook/index.js";
import type { Config } from "./config.js";
import { loadKubeConfig } from "./kube-config.js";

/**
 * Gives the DNS-01 `webhook` provider its route to webhooks, once at
 * start-up: in Kubernetes mode meshsign's own API server credentials (the
 * aggregation layer routes to each webhook's APIService); standalone the
 * groups listed in `--dns01-webhook-config` (validated with the rest of the
 * configuration). Without either, a webhook solver is refused naming the flag.
 */
export async function wireDns01Webhooks(
  config: Pick<Config, "mode" | "kubeconfig" | "dns01WebhookConfig">,
): Promise<void> {
  if (config.mode === "kubernetes") {
    useDns01WebhookTransport(new KubeWebhookTransport(await loadKubeConfig(config)));
  } else if (config.dns01WebhookConfig !== "") {
    useDns01WebhookTransport(new StandaloneWebhookTransport(loadWebhookEndpoints(config.dns01WebhookConfig)));
  }
}
