/**
 * One HTTPS POST of a JSON body with a timeout, a response size cap and an
 * abort signal, for both webhook transports. Connection failures, timeouts and
 * oversized answers are transient ERR_DNS01_UNAVAILABLE; the status and body
 * of any answer go back to the caller to interpret.
 */
import { type RequestOptions, request } from "node:https";
import { MeshsignError } from "../../../../../errors/index.js";
import type { WebhookResponse } from "../transport.js";

/** A ChallengePayload answer is a few hundred bytes; anything near this is not one. */
const MAX_RESPONSE_BYTES = 1 << 20;

export function httpsPostJson(
  url: URL,
  body: string,
  options: RequestOptions & { readonly timeoutMs: number; readonly signal?: AbortSignal | undefined },
): Promise<WebhookResponse> {
  const { timeoutMs, signal, ...tls } = options;
  const target = `${url.origin}${url.pathname}`;
  return new Promise<WebhookResponse>((resolve, reject) => {
    const fail = (why: string, cause?: unknown) =>
      reject(
        new MeshsignError("ERR_DNS01_UNAVAILABLE", `webhook ${target}: ${why}`, {
          retry: "transient",
          cause,
          detail: { url: target },
        }),
      );
    if (signal?.aborted) {
      fail("aborted", signal.reason);
      return;
    }
    const req = request(url, {
      ...tls,
      method: "POST",
      headers: {
        ...(tls.headers ?? {}),
        "content-type": "application/json",
        accept: "application/json",
        "content-length": Buffer.byteLength(body),
      },
      timeout: timeoutMs,
      signal,
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", (err) => fail(signal?.aborted ? "aborted" : err.message, err));
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_RESPONSE_BYTES) {
          req.destroy(new Error(`answer larger than ${MAX_RESPONSE_BYTES} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      res.on("error", (err) => fail(err.message, err));
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }),
      );
    });
    req.end(body);
  });
}
