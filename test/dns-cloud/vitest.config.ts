import { defineConfig } from "vitest/config";

// The dns-cloud suite: the Route53 provider against moto in server mode,
// installed by test/dns-cloud/setup.sh. One fork, files in sequence: each file
// starts its own moto.
export default defineConfig({
  test: {
    root: new URL("../..", import.meta.url).pathname,
    include: ["test/dns-cloud/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: "forks",
    fileParallelism: false,
    maxWorkers: 1,
    setupFiles: ["reflect-metadata"],
  },
});
