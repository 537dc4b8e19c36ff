import http from "node:http";
import https from "node:https";
import { MeshsignError } from "../../errors/index.js";

export interface HttpGetJsonOptions {
  /** PEM bundle of CAs to trust instead of the system roots (e.g. the cluster CA). */
  readonly ca?: string;
  /** Sent as `authorization: Bearer ...` (e.g. the pod's service-account token). */
  readonly bearerToken?: string;
  readonly timeoutMs: number;
  /** Largest response body accepted. */
  readonly maxBytes: number;
}

/** True for URLs whose host is the loopback interface, where plain http is tolerated (tests, sidecars). */
export function isLoopbackUrl(url: URL): boolean {
  return url.hostname === "127.0.0.1" || url.hostname === "localhost" || url.hostname === "[::1]";
}

/**
 * GETs `url` and parses the JSON body. https is required except on loopback;
 * redirects are not followed; only 200 is accepted. Every failure is a
 * transient ERR_AUTHN_BACKEND_UNAVAILABLE naming the URL (never the token).
 */
export async function httpGetJson(url: URL, options: HttpGetJsonOptions): Promise<unknown> {
  const where = url.origin + url.pathname;
  const fail = (reason: string, cause?: unknown, status?: number): MeshsignError =>
    new MeshsignError("ERR_AUTHN_BACKEND_UNAVAILABLE", `cannot fetch ${where}: ${reason}`, {
      detail: { url: where, ...(status === undefined ? {} : { status }) },
      cause,
      retry: "transient",
    });
  if (url.protocol !== "https:" && !(url.protocol === "http:" && isLoopbackUrl(url))) {
    throw new MeshsignError(
      "ERR_CONFIG_INVALID",
      `${where}: only https URLs (or http on loopback) are allowed`,
    );
  }
  const headers: Record<string, string> = { accept: "application/json" };
  if (options.bearerToken !== undefined) headers.authorization = `Bearer ${options.bearerToken}`;
  const body = await new Promise<Buffer>((resolve, reject) => {
    const onResponse = (res: http.IncomingMessage): void => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(fail(`HTTP ${res.statusCode ?? "?"}`, undefined, res.statusCode));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > options.maxBytes) {
          req.destroy(fail(`response larger than ${options.maxBytes} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      res.on("end", () => resolve(Buffer.concat(chunks)));
      res.on("error", (err) => reject(fail("response aborted", err)));
    };
    const req =
      url.protocol === "https:"
        ? https.get(url, { headers, ca: options.ca, timeout: options.timeoutMs }, onResponse)
        : http.get(url, { headers, timeout: options.timeoutMs }, onResponse);
    req.on("timeout", () => req.destroy(fail(`no answer within ${options.timeoutMs} ms`)));
    req.on("error", (err) => reject(err instanceof MeshsignError ? err : fail(err.message, err)));
  });
  try {
    return JSON.parse(body.toString("utf8")) as unknown;
  } catch (err) {
    throw fail("response is not JSON", err);
  }
}
