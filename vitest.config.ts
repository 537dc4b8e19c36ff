import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // The Kubernetes suite needs a real kube-apiserver and runs as `npm run test:kube`;
    // the go-spiffe checks need the client test/spiffe/setup.sh builds (`npm run test:spiffe`);
    // the ACME suite needs Pebble (built from Go modules) and runs as `npm run test:acme`;
    // the Vault suite needs a real Vault and runs as `npm run test:vault`;
    // the DNS suite needs Knot DNS (Debian package knot) and runs as `npm run test:dns`;
    // the Route53 tests need moto (from PyPI) and run as `npm run test:dns-cloud`;
    // the DNS-01 webhook suite needs a cert-manager webhook server, knot and kube-apiserver (`npm run test:dns-webhook`).
    exclude: ["test/kube/**", "test/spiffe/**/*.go-spiffe.test.ts", "test/acme/pebble/**", "test/vault/**", "test/dns/**", "test/dns-cloud/**", "test/dns-webhook/**", "node_modules/**"],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    pool: "forks",
    // @peculiar/x509 (tsyringe) needs the Reflect polyfill before it loads.
    setupFiles: ["reflect-metadata"],
  },
});
