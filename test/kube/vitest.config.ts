import { defineConfig } from "vitest/config";

// The Kubernetes suite: real etcd + kube-apiserver built by test/kube/setup.sh.
// One fork, files in sequence: each file starts its own control plane, and two
// at once would starve a 2-core machine.
export default defineConfig({
  test: {
    root: new URL("../..", import.meta.url).pathname,
    include: ["test/kube/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    pool: "forks",
    fileParallelism: false,
    maxWorkers: 1,
  },
});
