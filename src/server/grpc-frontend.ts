import { Server } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { createCertificateHandler, type CsrServiceDeps } from "../csr-service/handler.js";
import { keepRepeatedCredentialHeaders } from "../csr-service/repeated-headers.js";
import { istioCertificateServiceDefinition } from "../csr-service/service-definition.js";
import { RotatingServerCredentials, type ServingKeyPair } from "./tls/rotating-credentials.js";

/**
 * Istio's CreateCertificate port: a grpc-js server over TLS with rotating
 * credentials. Runs in the main process or in each cluster worker (the
 * listening socket is then shared by the workers).
 */
export class GrpcFrontend {
  readonly #server: Server;
  readonly #credentials: RotatingServerCredentials;
  #serving = false;
  #port = 0;
  #pair: ServingKeyPair;

  constructor(
    deps: CsrServiceDeps,
    serving: ServingKeyPair,
    private readonly options: { address: string; requestClientCertificate: boolean; clientCaPem?: string; log: Logger },
  ) {
    this.#pair = serving;
    this.#server = new Server({
      // Istio agents hold one long-lived connection; keep them healthy but bounded.
      "grpc.max_receive_message_length": 1 << 20,
      "grpc.keepalive_time_ms": 120_000,
      "grpc.keepalive_timeout_ms": 20_000,
      "grpc.max_connection_idle_ms": 15 * 60_000,
      // channelz (grpc-js's introspection counters) is not served by meshsign; keeping it on costs
      // CPU on every call and socket.
      "grpc.enable_channelz": 0,
    });
    // Every `authorization` and `clusterid` value reaches the handler, as with grpc-go.
    keepRepeatedCredentialHeaders(this.#server);
    this.#server.addService(istioCertificateServiceDefinition, { CreateCertificate: createCertificateHandler(deps) });
    this.#credentials = new RotatingServerCredentials(serving, {
      requestClientCertificate: options.requestClientCertificate,
      ...(options.clientCaPem ? { clientCaPem: options.clientCaPem } : {}),
    });
  }

  /** Binds the listener; resolves with the bound port. */
  async start(): Promise<number> {
    this.#port = await new Promise<number>((resolve, reject) => {
      this.#server.bindAsync(this.options.address, this.#credentials, (err, port) => (err ? reject(err) : resolve(port)));
    });
    this.#serving = true;
    return this.#port;
  }

  get serving(): boolean {
    return this.#serving;
  }

  updateServing(pair: ServingKeyPair, clientCaPem?: string): void {
    this.#pair = pair;
    this.#credentials.update(pair, clientCaPem);
  }

  /** New mesh roots: client certificates are then checked against them. */
  updateRoots(rootsPem: string): void {
    this.#credentials.update(this.#pair, rootsPem);
  }

  /** Stops accepting, lets in-flight calls finish within `graceMs`, then cuts the rest. */
  async shutdown(graceMs: number): Promise<void> {
    this.#serving = false;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.options.log.warn({ graceMs }, "grace period over; cancelling remaining calls");
        this.#server.forceShutdown();
        resolve();
      }, graceMs);
      timer.unref();
      this.#server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
