import { defineConfig } from "vitest/config";

// The DNS suite: a real Knot DNS server (Debian package knot, installed by
// test/dns/setup.sh); each file starts its own knotd on a free loopback port.
export default defineConfig({
  test: {
    root: new URL("../..", import.meta.url).pathname,
    include: ["test/dns/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 90_000,
    pool: "forks",
    fileParallelism: false,
    maxWorkers: 1,
    setupFiles: ["reflect-metadata"],
  },
});
