import {
  constants,
  createServer,
  type Http2Server,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from "node:http2";
import type { Socket } from "node:net";
import { timerDelay } from "../lib/timer-delay.js";
import { serveUnaryStream } from "./lib/unary-call.js";
import type { UnaryMethod } from "./method.js";

/** Per-connection limits and timers of a {@link UnaryH2Server}; the same knobs grpc-js's server takes. */
export interface UnaryH2Limits {
  /** SETTINGS_MAX_CONCURRENT_STREAMS advertised to every client. */
  readonly maxConcurrentStreams: number;
  /** nghttp2's own memory per session (header tables, queued frames), MB. */
  readonly maxSessionMemoryMb: number;
  /** Server pings this far apart; one unanswered for {@link keepaliveTimeoutMs} ends the connection. */
  readonly keepaliveTimeMs: number;
  readonly keepaliveTimeoutMs: number;
  /** A connection with no call for this long gets GOAWAY and closes. */
  readonly maxConnectionIdleMs: number;
  /** A connection gets GOAWAY after this age (+-10%), then {@link connectionAgeGraceMs} for its calls. */
  readonly maxConnectionAgeMs: number;
  readonly connectionAgeGraceMs: number;
}

/**
 * A gRPC server for one unary method, written on Node's `http2` directly:
 * what grpc-js's generic server does per call (interceptor chains, metadata
 * objects, a message decoder stream, status objects) is more work than a
 * single unary method needs, and showed in the profile of CreateCertificate.
 *
 * Like grpc-js's `createConnectionInjector`, it never listens: connections
 * arrive through {@link inject} already TLS (the caller owns the listener,
 * counts connections and runs the handshake). It keeps the behaviour of
 * grpc-js's server with the same options: streams per connection and
 * nghttp2 session memory capped, server keepalive pings, idle and age
 * GOAWAYs, and on {@link close} a GOAWAY to every connection, whose calls
 * then finish. What each call gets is in {@link serveUnaryStream}.
 */
export class UnaryH2Server<Req, Res> {
  readonly #server: Http2Server;
  readonly #sessions = new Set<ServerHttp2Session>();
  #closing = false;

  constructor(
    method: UnaryMethod<Req, Res>,
    private readonly limits: UnaryH2Limits,
  ) {
    this.#server = createServer({
      maxSessionMemory: limits.maxSessionMemoryMb,
      settings: { maxConcurrentStreams: limits.maxConcurrentStreams },
    });
    this.#server.on("session", (session: ServerHttp2Session) => this.#session(session));
    this.#server.on(
      "stream",
      (
        stream: ServerHttp2Stream,
        headers: IncomingHttpHeaders,
        _flags: number,
        rawHeaders: readonly string[],
      ) => serveUnaryStream(method, stream, headers, rawHeaders),
    );
    // Session and stream errors end them; each is also seen as a "close".
    this.#server.on("sessionError", noop);
  }

  /** Serves HTTP/2 on an established connection (in meshsign: TLS with h2 negotiated). */
  inject(socket: Socket): void {
    if (this.#closing) {
      socket.destroy();
      return;
    }
    this.#server.emit("connection", socket);
  }

  /** Open HTTP/2 sessions. */
  get sessions(): number {
    return this.#sessions.size;
  }

  /** GOAWAY to every connection; resolves once their calls have finished and all are closed. */
  close(): Promise<void> {
    this.#closing = true;
    const closed = [...this.#sessions].map(
      (session) =>
        new Promise<void>((resolve) => {
          if (session.destroyed) {
            resolve();
            return;
          }
          session.once("close", () => resolve());
          // One already closing (its max-age GOAWAY, or idle) may still have calls to finish: wait for them too.
          if (!session.closed) session.close();
        }),
    );
    return Promise.all(closed).then(() => undefined);
  }

  /** Cuts every connection now. */
  destroy(): void {
    this.#closing = true;
    for (const session of this.#sessions) session.destroy();
  }

  #session(session: ServerHttp2Session): void {
    this.#sessions.add(session);
    session.on("error", noop);
    const limits = this.limits;
    const timers: NodeJS.Timeout[] = [];
    const later = (ms: number, fn: () => void): NodeJS.Timeout => {
      const t = setTimeout(fn, timerDelay(ms));
      t.unref();
      timers.push(t);
      return t;
    };

    // Idle: one timer, restarted when the last call of the connection ends (no timer per call).
    let active = 0;
    const idle = later(limits.maxConnectionIdleMs, () => {
      if (active === 0) session.close();
    });
    session.on("stream", (stream) => {
      active++;
      stream.once("close", () => {
        if (--active === 0) idle.refresh();
      });
    });

    // Age: GOAWAY (last stream id: all of them) then close, spread by +-10% so clients do not reconnect together.
    const jitter = (Math.random() * 2 - 1) * (limits.maxConnectionAgeMs / 10);
    later(limits.maxConnectionAgeMs + jitter, () => {
      try {
        session.goaway(constants.NGHTTP2_NO_ERROR, 2 ** 31 - 1);
      } catch {
        session.destroy();
        return;
      }
      session.close();
      later(limits.connectionAgeGraceMs, () => session.destroy());
    });

    // Keepalive: a ping every keepaliveTimeMs; no answer within keepaliveTimeoutMs ends the connection.
    let pingTimeout: NodeJS.Timeout | undefined;
    const ping = later(limits.keepaliveTimeMs, () => {
      if (session.destroyed || session.closed) return;
      pingTimeout = setTimeout(() => session.destroy(), timerDelay(limits.keepaliveTimeoutMs));
      pingTimeout.unref();
      let sent = false;
      try {
        sent = session.ping((err) => {
          clearTimeout(pingTimeout);
          if (err) session.destroy();
          else ping.refresh();
        });
      } catch {
        sent = false;
      }
      if (!sent) session.destroy();
    });

    session.once("close", () => {
      for (const t of timers) clearTimeout(t);
      clearTimeout(pingTimeout);
      this.#sessions.delete(session);
    });
  }
}

function noop(): void {}
