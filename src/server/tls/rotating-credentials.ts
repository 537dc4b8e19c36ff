import type { SecureContextOptions } from "node:tls";
import { ServerCredentials } from "@grpc/grpc-js";

/** The serving identity handed to the TLS layer. */
export interface ServingKeyPair {
  /** PEM chain: serving leaf first, then intermediates. */
  readonly certificateChainPem: string;
  /** PEM private key (PKCS#8). Stays in memory; never logged. */
  readonly privateKeyPem: string;
}

/**
 * grpc-js server credentials whose certificate can be replaced while serving:
 * `update()` pushes a new secure context to every bound listener
 * (grpc-js calls `setSecureContext` on its HTTP/2 servers), so renewals never
 * need a restart and established connections keep working.
 *
 * TLS >= 1.2, ALPN h2 (grpc-js' HTTP/2 server). A client certificate is
 * requested but optional when `requestClientCertificate` is set; it is then
 * verified by the client-cert authenticator, not by the handshake, so a
 * token-only caller is never refused at the TLS layer.
 */
export class RotatingServerCredentials extends ServerCredentials {
  constructor(initial: ServingKeyPair, options: { requestClientCertificate: boolean; clientCaPem?: string }) {
    super(
      {
        minVersion: "TLSv1.2",
        requestCert: options.requestClientCertificate,
        rejectUnauthorized: false,
        // istio-csr disables tickets so peer verification runs on every connection.
        ...(options.requestClientCertificate ? { sessionTimeout: 0 } : {}),
      },
      contextOf(initial, options.clientCaPem),
    );
    this.clientCaPem = options.clientCaPem;
  }

  private clientCaPem: string | undefined;

  /** Replaces the serving certificate (and optionally the client CA bundle). */
  update(pair: ServingKeyPair, clientCaPem?: string): void {
    if (clientCaPem !== undefined) this.clientCaPem = clientCaPem;
    this.updateSecureContextOptions(contextOf(pair, this.clientCaPem));
  }

  override _equals(other: ServerCredentials): boolean {
    return other === this;
  }
}

function contextOf(pair: ServingKeyPair, clientCaPem: string | undefined): SecureContextOptions {
  return {
    cert: pair.certificateChainPem,
    key: pair.privateKeyPem,
    minVersion: "TLSv1.2",
    ...(clientCaPem ? { ca: clientCaPem } : {}),
  };
}
