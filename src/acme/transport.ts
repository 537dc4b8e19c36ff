/**
 * The ACME client's HTTPS transport: one request, with the CA bundle or
 * skipTLSVerify of the Issuer, a deadline, a response size cap, and a hook
 * that observes every request (cert-manager's
 * `certmanager_http_acme_client_request_count` / `_duration_seconds` labels:
 * scheme, host, path, method, status). Plain `http:` is refused: RFC 8555
 * §6.1 requires HTTPS, and an account key signs everything sent here.
 *
 * The deadline covers the whole exchange (waiting for a pooled connection,
 * connect, TLS, headers and the last byte of the body), as Go's
 * `http.Client.Timeout` does for cert-manager: a socket idle timeout alone lets
 * a CA that trickles a byte now and then, or stalls after the headers while
 * keeping the connection open, hold a reconcile for ever. Missing it is a
 * transient ERR_ACME_UNAVAILABLE naming the CA host and the deadline.
 */
import { Agent, request } from "node:https";
import { createSecureContext } from "node:tls";
import { MeshsignError } from "../errors/index.js";

/** One observed request, for metrics. `status` is the HTTP status or "error". */
export interface AcmeRequestObservation {
  readonly scheme: string;
  readonly host: string;
  readonly path: string;
  readonly method: string;
  readonly status: string;
  readonly durationSeconds: number;
}

export interface TransportOptions {
  /** PEM bundle trusted for the ACME server instead of Node's default roots. */
  readonly caBundle?: string;
  /** Do not verify the server's certificate (private test CAs only). */
  readonly skipTLSVerify?: boolean;
  /**
   * Deadline for one whole request, from sending it to the end of the body; also the socket idle
   * timeout. Default 90 s, as cert-manager's ACME HTTP client.
   */
  readonly timeoutMs?: number;
  /** Default `meshsign`. */
  readonly userAgent?: string;
  /** Called after every request, successful or not. */
  readonly observe?: (o: AcmeRequestObservation) => void;
}

export interface HttpResponse {
  readonly status: number;
  /** Lower-case names; repeated headers (Link) joined as Node joins them. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Buffer;
}

export type Transport = (
  method: "GET" | "HEAD" | "POST",
  url: string,
  body?: { readonly contentType: string; readonly data: string },
  accept?: string,
) => Promise<HttpResponse>;

export const DEFAULT_TIMEOUT_MS = 90_000;
/**
 * Connections kept to one ACME server. Requests beyond it wait for a free
 * connection instead of opening another: each new one is a TLS handshake
 * (about a millisecond of CPU on either side), and with hundreds of Orders in
 * flight an unbounded pool opened one per request burst. The public CAs
 * limit a client to some tens of requests per second, which a few kept-alive
 * connections carry.
 */
export const MAX_SOCKETS = 8;
// A certificate chain or an order is a few KB; anything this large is not ACME.
const MAX_BODY_BYTES = 1024 * 1024;

/** Builds the transport for one ACME server. */
export function createTransport(options: TransportOptions = {}): Transport {
  if (options.caBundle !== undefined && options.skipTLSVerify === true)
    throw new MeshsignError("ERR_CONFIG_INVALID", "caBundle and skipTLSVerify are mutually exclusive");
  const agent = new Agent({
    keepAlive: true,
    maxSockets: MAX_SOCKETS,
    // One context for every connection: given only `ca`, each connection parses the bundle into
    // a context of its own.
    ...(options.caBundle === undefined
      ? {}
      : { secureContext: createSecureContext({ ca: options.caBundle }) }),
    rejectUnauthorized: options.skipTLSVerify !== true,
  });
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const userAgent = options.userAgent ?? "meshsign";
  return (method, url, body, accept) => {
    const u = new URL(url);
    if (u.protocol !== "https:")
      return Promise.reject(
        new MeshsignError("ERR_ACME_PROTOCOL", `ACME URL is not https: ${u.protocol}//${u.host}`),
      );
    const started = process.hrtime.bigint();
    const observe = (status: string): void =>
      options.observe?.({
        scheme: "https",
        host: u.host,
        path: u.pathname,
        method,
        status,
        durationSeconds: Number(process.hrtime.bigint() - started) / 1e9,
      });
    return new Promise<HttpResponse>((resolve, reject) => {
      // Settles once: the deadline, a socket error and the response's end can all race.
      let settled = false;
      const fail = (err: MeshsignError): void => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        observe("error");
        reject(err);
        req.destroy();
      };
      const headers: Record<string, string> = { "user-agent": userAgent, "accept-language": "en" };
      if (accept !== undefined) headers.accept = accept;
      if (body !== undefined) headers["content-type"] = body.contentType;
      const req = request(u, { method, agent, headers, timeout: timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (c: Buffer) => {
          size += c.length;
          if (size > MAX_BODY_BYTES) {
            fail(new MeshsignError("ERR_ACME_PROTOCOL", `ACME response from ${u.host} is larger than 1 MiB`));
            return;
          }
          chunks.push(c);
        });
        res.on("end", () => {
          if (settled) return;
          settled = true;
          clearTimeout(deadline);
          observe(String(res.statusCode ?? 0));
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
        });
        res.on("error", (err) => fail(unavailable(u, err)));
      });
      const deadline = setTimeout(() => fail(deadlineMissed(u, method, timeoutMs)), timeoutMs);
      // The socket idle timeout is the deadline too: idle that long, the request has run that long.
      req.on("timeout", () => fail(deadlineMissed(u, method, timeoutMs)));
      req.on("error", (err) => fail(err instanceof MeshsignError ? err : unavailable(u, err)));
      req.end(body?.data);
    });
  };
}

function unavailable(u: URL, err: Error): MeshsignError {
  // The message names the host and the network error (ECONNREFUSED, a TLS
  // verification failure): useful to the user, and no secret is involved.
  const reason = (err as NodeJS.ErrnoException).code ?? err.message;
  return new MeshsignError("ERR_ACME_UNAVAILABLE", `ACME server ${u.host} unreachable: ${reason}`, {
    retry: "transient",
    cause: err,
  });
}

function deadlineMissed(u: URL, method: string, deadlineMs: number): MeshsignError {
  return new MeshsignError(
    "ERR_ACME_UNAVAILABLE",
    `ACME server ${u.host} did not complete ${method} ${u.pathname} within its ${deadlineMs} ms deadline (connect, headers and body)`,
    { retry: "transient", detail: { host: u.host, deadlineMs } },
  );
}
