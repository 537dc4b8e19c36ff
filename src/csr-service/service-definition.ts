import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { ServiceDefinition, MethodDefinition } from "@grpc/grpc-js";
import {
  type IstioCertificateRequest,
  IstioCertificateRequestSchema,
  type IstioCertificateResponse,
  IstioCertificateResponseSchema,
} from "../gen/istio/v1/auth/ca_pb.js";

/** Full method path istio-agent and ztunnel call. */
export const CREATE_CERTIFICATE_PATH = "/istio.v1.auth.IstioCertificateService/CreateCertificate";

/**
 * grpc-js service definition of Istio's certificate service, with the
 * protobuf-es generated messages as (de)serializers. Used by the server and
 * by every grpc-js client (CLI, tests, load generator).
 */
export const istioCertificateServiceDefinition = {
  CreateCertificate: {
    path: CREATE_CERTIFICATE_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: (m: IstioCertificateRequest) => Buffer.from(toBinary(IstioCertificateRequestSchema, m)),
    requestDeserialize: (b: Buffer) => fromBinary(IstioCertificateRequestSchema, b),
    responseSerialize: (m: IstioCertificateResponse) => Buffer.from(toBinary(IstioCertificateResponseSchema, m)),
    responseDeserialize: (b: Buffer) => fromBinary(IstioCertificateResponseSchema, b),
  } satisfies MethodDefinition<IstioCertificateRequest, IstioCertificateResponse>,
} satisfies ServiceDefinition;

export function createResponse(certChain: string[]): IstioCertificateResponse {
  return create(IstioCertificateResponseSchema, { certChain });
}
