import { defineConfig } from "vitest/config";

// The DNS-01 webhook suite: a cert-manager webhook server (built by test/dns-webhook/setup.sh),
// Knot DNS and the Kubernetes suite's kube-apiserver + etcd. One file at a time: it starts all
// three, and two sets at once would starve a 2-core machine.
export default defineConfig({
  test: {
    root: new URL("../..", import.meta.url).pathname,
    include: ["test/dns-webhook/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    pool: "forks",
    fileParallelism: false,
    maxWorkers: 1,
    setupFiles: ["reflect-metadata"],
  },
});
