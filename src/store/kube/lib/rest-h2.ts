/**
 * A plain-JSON client for the Kubernetes REST API over HTTP/2, for calls made once per workload
 * request (TokenReview): every call is a stream on one TLS connection, as client-go's are.
 * Against {@link RestClient} (HTTP/1.1 keep-alive, one socket per call in flight) a TokenReview
 * costs meshsign less CPU (about 260 us against 300-400 us, measured alone against the test API
 * server): no socket, agent or `ClientRequest` per call, HPACK sends meshsign's own
 * ~1 KB bearer token once per connection instead of with every call, the calls in flight share
 * the connection's writes, and the KubeConfig's credentials are applied every
 * {@link CREDENTIALS_REFRESH_MS} rather than per call.
 *
 * An `http://` server, or one that does not offer `h2` by ALPN (a proxy in front of the API
 * server), is served by {@link RestClient} instead, for the life of the client. A call that gets
 * no answer within the timeout fails, and the connection is checked with a PING: one that does
 * not answer it either is dropped, so the next call opens a new one.
 */
import http2 from "node:http2";
import type { KubeConfig } from "@kubernetes/client-node";
import { MeshsignError } from "../../../errors/index.js";
import { type RequestContext, transportError } from "./api-error.js";
import { type AppliedCredentials, CachedCredentials, CREDENTIALS_REFRESH_MS } from "./credentials.js";
import { jsonResponse, MAX_RESPONSE_BYTES } from "./json-response.js";
import { RestClient, type RestRequest } from "./rest.js";

/** The server negotiated no HTTP/2: {@link Http2RestClient} hands its calls to HTTP/1.1. */
class NoHttp2 extends Error {}

/**
 * The server did not process the call: its stream was refused, or the connection was going away
 * before the call was sent. Safe to send again on a new connection (RFC 9113 §8.7).
 */
class Refused extends Error {}

/** One HTTP/2 connection and the calls in flight on it (it holds the process open only then). */
interface Connection {
  readonly session: http2.ClientHttp2Session;
  active: number;
  pinging: boolean;
}

export interface Http2RestClientOptions {
  /** How long the KubeConfig's applied credentials are reused. Default {@link CREDENTIALS_REFRESH_MS}. */
  readonly credentialsRefreshMs?: number;
}

export class Http2RestClient {
  readonly #kc: KubeConfig;
  readonly #timeoutMs: number;
  readonly #server: URL;
  /** The server URL's path, without a trailing slash (a proxy may serve the API under a prefix). */
  readonly #prefix: string;
  readonly #credentials: CachedCredentials;
  #connection: Promise<Connection> | undefined;
  /** The connection {@link #connection} resolved to, once it has. */
  #live: Connection | undefined;
  #http1: RestClient | undefined;

  constructor(kc: KubeConfig, timeoutMs: number, options: Http2RestClientOptions = {}) {
    const cluster = kc.getCurrentCluster();
    if (!cluster) {
      throw new MeshsignError("ERR_CONFIG_INVALID", "the kubeconfig has no current cluster");
    }
    this.#kc = kc;
    this.#timeoutMs = timeoutMs;
    this.#server = new URL(cluster.server);
    this.#prefix = this.#server.pathname.replace(/\/$/, "");
    this.#credentials = new CachedCredentials(kc, options.credentialsRefreshMs ?? CREDENTIALS_REFRESH_MS);
    if (this.#server.protocol !== "https:") this.#http1 = new RestClient(kc, timeoutMs);
  }

  /** The protocol calls go over now: `h2`, or `http/1.1` after a fallback. */
  get protocol(): "h2" | "http/1.1" {
    return this.#http1 === undefined ? "h2" : "http/1.1";
  }

  /** Sends one request; resolves with the parsed JSON body of a 2xx, rejects with a MeshsignError otherwise. */
  async request<T>(req: RestRequest): Promise<T> {
    if (this.#http1 !== undefined) return this.#http1.request<T>(req);
    const context: RequestContext = { method: req.method, path: req.path };
    const credentials = await this.#credentials.get();
    let answer: { status: number; body: Buffer } | undefined;
    for (let attempt = 1; answer === undefined; attempt++) {
      let connection: Connection;
      try {
        connection = await this.#connect(credentials.tls);
      } catch (err) {
        if (err instanceof NoHttp2) {
          this.#http1 ??= new RestClient(this.#kc, this.#timeoutMs);
          return this.#http1.request<T>(req);
        }
        throw transportError(err, context);
      }
      try {
        answer = await this.#send(connection, req, credentials);
      } catch (err) {
        // A GOAWAY racing the call: once more, on the connection that replaces this one.
        if (!(err instanceof Refused) || attempt > 1) throw transportError(err, context);
        this.#forget(connection);
      }
    }
    const { status, body } = answer;
    // Rotated credentials: apply them afresh for the next call.
    if (status === 401) this.#credentials.invalidate();
    return jsonResponse<T>(status, body, context);
  }

  close(): void {
    const connection = this.#connection;
    this.#connection = undefined;
    this.#live = undefined;
    void connection?.then((c) => c.session.destroy()).catch(() => {});
    this.#http1?.close();
  }

  /** The open connection, or a new one once the server has agreed to HTTP/2. */
  #connect(tls: AppliedCredentials["tls"]): Promise<Connection> {
    const open = this.#connection;
    if (open !== undefined) return open;
    const pending = new Promise<Connection>((resolve, reject) => {
      const session = http2.connect(this.#server.origin, { ...tls });
      const forget = () => {
        if (this.#connection !== pending) return;
        this.#connection = undefined;
        this.#live = undefined;
      };
      const timer = setTimeout(
        () => session.destroy(new Error(`no HTTP/2 connection within ${this.#timeoutMs} ms`)),
        this.#timeoutMs,
      );
      session.once("connect", () => {
        clearTimeout(timer);
        if (session.alpnProtocol !== "h2") {
          forget();
          session.destroy();
          reject(new NoHttp2());
          return;
        }
        session.unref();
        const connection: Connection = { session, active: 0, pinging: false };
        if (this.#connection === pending) this.#live = connection;
        resolve(connection);
      });
      session.on("error", (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        forget();
        // Only servers that speak TLS but not h2 answer with this alert.
        reject(err.code === "ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL" ? new NoHttp2() : err);
      });
      // A server going away finishes the streams it accepted; new calls need a new connection.
      session.on("goaway", forget);
      session.on("close", () => {
        clearTimeout(timer);
        forget();
        reject(new Error("the HTTP/2 connection closed"));
      });
    });
    this.#connection = pending;
    return pending;
  }

  #send(
    connection: Connection,
    req: RestRequest,
    credentials: AppliedCredentials,
  ): Promise<{ status: number; body: Buffer }> {
    let path = this.#prefix + req.path;
    const query = Object.entries(req.query ?? {}).filter((e): e is [string, string] => e[1] !== undefined);
    if (query.length > 0) path += `?${new URLSearchParams(query).toString()}`;
    const headers: http2.OutgoingHttpHeaders = {
      ...credentials.headers,
      ":method": req.method,
      ":path": path,
      accept: "application/json",
    };
    let payload: Buffer | undefined;
    if (req.body !== undefined) {
      payload = Buffer.from(JSON.stringify(req.body));
      headers["content-type"] = req.contentType ?? "application/json";
      headers["content-length"] = payload.length;
    }
    const { session } = connection;
    return new Promise((resolve, reject) => {
      let stream: http2.ClientHttp2Stream;
      try {
        stream = session.request(headers, { endStream: payload === undefined });
      } catch (err) {
        // The session is going away or gone: nothing was sent.
        reject(new Refused("the HTTP/2 connection is going away", { cause: err }));
        return;
      }
      if (connection.active++ === 0) session.ref();
      let status = 0;
      let size = 0;
      let done = false;
      const chunks: Buffer[] = [];
      // One timer per call (the stream's own idle timeout re-arms on every frame).
      const timer = setTimeout(() => {
        stream.close(http2.constants.NGHTTP2_CANCEL);
        finish(new Error(`no response within ${this.#timeoutMs} ms`));
        this.#checkHealth(connection);
      }, this.#timeoutMs);
      const finish = (err: Error | undefined) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (--connection.active === 0 && !session.destroyed) session.unref();
        if (err === undefined) resolve({ status, body: Buffer.concat(chunks, size) });
        else reject(err);
      };
      stream.on("response", (h) => {
        status = Number(h[":status"] ?? 0);
      });
      stream.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_RESPONSE_BYTES) {
          stream.close(http2.constants.NGHTTP2_CANCEL);
          finish(new Error(`response larger than ${MAX_RESPONSE_BYTES} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      stream.on("end", () => finish(undefined));
      const refused = () => stream.rstCode === http2.constants.NGHTTP2_REFUSED_STREAM && status === 0;
      stream.on("error", (err) => finish(refused() ? new Refused("stream refused", { cause: err }) : err));
      // Every stream closes, most after their answer: an error (and its stack trace) is made only
      // for one that closed without it.
      stream.on("close", () => {
        if (done) return;
        finish(
          refused()
            ? new Refused("stream refused")
            : new Error(`the HTTP/2 stream closed before its answer (code ${stream.rstCode})`),
        );
      });
      if (payload !== undefined) stream.end(payload);
    });
  }

  /** PINGs a connection that left a call unanswered; one that does not answer either is dropped. */
  #checkHealth(connection: Connection): void {
    if (connection.pinging || connection.session.destroyed) return;
    connection.pinging = true;
    const timer = setTimeout(() => this.#drop(connection), this.#timeoutMs);
    const sent = connection.session.ping((err) => {
      connection.pinging = false;
      clearTimeout(timer);
      if (err) this.#drop(connection);
    });
    if (!sent) {
      clearTimeout(timer);
      connection.pinging = false;
    }
  }

  #drop(connection: Connection): void {
    connection.session.destroy();
  }

  /** New calls go to a new connection; the calls in flight on this one finish. */
  #forget(connection: Connection): void {
    if (this.#live !== connection) return;
    this.#live = undefined;
    this.#connection = undefined;
  }
}
