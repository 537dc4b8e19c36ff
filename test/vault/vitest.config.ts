import { defineConfig } from "vitest/config";

// The Vault suite: a real Vault server built by test/vault/setup.sh. One fork,
// files in sequence: each file starts its own Vault.
export default defineConfig({
  test: {
    root: new URL("../..", import.meta.url).pathname,
    include: ["test/vault/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: "forks",
    fileParallelism: false,
    maxWorkers: 1,
    setupFiles: ["reflect-metadata"],
  },
});
