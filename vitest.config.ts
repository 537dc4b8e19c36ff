import { defineConfig } from "vitest/config";

/**
 * The tests that call CreateCertificate on a real server (in process or `meshsign serve`): run once
 * per gRPC server of the port: meshsign's own unary server on node:http2 (the default, with every
 * other test) and grpc-js's (`--grpc-implementation grpc-js`, test/lib/grpc-implementation.ts).
 */
const CREATE_CERTIFICATE_TESTS = [
  "test/csr-service/create-certificate.test.ts",
  "test/csr-service/repeated-headers.test.ts",
  "test/csr-service/request-decoding.test.ts",
  "test/server/admission.test.ts",
  "test/server/grpc-frontend.test.ts",
  "test/server/grpc-limits.test.ts",
  "test/server/issuance-log.test.ts",
  "test/e2e/quickstart.test.ts",
];

export default defineConfig({
  test: {
    // The Kubernetes suite needs a real kube-apiserver and runs as `npm run test:kube`;
    // the go-spiffe checks need the client test/spiffe/setup.sh builds (`npm run test:spiffe`);
    // the ACME suite needs Pebble (built from Go modules) and runs as `npm run test:acme`;
    // the Vault suite needs a real Vault and runs as `npm run test:vault`;
    // the DNS suite needs Knot DNS (Debian package knot) and runs as `npm run test:dns`;
    // the Route53 tests need moto (from PyPI) and run as `npm run test:dns-cloud`;
    // the DNS-01 webhook suite needs a cert-manager webhook server, knot and kube-apiserver (`npm run test:dns-webhook`);
    // the gRPC clients suite needs Istio's CA client and Python's grpcio (`npm run test:grpc-clients`).
    exclude: ["test/kube/**", "test/spiffe/**/*.go-spiffe.test.ts", "test/acme/pebble/**", "test/vault/**", "test/dns/**", "test/dns-cloud/**", "test/dns-webhook/**", "test/grpc-clients/**", "node_modules/**"],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    pool: "forks",
    // @peculiar/x509 (tsyringe) needs the Reflect polyfill before it loads.
    setupFiles: ["reflect-metadata"],
    // Each project names its own files (a project's `include` would add to an inherited one).
    projects: [
      { extends: true, test: { name: "h2", include: ["test/**/*.test.ts"] } },
      {
        extends: true,
        test: { name: "grpc-js", include: CREATE_CERTIFICATE_TESTS, env: { MESHSIGN_TEST_GRPC_IMPLEMENTATION: "grpc-js" } },
      },
    ],
  },
});
