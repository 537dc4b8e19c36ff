/**
 * How a webhook call reaches the webhook: through the Kubernetes API server's
 * aggregation layer (as cert-manager calls it) or straight to a configured
 * URL (standalone). Both POST the same ChallengePayload to
 * `/apis/<groupName>/v1alpha1/<solverName>` and hand back the raw answer.
 */

/** The raw HTTP answer; the provider interprets it (payload.ts). */
export interface WebhookResponse {
  readonly status: number;
  readonly body: string;
}

export interface WebhookCall {
  readonly groupName: string;
  readonly solverName: string;
  /** The ChallengePayload, JSON-encoded. */
  readonly body: string;
  readonly signal?: AbortSignal | undefined;
}

export interface WebhookTransport {
  /** Throws a transient ERR_DNS01_UNAVAILABLE when no answer arrives (connection refused, timeout). */
  post(call: WebhookCall): Promise<WebhookResponse>;
}

/** Default per-call timeout. cert-manager's REST client sets none; a stuck webhook must not hold a Challenge forever. */
export const DEFAULT_WEBHOOK_TIMEOUT_MS = 60_000;

/** The path of a solver resource in the webhook's API group (cert-manager's `cl.Post().Resource(solverName)`). */
export function webhookPath(groupName: string, solverName: string): string {
  return `/apis/${groupName}/v1alpha1/${solverName}`;
}
