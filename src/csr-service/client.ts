import { credentials, Metadata, makeGenericClientConstructor, type ServiceError } from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import type { JsonObject } from "@bufbuild/protobuf";
import { IstioCertificateRequestSchema, type IstioCertificateResponse } from "../gen/istio/v1/auth/ca_pb.js";
import { istioCertificateServiceDefinition } from "./service-definition.js";

const IstioClient = makeGenericClientConstructor(istioCertificateServiceDefinition, "IstioCertificateService");

export interface IstioCaClientOptions {
  /** host:port of meshsign's CreateCertificate listener. */
  readonly address: string;
  /** PEM roots to verify the server with (istio-agent uses the istio-ca-root-cert ConfigMap). */
  readonly rootsPem: string;
  /** TLS server name; istio-agent uses the host of CA_ADDR. */
  readonly serverName?: string;
  /** PEM client certificate chain + key for mTLS renewals. */
  readonly clientCertificate?: { readonly chainPem: string; readonly keyPem: string };
}

/**
 * A grpc-js client of Istio's CreateCertificate that behaves like istio-agent:
 * TLS verified against the mesh roots, `authorization: Bearer <token>` and
 * `clusterid` metadata. Used by the CLI, the tests and the load generator.
 */
export class IstioCaClient {
  readonly #client: InstanceType<typeof IstioClient>;

  constructor(options: IstioCaClientOptions, channelOptions: Record<string, unknown> = {}) {
    const creds = credentials.createSsl(
      Buffer.from(options.rootsPem),
      options.clientCertificate ? Buffer.from(options.clientCertificate.keyPem) : null,
      options.clientCertificate ? Buffer.from(options.clientCertificate.chainPem) : null,
    );
    const serverName = options.serverName ?? options.address.replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
    this.#client = new IstioClient(options.address, creds, {
      "grpc.ssl_target_name_override": serverName,
      "grpc.default_authority": serverName,
      ...channelOptions,
    });
  }

  createCertificate(request: {
    csr: string;
    validityDurationSeconds?: number;
    token?: string;
    clusterId?: string;
    metadata?: JsonObject;
    deadlineMs?: number;
  }): Promise<string[]> {
    const md = new Metadata();
    if (request.token) md.set("authorization", `Bearer ${request.token}`);
    if (request.clusterId !== undefined) md.set("clusterid", request.clusterId);
    const message = create(IstioCertificateRequestSchema, {
      csr: request.csr,
      validityDuration: BigInt(request.validityDurationSeconds ?? 0),
      metadata: request.metadata ?? { CertSigner: "" },
    });
    return new Promise((resolve, reject) => {
      const call = this.#client.CreateCertificate as unknown as (
        m: unknown,
        md: Metadata,
        o: { deadline: number },
        cb: (err: ServiceError | null, response?: IstioCertificateResponse) => void,
      ) => void;
      call.call(
        this.#client,
        message,
        md,
        { deadline: Date.now() + (request.deadlineMs ?? 10_000) },
        (err: ServiceError | null, response?: IstioCertificateResponse) => (err ? reject(err) : resolve(response?.certChain ?? [])),
      );
    });
  }

  close(): void {
    this.#client.close();
  }
}
