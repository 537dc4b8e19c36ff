/**
 * cert-manager's webhook wire format (ChallengePayload,
 * `webhook.acme.cert-manager.io/v1alpha1`: the group cert-manager's
 * webhook framework registers the type in, whatever the solver's own group;
 * it refuses any other apiVersion): the request meshsign sends and how the
 * answer is read.
 *
 * The answer is read as cert-manager reads it: success only when the HTTP
 * status is 2xx and `response.success` is true. Otherwise:
 * - the webhook said no (`response.success: false`, its `status.message`),
 *   or the API server refused the call (401/403/404/4xx `Status`): terminal,
 *   with that message, since the same call fails again until someone fixes
 *   the config, credentials or registration;
 * - 5xx or 429 (the webhook or the aggregated API is unavailable): transient.
 */
import { MeshsignError } from "../../../../errors/index.js";
import type { Dns01ChallengeInfo, Dns01Record } from "../provider.js";
import type { WebhookResponse } from "./transport.js";

export type WebhookAction = "Present" | "CleanUp";

/** Longest message taken from a webhook's answer into an error. */
const MAX_MESSAGE_CHARS = 1024;

/** The ChallengePayload for one call. */
export function challengePayload(
  action: WebhookAction,
  record: Dns01Record,
  challenge: Dns01ChallengeInfo,
  config: Readonly<Record<string, unknown>> | undefined,
): Record<string, unknown> {
  return {
    apiVersion: "webhook.acme.cert-manager.io/v1alpha1",
    kind: "ChallengePayload",
    request: {
      uid: challenge.uid,
      action,
      type: "dns-01",
      dnsName: challenge.dnsName,
      // cert-manager sends the Challenge's spec.key, which for DNS-01 is the TXT value itself
      // (base64url of the key authorization's SHA-256); webhooks write it verbatim.
      key: record.value,
      resourceNamespace: challenge.resourceNamespace,
      resolvedFQDN: record.fqdn,
      resolvedZone: record.zone,
      allowAmbientCredentials: challenge.allowAmbientCredentials,
      ...(config === undefined ? {} : { config }),
    },
  };
}

/** Resolves when the webhook did `action`; throws a MeshsignError saying why not otherwise. */
export function readChallengeResponse(action: WebhookAction, who: string, answer: WebhookResponse): void {
  const json = parseJson(answer.body);
  const ok = answer.status >= 200 && answer.status < 300;
  const response = field(json, "response");
  if (ok && field(response, "success") === true) return;

  const detail = { webhook: who, action, httpStatus: answer.status };
  if (ok) {
    if (response === undefined) {
      throw new MeshsignError(
        "ERR_DNS01_REFUSED",
        `webhook ${who} answered ${action} without a ChallengePayload response`,
        {
          retry: "terminal",
          detail,
        },
      );
    }
    const message = text(field(field(response, "status"), "message")) ?? "no reason given";
    throw new MeshsignError("ERR_DNS01_REFUSED", `webhook ${who} refused ${action}: ${message}`, {
      retry: "terminal",
      detail,
    });
  }
  // Not 2xx: a metav1.Status from the API server (or the webhook's own apiserver), or anything else a proxy sends.
  const message = text(field(json, "message")) ?? `HTTP ${answer.status}`;
  if (answer.status >= 500 || answer.status === 429) {
    throw new MeshsignError(
      "ERR_DNS01_UNAVAILABLE",
      `webhook ${who} is unavailable for ${action}: ${message}`,
      {
        retry: "transient",
        detail,
      },
    );
  }
  const hint = answer.status === 404 ? " (is the webhook registered for this group and solver name?)" : "";
  throw new MeshsignError(
    "ERR_DNS01_REFUSED",
    `webhook ${who} refused ${action} (HTTP ${answer.status}): ${message}${hint}`,
    {
      retry: "terminal",
      detail,
    },
  );
}

function parseJson(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

function field(value: unknown, key: string): unknown {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)[key]
    : undefined;
}

function text(value: unknown): string | undefined {
  if (typeof value !== "string" || value.trim() === "") return undefined;
  // Control characters would break a condition message or a log line.
  const clean = [...value]
    .map((c) => (c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f ? " " : c))
    .join("")
    .replace(/ {2,}/g, " ")
    .trim();
  return clean.length > MAX_MESSAGE_CHARS ? `${clean.slice(0, MAX_MESSAGE_CHARS)}...` : clean;
}
