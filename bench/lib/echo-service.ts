/**
 * The ceiling service: one unary method with empty messages and no
 * (de)serialization work, to measure what grpc-js over TLS costs by itself.
 */
import type { MethodDefinition, ServiceDefinition } from "@grpc/grpc-js";

const EMPTY = Buffer.alloc(0);

export const EMPTY_SERVICE = {
  Empty: {
    path: "/meshsign.bench.Echo/Empty",
    requestStream: false,
    responseStream: false,
    requestSerialize: () => EMPTY,
    requestDeserialize: () => EMPTY,
    responseSerialize: () => EMPTY,
    responseDeserialize: () => EMPTY,
  } satisfies MethodDefinition<Buffer, Buffer>,
} satisfies ServiceDefinition;
