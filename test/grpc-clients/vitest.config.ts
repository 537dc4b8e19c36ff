import { defineConfig } from "vitest/config";

// The grpc-clients suite: Istio's CA client (Go) and Python's grpcio, installed by
// test/grpc-clients/setup.sh, against a real `meshsign serve` with each gRPC server.
export default defineConfig({
  test: {
    root: new URL("../..", import.meta.url).pathname,
    include: ["test/grpc-clients/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    pool: "forks",
    fileParallelism: false,
    maxWorkers: 1,
    setupFiles: ["reflect-metadata"],
  },
});
