import { defineConfig } from "vitest/config";

// The ACME suite: a real Pebble and pebble-challtestsrv built by test/acme/setup.sh.
// One fork, files in sequence: each file starts its own Pebble.
export default defineConfig({
  test: {
    root: new URL("../..", import.meta.url).pathname,
    include: ["test/acme/pebble/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    fileParallelism: false,
    maxWorkers: 1,
    // stall-report: a failed test says when Pebble itself stopped answering.
    setupFiles: ["reflect-metadata", "test/acme/stall-report.ts"],
  },
});
