import { create, type JsonObject } from "@bufbuild/protobuf";
import { credentials, Metadata, makeGenericClientConstructor, type ServiceError } from "@grpc/grpc-js";
import {
  type IstioCertificateResponse,
  IstioCertificateRequestSchema,
} from "../../src/gen/istio/v1/auth/ca_pb.js";
import { istioCertificateServiceDefinition } from "../../src/csr-service/service-definition.js";

const Client = makeGenericClientConstructor(istioCertificateServiceDefinition, "IstioCertificateService");

/** What a CreateCertificate call ended with; never throws, so tables can compare outcomes. */
export type CallOutcome = { ok: true; chain: string[] } | { ok: false; code: number; details: string };

export interface RawRequest {
  readonly csr: string;
  /** Sent as is (int64), so tests can send values a JS number cannot hold. */
  readonly validityDuration?: bigint;
  readonly metadata?: JsonObject;
  /** gRPC request headers, sent verbatim (e.g. ["authorization", "bearer x"]). */
  readonly headers?: readonly (readonly [string, string])[];
}

/**
 * A grpc-js client of CreateCertificate with full control of headers and
 * fields, for hostile requests that {@link IstioCaClient} (which behaves like
 * istio-agent) would never send. TLS is verified against the mesh roots.
 */
export class RawCaClient {
  readonly #client: InstanceType<typeof Client>;

  constructor(
    address: string,
    rootsPem: string,
    options: {
      clientCertificate?: { chainPem: string; keyPem: string };
      /** grpc-js channel options, e.g. `{ "grpc.use_local_subchannel_pool": 1 }` for a connection of its own. */
      channelOptions?: Record<string, unknown>;
    } = {},
  ) {
    const cert = options.clientCertificate;
    this.#client = new Client(
      address,
      credentials.createSsl(
        Buffer.from(rootsPem),
        cert ? Buffer.from(cert.keyPem) : null,
        cert ? Buffer.from(cert.chainPem) : null,
      ),
      options.channelOptions ?? {},
    );
  }

  call(request: RawRequest): Promise<CallOutcome> {
    const md = new Metadata();
    for (const [k, v] of request.headers ?? []) md.add(k, v);
    const message = create(IstioCertificateRequestSchema, {
      csr: request.csr,
      validityDuration: request.validityDuration ?? 0n,
      ...(request.metadata ? { metadata: request.metadata } : {}),
    });
    const method = this.#client.CreateCertificate as unknown as (
      m: unknown,
      md: Metadata,
      o: { deadline: number },
      cb: (err: ServiceError | null, response?: IstioCertificateResponse) => void,
    ) => void;
    return new Promise((resolve) => {
      method.call(this.#client, message, md, { deadline: Date.now() + 10_000 }, (err, response) =>
        resolve(
          err
            ? { ok: false, code: err.code, details: err.details }
            : { ok: true, chain: response?.certChain ?? [] },
        ),
      );
    });
  }

  close(): void {
    this.#client.close();
  }
}
