/**
 * The `webhook` DNS-01 provider: cert-manager's webhook solver protocol, so
 * the webhooks cert-manager users run (alidns-webhook, DNSPod, Tencent,
 * Huawei...) keep working unchanged. Each present/cleanUp is one POST of a
 * ChallengePayload to `/apis/<groupName>/v1alpha1/<solverName>` through a
 * {@link WebhookTransport}: the API server's aggregation layer in Kubernetes
 * mode, a configured URL standalone.
 *
 * Idempotence and "only my value" are the webhook's side of the contract, as
 * in cert-manager: meshsign sends the exact record (resolvedFQDN,
 * resolvedZone, key = the TXT value) for every call, and calls again on retry.
 */
import { MeshsignError } from "../../../../errors/index.js";
import type { Dns01ChallengeInfo, Dns01Provider, Dns01ProviderFactory, Dns01Record } from "../provider.js";
import { GROUP_NAME_PATTERN, SOLVER_NAME_PATTERN } from "./names.js";
import { challengePayload, readChallengeResponse, type WebhookAction } from "./payload.js";
import type { WebhookTransport } from "./transport.js";

/** A solver's `dns01.webhook` block. */
export interface WebhookSolverConfig {
  readonly groupName: string;
  readonly solverName: string;
  /** Passed to the webhook as-is (references to Secrets, region, ...). */
  readonly config?: Readonly<Record<string, unknown>> | undefined;
}

/** Checks the block and builds the provider; a bad name is a terminal ERR_RESOURCE_INVALID naming the field. */
export function createWebhookProvider(spec: WebhookSolverConfig, transport: WebhookTransport): Dns01Provider {
  if (typeof spec.groupName !== "string" || !GROUP_NAME_PATTERN.test(spec.groupName)) {
    throw new MeshsignError(
      "ERR_RESOURCE_INVALID",
      "dns01.webhook.groupName must be a DNS subdomain, e.g. acme.example.com",
    );
  }
  if (typeof spec.solverName !== "string" || !SOLVER_NAME_PATTERN.test(spec.solverName)) {
    throw new MeshsignError(
      "ERR_RESOURCE_INVALID",
      "dns01.webhook.solverName must be a lowercase name, e.g. alidns-solver",
    );
  }
  const who = `${spec.solverName}.${spec.groupName}`;
  const call = async (
    action: WebhookAction,
    record: Dns01Record,
    challenge: Dns01ChallengeInfo,
    signal?: AbortSignal,
  ) => {
    const body = JSON.stringify(challengePayload(action, record, challenge, spec.config));
    const answer = await transport.post({
      groupName: spec.groupName,
      solverName: spec.solverName,
      body,
      signal,
    });
    readChallengeResponse(action, who, answer);
  };
  return {
    name: "webhook",
    present: (record, challenge, signal) => call("Present", record, challenge, signal),
    cleanUp: (record, challenge, signal) => call("CleanUp", record, challenge, signal),
  };
}

/** The registry factory for `webhook`, bound to one transport. */
export function webhookProviderFactory(transport: WebhookTransport): Dns01ProviderFactory {
  return async (config) => createWebhookProvider(config as WebhookSolverConfig, transport);
}
