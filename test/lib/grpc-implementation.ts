import { GRPC_IMPLEMENTATIONS, type GrpcImplementation } from "../../src/server/config.js";

/**
 * The gRPC server the CreateCertificate tests run against: grpc-js unless
 * MESHSIGN_TEST_GRPC_IMPLEMENTATION names another. The root vitest config runs
 * the CreateCertificate tests once per implementation (its `h2` project sets it).
 */
export function testGrpcImplementation(): GrpcImplementation {
  const v = process.env.MESHSIGN_TEST_GRPC_IMPLEMENTATION;
  if (v === undefined || v === "") return "grpc-js";
  if (!(GRPC_IMPLEMENTATIONS as readonly string[]).includes(v)) {
    throw new Error(
      `MESHSIGN_TEST_GRPC_IMPLEMENTATION=${v}: must be one of ${GRPC_IMPLEMENTATIONS.join(", ")}`,
    );
  }
  return v as GrpcImplementation;
}
