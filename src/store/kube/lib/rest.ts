import http from "node:http";
import https from "node:https";
import type { KubeConfig } from "@kubernetes/client-node";
import { MeshsignError } from "../../../errors/index.js";
import { transportError } from "./api-error.js";
import { jsonResponse, MAX_RESPONSE_BYTES } from "./json-response.js";

export interface RestRequest {
  readonly method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  readonly path: string;
  readonly query?: Readonly<Record<string, string | undefined>>;
  readonly body?: unknown;
  /** Defaults to application/json when there is a body. */
  readonly contentType?: string;
}

/**
 * A plain-JSON client for the Kubernetes REST API. Objects go in and come out
 * exactly as the API server writes them (no model classes: client-node's
 * generated serializer turns timestamps into Dates and drops unknown fields).
 * Authentication and TLS come from the KubeConfig: the Authorization header is
 * recomputed per request (in-cluster tokens rotate), the TLS agent is built
 * once with keep-alive.
 */
export class RestClient {
  readonly #kc: KubeConfig;
  readonly #server: URL;
  readonly #timeoutMs: number;
  #agent: http.Agent | undefined;

  constructor(kc: KubeConfig, timeoutMs: number) {
    this.#kc = kc;
    const cluster = kc.getCurrentCluster();
    if (!cluster) {
      throw new MeshsignError("ERR_CONFIG_INVALID", "the kubeconfig has no current cluster");
    }
    this.#server = new URL(cluster.server);
    this.#timeoutMs = timeoutMs;
  }

  /** Sends one request; resolves with the parsed JSON body of a 2xx, rejects with a MeshsignError otherwise. */
  async request<T>(req: RestRequest): Promise<T> {
    const url = new URL(this.#server.toString().replace(/\/$/, "") + req.path);
    for (const [key, value] of Object.entries(req.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, value);
    }
    const context = { method: req.method, path: req.path };
    const options: https.RequestOptions = { headers: {} };
    try {
      await this.#kc.applyToHTTPSOptions(options);
    } catch (err) {
      // A token file mid-rotation or an auth plugin failing: worth another try.
      throw new MeshsignError("ERR_STORE_UNAVAILABLE", "could not prepare API server credentials", {
        detail: context,
        cause: err,
        retry: "transient",
      });
    }
    const headers: http.OutgoingHttpHeaders = {};
    if (options.headers && !Array.isArray(options.headers)) Object.assign(headers, options.headers);
    headers.accept = "application/json";
    if (options.auth) {
      headers.authorization = `Basic ${Buffer.from(options.auth).toString("base64")}`;
    }
    let payload: Buffer | undefined;
    if (req.body !== undefined) {
      payload = Buffer.from(JSON.stringify(req.body));
      headers["content-type"] = req.contentType ?? "application/json";
      headers["content-length"] = payload.length;
    }
    const { status, body } = await this.#send(url, req.method, headers, payload, options).catch(
      (err: unknown) => {
        throw transportError(err, context);
      },
    );
    return jsonResponse<T>(status, body, context);
  }

  close(): void {
    this.#agent?.destroy();
    this.#agent = undefined;
  }

  #send(
    url: URL,
    method: string,
    headers: http.OutgoingHttpHeaders,
    payload: Buffer | undefined,
    tls: https.RequestOptions,
  ): Promise<{ status: number; body: Buffer }> {
    const secure = url.protocol === "https:";
    this.#agent ??= secure
      ? new https.Agent({
          keepAlive: true,
          ca: tls.ca,
          cert: tls.cert,
          key: tls.key,
          servername: tls.servername,
          ...(tls.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: tls.rejectUnauthorized }),
        })
      : new http.Agent({ keepAlive: true });
    const send = secure ? https.request : http.request;
    return new Promise((resolve, reject) => {
      const request = send(url, { method, headers, agent: this.#agent, timeout: this.#timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_RESPONSE_BYTES) {
            request.destroy(new Error(`response larger than ${MAX_RESPONSE_BYTES} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        res.on("error", reject);
      });
      request.on("timeout", () => request.destroy(new Error(`no response within ${this.#timeoutMs} ms`)));
      request.on("error", reject);
      request.end(payload);
    });
  }
}
