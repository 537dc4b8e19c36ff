import { defineConfig } from "vitest/config";

// The SPIFFE suite: meshsign's bundle endpoint and SVIDs checked by go-spiffe,
// through the client test/spiffe/setup.sh builds (`npm run test:spiffe`).
export default defineConfig({
  test: {
    root: new URL("../..", import.meta.url).pathname,
    include: ["test/spiffe/**/*.go-spiffe.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: "forks",
    fileParallelism: false,
    setupFiles: ["reflect-metadata"],
  },
});
