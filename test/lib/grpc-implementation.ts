import {
  DEFAULT_GRPC_IMPLEMENTATION,
  GRPC_IMPLEMENTATIONS,
  type GrpcImplementation,
} from "../../src/server/config.js";

/**
 * The gRPC server the CreateCertificate tests run against: meshsign's default
 * unless MESHSIGN_TEST_GRPC_IMPLEMENTATION names another. The root vitest
 * config runs the CreateCertificate tests once per implementation (its
 * `grpc-js` project sets it).
 */
export function testGrpcImplementation(): GrpcImplementation {
  const v = process.env.MESHSIGN_TEST_GRPC_IMPLEMENTATION;
  if (v === undefined || v === "") return DEFAULT_GRPC_IMPLEMENTATION;
  if (!(GRPC_IMPLEMENTATIONS as readonly string[]).includes(v)) {
    throw new Error(
      `MESHSIGN_TEST_GRPC_IMPLEMENTATION=${v}: must be one of ${GRPC_IMPLEMENTATIONS.join(", ")}`,
    );
  }
  return v as GrpcImplementation;
}
