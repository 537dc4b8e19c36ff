import { createServer, type Server as NetServer } from "node:net";
import type { TLSSocket } from "node:tls";
import { type ConnectionInjector, Server, ServerCredentials } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { AdmissionGate, type AdmissionLimits } from "../csr-service/admission.js";
import { type CsrServiceDeps, createCertificateHandler } from "../csr-service/handler.js";
import { keepRepeatedCredentialHeaders } from "../csr-service/repeated-headers.js";
import {
  CREATE_CERTIFICATE_PATH,
  decodeCertificateRequest,
  encodeCertificateResponse,
  istioCertificateServiceDefinition,
} from "../csr-service/service-definition.js";
import type { Config, GrpcImplementation } from "./config.js";
import type { PresentedChains } from "./tls/presented-chains.js";
import type { ServingTlsOptions } from "./tls/serving-settings.js";
import { RotatingServerTls, type ServingKeyPair } from "./tls/rotating-credentials.js";
import { timerDelay } from "./lib/timer-delay.js";
import { UnaryH2Server } from "./unary-h2/index.js";

/** Limits of the CreateCertificate port; see {@link GrpcFrontend}. */
export interface GrpcLimits {
  /** Largest accepted CSR PEM; the receive limit follows from it ({@link maxReceiveMessageBytes}). */
  readonly maxCsrBytes: number;
  readonly maxConcurrentStreams: number;
  /** Per process (worker). */
  readonly maxConnections: number;
  readonly maxConnectionIdleMs: number;
  readonly maxConnectionAgeMs: number;
  /** CreateCertificate calls running and waiting per process; see {@link AdmissionGate}. */
  readonly admission: AdmissionLimits;
}

/** The port's limits as configured. */
export function grpcLimitsOf(config: Config): GrpcLimits {
  return {
    maxCsrBytes: config.maxCsrBytes,
    maxConcurrentStreams: config.grpcMaxConcurrentStreams,
    maxConnections: config.grpcMaxConnections,
    maxConnectionIdleMs: config.grpcMaxConnectionIdle,
    maxConnectionAgeMs: config.grpcMaxConnectionAge,
    admission: {
      maxInFlight: config.maxInFlight,
      maxQueued: config.maxQueued,
      maxQueueWaitMs: config.maxQueueWait,
    },
  };
}

/**
 * Room for the rest of an IstioCertificateRequest around its CSR: the
 * validity, the metadata Struct (ztunnel's ImpersonatedIdentity) and protobuf
 * framing take a few hundred bytes.
 */
export const MESSAGE_HEADROOM_BYTES = 4096;

/**
 * The receive limit: twice the CSR cap plus headroom (36 KiB by default, not
 * gRPC's 4 MiB). A CSR somewhat over the cap still reaches the handler and is
 * refused INVALID_ARGUMENT naming the rule (which istio-agent does not retry);
 * anything larger is refused from the length prefix alone, before its body
 * arrives (by grpc-js or by the h2 server alike).
 */
export function maxReceiveMessageBytes(maxCsrBytes: number): number {
  return 2 * maxCsrBytes + MESSAGE_HEADROOM_BYTES;
}
/** In-flight calls get this long after a max-age GOAWAY before the connection is cut (a CreateCertificate takes milliseconds). */
export const CONNECTION_AGE_GRACE_MS = 10_000;
/**
 * nghttp2's own memory per session (header tables, queued frames), in MB:
 * Node's default, which grpc-js turns off. A session over it gets
 * ENHANCE_YOUR_CALM on new streams instead of growing.
 */
export const MAX_SESSION_MEMORY_MB = 10;
/** Server pings on a connection at most this far apart; one unanswered for the timeout ends it. */
export const KEEPALIVE_TIME_MS = 120_000;
export const KEEPALIVE_TIMEOUT_MS = 20_000;
/**
 * After TLS, a client must send its first HTTP/2 bytes (the connection
 * preface) by then. grpc-js closes an idle session with a graceful GOAWAY,
 * which a peer that never speaks HTTP/2 ignores: without this, 8,000 such
 * connections held ~285 MB per worker for as long as their peer liked.
 */
export const FIRST_BYTES_TIMEOUT_MS = 10_000;
/** TLS handshakes not done by then are dropped (Node's default is 120 s). */
export const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

/**
 * The HTTP/2 sessions behind the listener: grpc-js's generic server, or
 * meshsign's own server of the one unary method ({@link UnaryH2Server}).
 */
interface Sessions {
  inject(secure: TLSSocket): void;
  /** GOAWAY to every connection; resolves once their calls are done. */
  close(): Promise<void>;
  /** Cuts every connection. */
  destroy(): void;
}

/**
 * Istio's CreateCertificate port: gRPC over TLS with rotating credentials,
 * served by meshsign's own unary server on Node's http2 (`--grpc-implementation
 * h2`, the default) or by grpc-js (`grpc-js`); both run the same handler
 * behind the same admission gate, and both get the same limits. Runs in the main
 * process or in each cluster worker (the listening socket is then shared by
 * the workers).
 *
 * Everything an unauthenticated peer can make it hold is bounded, as a
 * hardened grpc-go server would bound it: connections per process (our own
 * listener counts them and hands each to grpc-js), streams per connection
 * (SETTINGS_MAX_CONCURRENT_STREAMS; grpc-go leaves it unlimited and istiod
 * sets 100,000 because xDS streams share its port, but this port only serves
 * unary calls: 100 is HTTP/2's recommended minimum and ztunnel queues above
 * it), message size (twice the CSR cap plus headroom instead of grpc's 4 MiB,
 * so an incomplete message never holds more than that), nghttp2 session memory,
 * TLS handshake time, idle time and connection age.
 */
export class GrpcFrontend {
  readonly #sessions: Sessions;
  readonly #tls: RotatingServerTls;
  readonly #gate: AdmissionGate;
  readonly #listener: NetServer;
  /** Accepted connections not yet closed (in the TLS handshake or serving). */
  #open = 0;
  /** Established TLS sockets. */
  readonly #sockets = new Set<TLSSocket>();
  #serving = false;
  #port = 0;
  #pair: ServingKeyPair;

  constructor(
    deps: CsrServiceDeps,
    serving: ServingKeyPair,
    private readonly options: {
      address: string;
      requestClientCertificate: boolean;
      clientCaPem?: string;
      log: Logger;
      limits: GrpcLimits;
      /** Which server speaks gRPC on the connections; h2 when not given. */
      implementation?: GrpcImplementation;
      /** Where the client chains presented in handshakes are recorded (client-certificate authentication). */
      clientChains?: PresentedChains;
      /** TLS versions, suites and groups of the port (--serving-tls-*). */
      tls?: ServingTlsOptions;
    },
  ) {
    this.#pair = serving;
    const limits = options.limits;
    this.#gate = new AdmissionGate(limits.admission, {
      onRefused: (r) =>
        options.log.warn(r, "CreateCertificate at capacity: refusing calls with RESOURCE_EXHAUSTED"),
    });
    const handler = this.#gate.wrap(createCertificateHandler(deps));
    this.#sessions =
      options.implementation === "h2" ? unaryH2Sessions(handler, limits) : grpcJsSessions(handler, limits);
    this.#tls = new RotatingServerTls(serving, {
      requestClientCertificate: options.requestClientCertificate,
      ...(options.clientCaPem ? { clientCaPem: options.clientCaPem } : {}),
      ...(options.tls ? { tls: options.tls } : {}),
      handshakeTimeoutMs: TLS_HANDSHAKE_TIMEOUT_MS,
      onSecure: (secure) => {
        options.clientChains?.track(secure);
        this.#sockets.add(secure);
        secure.once("close", () => this.#sockets.delete(secure));
        awaitFirstBytes(secure, FIRST_BYTES_TIMEOUT_MS, () => this.#sessions.inject(secure));
      },
    });
    // Our own listener so that connections are counted per process (grpc-js's bindAsync has no
    // limit) and each TLS socket is ours to cut. In a cluster worker the listening socket is shared.
    this.#listener = createServer({ noDelay: true }, (socket) => {
      if (this.#open >= limits.maxConnections) {
        socket.destroy();
        return;
      }
      // Counted from accept, so connections still in their TLS handshake count too.
      this.#open++;
      socket.once("close", () => this.#open--);
      socket.on("error", () => {});
      this.#tls.accept(socket);
    });
  }

  /** Open connections of this process (accepted and not yet closed). */
  get connections(): number {
    return this.#open;
  }

  /** Binds the listener; resolves with the bound port. */
  async start(): Promise<number> {
    const { host, port } = splitAddress(this.options.address);
    this.#port = await new Promise<number>((resolve, reject) => {
      this.#listener.once("error", reject);
      this.#listener.listen({ host, port }, () => {
        this.#listener.removeListener("error", reject);
        const a = this.#listener.address();
        resolve(typeof a === "object" && a ? a.port : port);
      });
    });
    this.#serving = true;
    return this.#port;
  }

  get serving(): boolean {
    return this.#serving;
  }

  updateServing(pair: ServingKeyPair, clientCaPem?: string): void {
    this.#pair = pair;
    this.#tls.update(pair, clientCaPem);
  }

  /** New mesh roots: client certificates are then checked against them. */
  updateRoots(rootsPem: string): void {
    this.#tls.update(this.#pair, rootsPem);
  }

  /** Stops accepting, lets in-flight calls finish within `graceMs`, then cuts the rest. */
  async shutdown(graceMs: number): Promise<void> {
    this.#serving = false;
    this.#listener.close();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.options.log.warn({ graceMs }, "grace period over; cancelling remaining calls");
        this.#sessions.destroy();
        for (const socket of this.#sockets) socket.destroy();
        resolve();
      }, graceMs);
      timer.unref();
      void this.#sessions.close().then(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

type CreateCertificateHandler = ReturnType<typeof createCertificateHandler>;

/** grpc-js's generic server, handed each connection through its connection injector. */
function grpcJsSessions(handler: CreateCertificateHandler, limits: GrpcLimits): Sessions {
  const server = new Server({
    "grpc.max_receive_message_length": maxReceiveMessageBytes(limits.maxCsrBytes),
    "grpc.max_concurrent_streams": limits.maxConcurrentStreams,
    "grpc-node.max_session_memory": MAX_SESSION_MEMORY_MB,
    // Istio agents hold one long-lived connection; keep them healthy but bounded.
    "grpc.keepalive_time_ms": KEEPALIVE_TIME_MS,
    "grpc.keepalive_timeout_ms": KEEPALIVE_TIMEOUT_MS,
    "grpc.max_connection_idle_ms": timerDelay(limits.maxConnectionIdleMs),
    "grpc.max_connection_age_ms": timerDelay(limits.maxConnectionAgeMs),
    "grpc.max_connection_age_grace_ms": CONNECTION_AGE_GRACE_MS,
    // channelz (grpc-js's introspection counters) is not served by meshsign; keeping it on costs
    // CPU on every call and socket.
    "grpc.enable_channelz": 0,
  });
  // Every `authorization` and `clusterid` value reaches the handler, as with grpc-go. (Before
  // the injector below: it wraps how grpc-js sets up each HTTP/2 server.)
  keepRepeatedCredentialHeaders(server);
  server.addService(istioCertificateServiceDefinition, { CreateCertificate: handler });
  // grpc-js gets connections that are already TLS (ours), so its own server is plaintext HTTP/2.
  const injector: ConnectionInjector = server.createConnectionInjector(ServerCredentials.createInsecure());
  return {
    inject: (secure) => injector.injectConnection(secure),
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
    destroy: () => server.forceShutdown(),
  };
}

/** meshsign's own server of CreateCertificate on node:http2, with the same limits. */
function unaryH2Sessions(handler: CreateCertificateHandler, limits: GrpcLimits): Sessions {
  const server = new UnaryH2Server(
    {
      path: CREATE_CERTIFICATE_PATH,
      decode: decodeCertificateRequest,
      encode: encodeCertificateResponse,
      handler,
      maxReceiveMessageBytes: maxReceiveMessageBytes(limits.maxCsrBytes),
    },
    {
      maxConcurrentStreams: limits.maxConcurrentStreams,
      maxSessionMemoryMb: MAX_SESSION_MEMORY_MB,
      keepaliveTimeMs: KEEPALIVE_TIME_MS,
      keepaliveTimeoutMs: KEEPALIVE_TIMEOUT_MS,
      maxConnectionIdleMs: limits.maxConnectionIdleMs,
      maxConnectionAgeMs: limits.maxConnectionAgeMs,
      connectionAgeGraceMs: CONNECTION_AGE_GRACE_MS,
    },
  );
  return {
    inject: (secure) => server.inject(secure),
    close: () => server.close(),
    destroy: () => server.destroy(),
  };
}

/** "host:port", "[v6]:port" or ":port" (all interfaces) as the listener takes them. */
function splitAddress(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(":");
  const host = address.slice(0, i).replace(/^\[|\]$/g, "");
  return { host: host || "0.0.0.0", port: Number(address.slice(i + 1)) };
}

/**
 * Calls `then` once `secure` has data to read (put back first, so the HTTP/2
 * session reads it), or destroys the socket if none comes within `timeoutMs`.
 * Cutting a peer must happen before grpc-js's HTTP/2 session owns the socket:
 * once it does, only the session can end it.
 */
function awaitFirstBytes(secure: TLSSocket, timeoutMs: number, then: () => void): void {
  const timer = setTimeout(() => secure.destroy(), timeoutMs);
  timer.unref();
  secure.once("close", () => clearTimeout(timer));
  secure.once("readable", () => {
    clearTimeout(timer);
    if (secure.destroyed) return;
    const first: Buffer | null = secure.read();
    // "readable" with nothing to read is the end of a stream that sent nothing.
    if (!first) {
      secure.destroy();
      return;
    }
    secure.unshift(first);
    then();
  });
}
