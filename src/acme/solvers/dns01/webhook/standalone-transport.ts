/**
 * Standalone: the call goes straight to the webhook's own API server at the
 * URL configured for its group (endpoints.ts), with TLS verified against the
 * configured CA and, when configured, a bearer token the webhook checks with
 * its delegated authentication (TokenReview) and authorization
 * (SubjectAccessReview).
 */
import { readFile } from "node:fs/promises";
import { MeshsignError } from "../../../../errors/index.js";
import type { WebhookEndpoint } from "./endpoints.js";
import { httpsPostJson } from "./lib/https-post.js";
import {
  DEFAULT_WEBHOOK_TIMEOUT_MS,
  type WebhookCall,
  type WebhookResponse,
  type WebhookTransport,
  webhookPath,
} from "./transport.js";

export class StandaloneWebhookTransport implements WebhookTransport {
  readonly #endpoints: ReadonlyMap<string, WebhookEndpoint>;
  readonly #timeoutMs: number;
  readonly #readFile: (path: string) => Promise<string>;

  constructor(
    endpoints: readonly WebhookEndpoint[],
    options: { readonly timeoutMs?: number; readonly readFile?: (path: string) => Promise<string> } = {},
  ) {
    this.#endpoints = new Map(endpoints.map((e) => [e.groupName, e]));
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_WEBHOOK_TIMEOUT_MS;
    this.#readFile = options.readFile ?? ((p) => readFile(p, "utf8"));
  }

  async post(call: WebhookCall): Promise<WebhookResponse> {
    const endpoint = this.#endpoints.get(call.groupName);
    if (endpoint === undefined) {
      const known = [...this.#endpoints.keys()].sort().join(", ") || "none";
      throw new MeshsignError(
        "ERR_DNS01_UNSUPPORTED",
        `no webhook URL is configured for group ${call.groupName} (--dns01-webhook-config lists: ${known})`,
        { retry: "terminal" },
      );
    }
    const headers: Record<string, string> = {};
    if (endpoint.tokenFile !== undefined) {
      let token: string;
      try {
        token = (await this.#readFile(endpoint.tokenFile)).trim();
      } catch (err) {
        throw new MeshsignError(
          "ERR_DNS01_UNAVAILABLE",
          `cannot read the token file of webhook group ${call.groupName}`,
          {
            retry: "transient",
            cause: err,
          },
        );
      }
      headers.authorization = `Bearer ${token}`;
    }
    const prefix = endpoint.url.pathname.replace(/\/+$/, "");
    const url = new URL(`${prefix}${webhookPath(call.groupName, call.solverName)}`, endpoint.url.origin);
    return httpsPostJson(url, call.body, {
      ca: endpoint.caPem,
      headers,
      timeoutMs: this.#timeoutMs,
      signal: call.signal,
    });
  }
}
