import type { Socket } from "node:net";
import { createServer as createTlsServer, type SecureContextOptions, type Server as TlsServer, type TLSSocket } from "node:tls";
import type { ServingTlsOptions } from "./serving-settings.js";

/** The serving identity handed to the TLS layer. */
export interface ServingKeyPair {
  /** PEM chain: serving leaf first, then intermediates. */
  readonly certificateChainPem: string;
  /** PEM private key (PKCS#8). Stays in memory; never logged. */
  readonly privateKeyPem: string;
}

/**
 * The TLS server side of the CreateCertificate port, whose certificate can be
 * replaced while serving: `update()` swaps the secure context that new
 * connections get, so renewals never need a restart and established
 * connections keep working.
 *
 * meshsign runs the handshake itself (rather than grpc-js's secure server) so
 * that it holds every TLS socket: a peer that finishes TLS and then says
 * nothing can be cut, which an HTTP/2 session's graceful idle close cannot do.
 *
 * TLS >= 1.2, ALPN h2 only, handshakes cut after a timeout. A client certificate is requested but optional
 * when `requestClientCertificate` is set; it is then verified by the
 * client-cert authenticator, not by the handshake, so a token-only caller is
 * never refused at the TLS layer.
 */
export class RotatingServerTls {
  /** Never listens: connections are handed to it, and it hands back their TLS sockets. */
  readonly #server: TlsServer;
  #clientCaPem: string | undefined;
  #pair: ServingKeyPair;

  constructor(
    initial: ServingKeyPair,
    private readonly options: {
      requestClientCertificate: boolean;
      clientCaPem?: string;
      /** Versions, suites and groups (--serving-tls-*); TLS >= 1.2 with Node's defaults when absent. */
      tls?: ServingTlsOptions;
      handshakeTimeoutMs: number;
      onSecure: (secure: TLSSocket) => void;
    },
  ) {
    this.#clientCaPem = options.clientCaPem;
    this.#pair = initial;
    this.#server = createTlsServer({
      ...contextOf(initial, this.#clientCaPem, options.requestClientCertificate, options.tls),
      ALPNProtocols: ["h2"],
      requestCert: options.requestClientCertificate,
      rejectUnauthorized: false,
      handshakeTimeout: options.handshakeTimeoutMs,
    });
    this.#server.on("secureConnection", (secure: TLSSocket) => {
      if (secure.alpnProtocol !== "h2") {
        secure.destroy();
        return;
      }
      secure.on("error", () => {});
      options.onSecure(secure);
    });
    // Failed and timed-out handshakes: the server has already destroyed the socket.
    this.#server.on("tlsClientError", () => {});
  }

  /** Replaces the serving certificate (and optionally the client CA bundle) for new connections. */
  update(pair: ServingKeyPair, clientCaPem?: string): void {
    if (clientCaPem !== undefined) this.#clientCaPem = clientCaPem;
    this.#pair = pair;
    this.#server.setSecureContext(
      contextOf(this.#pair, this.#clientCaPem, this.options.requestClientCertificate, this.options.tls),
    );
  }

  /** Runs the server handshake on `socket`; `onSecure` gets it once it has negotiated h2. */
  accept(socket: Socket): void {
    this.#server.emit("connection", socket);
  }
}

function contextOf(
  pair: ServingKeyPair,
  clientCaPem: string | undefined,
  requestClientCertificate: boolean,
  tls: ServingTlsOptions | undefined,
): SecureContextOptions {
  return {
    cert: pair.certificateChainPem,
    key: pair.privateKeyPem,
    minVersion: tls?.minVersion ?? "TLSv1.2",
    ...(tls?.ciphers !== undefined ? { ciphers: tls.ciphers } : {}),
    ...(tls?.ecdhCurve !== undefined ? { ecdhCurve: tls.ecdhCurve } : {}),
    ...(clientCaPem ? { ca: clientCaPem } : {}),
    // istio-csr disables resumption so peer verification runs on every connection.
    ...(requestClientCertificate ? { sessionTimeout: 0 } : {}),
  };
}
