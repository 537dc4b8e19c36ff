import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import {
  type Authenticator,
  type Caller,
  ClientCertAuthenticator,
  checkClusterId,
} from "../../src/authn/index.js";
import { MeshsignError } from "../../src/errors/index.js";
import { generateKeySync, publicKeySpki } from "../../src/pki/keys.js";
import { signCertificate } from "../../src/pki/sign.js";
import { makeRoot, svidTemplate } from "../pki/helpers.js";
import { mustCsr } from "./lib/csr-stack.js";
import { fakeIssuer, handlerUnderTest, type Signed } from "./lib/handler.js";
import { allowZtunnel, identityOf, type Pod, podLookup, podOtherNode, podSameNode, ztunnelPod } from "./lib/node-auth.js";

/*
 * istio/istio security/pkg/server/ca/server_test.go, translated case by case:
 * meshsign's handler with its real authenticator chain and SVID policy around
 * a fake issuer (Istio's mockca.FakeCA). The fixtures' PEM strings are
 * upstream's (the handler passes them through, as istiod does).
 *
 * Istio's CA parses the CSR inside the CA, after authentication, so upstream
 * sends "dumb CSR". meshsign checks the CSR against the caller before signing,
 * so cases that reach the CA send a real CSR for the caller's identity, and
 * the identity "test-identity" is written as the SPIFFE ID
 * spiffe://cluster.local/ns/default/sa/test-identity.
 */

const UPSTREAM = "istio/istio security/pkg/server/ca/server_test.go";
const testCert = "-----BEGIN CERTIFICATE-----\nY2VydA==\n-----END CERTIFICATE-----\n";
const testIntermediateCert = "-----BEGIN CERTIFICATE-----\naW50ZXJtZWRpYXRlMQ==\n-----END CERTIFICATE-----\n";
const testIntermediateCert2 =
  "-----BEGIN CERTIFICATE-----\naW50ZXJtZWRpYXRlMg==\n-----END CERTIFICATE-----\n";
const testCertChain = testIntermediateCert;
const testMultiCertChain = `${testIntermediateCert}\n${testIntermediateCert2}`;
const testRootCert = "-----BEGIN CERTIFICATE-----\ncm9vdF9jZXJ0\n-----END CERTIFICATE-----\n";
const TEST_IDENTITY = "spiffe://cluster.local/ns/default/sa/test-identity";
const LOCAL_CLUSTER = "fake";

/**
 * Istio's mockAuthenticator. Like meshsign's own token authenticators, it refuses a
 * clusterid naming another cluster than the local one ("fake", the first cluster upstream adds).
 */
function mockAuthenticator(options: {
  identities?: string[];
  kubernetes?: Caller["kubernetes"];
  errMsg?: string;
}): Authenticator {
  return {
    name: "mock",
    authenticate: async (input) => {
      checkClusterId(input, LOCAL_CLUSTER);
      if (options.errMsg) throw new MeshsignError("ERR_UNAUTHENTICATED", options.errMsg);
      return {
        identities: options.identities ?? [],
        source: "jwks",
        ...(options.kubernetes ? { kubernetes: options.kubernetes } : {}),
      };
    },
  };
}

describe(`${UPSTREAM} TestCreateCertificate`, () => {
  const authenticated = () => [mockAuthenticator({ identities: [TEST_IDENTITY] })];
  const cases: {
    name: string;
    authenticators: () => Authenticator[];
    sign: () => string[] | Error;
    code: number;
    certChain?: string[];
  }[] = [
    {
      name: "No authenticator",
      authenticators: () => [],
      sign: () => [testCert],
      code: status.UNAUTHENTICATED,
    },
    {
      name: "Unauthenticated request",
      authenticators: () => [mockAuthenticator({ errMsg: "Not authorized" })],
      sign: () => [testCert],
      code: status.UNAUTHENTICATED,
    },
    {
      name: "CA not ready",
      authenticators: authenticated,
      sign: () => new MeshsignError("ERR_ISSUER_NOT_READY", "cannot sign"),
      code: status.INTERNAL,
    },
    {
      name: "Invalid CSR",
      authenticators: authenticated,
      sign: () => new MeshsignError("ERR_CSR_DER", "cannot sign"),
      code: status.INVALID_ARGUMENT,
    },
    {
      name: "Invalid TTL",
      authenticators: authenticated,
      sign: () => new MeshsignError("ERR_DURATION_INVALID", "cannot sign"),
      code: status.INVALID_ARGUMENT,
    },
    {
      name: "Failed to sign",
      authenticators: authenticated,
      sign: () => new MeshsignError("ERR_SIGNING_FAILED", "cannot sign"),
      code: status.INTERNAL,
    },
    {
      name: "Successful signing",
      authenticators: authenticated,
      sign: () => [testCert, testCertChain],
      code: status.OK,
      certChain: [testCert, testCertChain, testRootCert],
    },
    {
      // The response has one certificate per element: ztunnel parses each middle element as exactly one.
      name: "Successful signing w/ multi-cert chain",
      authenticators: authenticated,
      sign: () => [testCert, testMultiCertChain],
      code: status.OK,
      certChain: [testCert, testIntermediateCert, testIntermediateCert2, testRootCert],
    },
  ];

  it.each(cases)("$name", async ({ authenticators, sign, code, certChain }) => {
    const seen: Signed[] = [];
    const call = handlerUnderTest({
      authenticators: authenticators(),
      issuer: fakeIssuer(sign, seen),
      roots: testRootCert,
    });
    const outcome = await call({ csr: mustCsr({ uris: [TEST_IDENTITY] }) });
    expect(outcome.ok ? status.OK : (outcome as { code: number }).code).toBe(code);
    if (certChain) expect(outcome).toEqual({ ok: true, chain: certChain });
  });

  it("Invalid CSR, as meshsign meets it first: an undecodable CSR is INVALID_ARGUMENT before any signing", async () => {
    const seen: Signed[] = [];
    const call = handlerUnderTest({
      authenticators: [mockAuthenticator({ identities: [TEST_IDENTITY] })],
      issuer: fakeIssuer(() => [testCert], seen),
      roots: testRootCert,
    });
    expect(await call({ csr: "dumb CSR" })).toMatchObject({ ok: false, code: status.INVALID_ARGUMENT });
    expect(seen).toEqual([]);
  });
});

describe(`${UPSTREAM} TestCreateCertificateE2EUsingClientCertAuthenticator`, () => {
  const root = makeRoot({ type: "ec", curve: "P-256" }, "client-cert-root");
  // A certificate without SAN needs a subject name (RFC 5280 §4.2.1.6).
  const cert = (uris: string[]) =>
    signCertificate(
      {
        ...svidTemplate(publicKeySpki(generateKeySync({ type: "ec", curve: "P-256" })), ""),
        uris,
        ...(uris.length === 0 ? { subject: [[{ type: "2.5.4.3", value: "no-san" }]] } : {}),
      },
      root.signer,
    );

  async function run(peer: Uint8Array[] | undefined, csrIdentity: string) {
    const call = handlerUnderTest({
      authenticators: [new ClientCertAuthenticator({ trustDomain: "cluster.local" })],
      issuer: fakeIssuer(() => [testCert, testCertChain], []),
      roots: testRootCert,
      ...(peer ? { peerCertificates: peer } : {}),
    });
    return call({ csr: mustCsr({ uris: [csrIdentity] }) });
  }

  it.each([
    { name: "No client certificate", peer: undefined },
    // meshsign sees no certificate from a non-TLS peer: the same case as no certificate.
    { name: "Unsupported auth type", peer: undefined },
    { name: "Empty cert chain", peer: [] },
    { name: "Certificate has no SAN", peer: "no-san" as const },
  ])("$name", async ({ peer }) => {
    const chain = peer === "no-san" ? [cert([])] : peer;
    expect(await run(chain, TEST_IDENTITY)).toMatchObject({ ok: false, code: status.UNAUTHENTICATED });
  });

  it("With client certificate (an Istio workload SVID)", async () => {
    expect(await run([cert([TEST_IDENTITY])], TEST_IDENTITY)).toEqual({
      ok: true,
      chain: [testCert, testCertChain, testRootCert],
    });
  });

  // Upstream's certificate carries the URI "test.identity" and istiod signs. Deliberate: meshsign renews over
  // mTLS only for workload SVIDs of its trust domain (spiffe://<td>/ns/<ns>/sa/<sa>).
  it("With client certificate (upstream's URI test.identity): refused, not a workload SVID", async () => {
    expect(await run([cert(["test.identity"])], TEST_IDENTITY)).toMatchObject({
      ok: false,
      code: status.UNAUTHENTICATED,
    });
  });
});

describe(`${UPSTREAM} TestCreateCertificateE2EWithImpersonateIdentity`, () => {
  const ztunnelCaller = {
    namespace: "istio-system",
    serviceAccount: "ztunnel",
    podName: "ztunnel-a",
    podUid: "12345",
  };
  const ztunnelCallerRemote = { ...ztunnelCaller, podName: "ztunnel-b", podUid: "12346" };
  const podSameNodeRemote: Pod = {
    name: "pod-c",
    namespace: "ns-a",
    account: "sa-a",
    uid: "3",
    node: "zt-node-remote",
  };

  const cases: {
    name: string;
    caller: Caller["kubernetes"];
    pods: Pod[];
    impersonate: Pod;
    clusterId: string;
    trusted: string[];
    code: number;
  }[] = [
    {
      name: "No node authorizer",
      caller: ztunnelCaller,
      pods: [],
      impersonate: podSameNode,
      clusterId: "",
      trusted: [],
      code: status.UNAUTHENTICATED,
    },
    {
      name: "Pod not passing node authorization",
      caller: ztunnelCaller,
      pods: [ztunnelPod, podOtherNode],
      impersonate: podOtherNode,
      clusterId: "fake",
      trusted: allowZtunnel,
      code: status.UNAUTHENTICATED,
    },
    {
      name: "Successful signing with impersonate identity",
      caller: ztunnelCaller,
      pods: [ztunnelPod, podSameNode],
      impersonate: podSameNode,
      clusterId: "fake",
      trusted: allowZtunnel,
      code: status.OK,
    },
    {
      name: "Pod not passing node authorization because of ztunnel from other clusters",
      caller: ztunnelCaller,
      pods: [ztunnelPod],
      impersonate: podSameNodeRemote,
      clusterId: "fake",
      trusted: allowZtunnel,
      code: status.UNAUTHENTICATED,
    },
    {
      // Upstream: OK (istiod reads the remote cluster's pods). Deliberate: meshsign serves one cluster.
      name: "Successful signing with impersonate identity from remote cluster (meshsign: refused, one cluster only)",
      caller: ztunnelCallerRemote,
      pods: [ztunnelPod, podSameNode],
      impersonate: podSameNodeRemote,
      clusterId: "fake-remote",
      trusted: allowZtunnel,
      code: status.UNAUTHENTICATED,
    },
  ];

  it.each(cases)("$name", async ({ caller, pods, impersonate, clusterId, trusted, code }) => {
    const seen: Signed[] = [];
    const call = handlerUnderTest({
      authenticators: [mockAuthenticator({ identities: [TEST_IDENTITY], kubernetes: caller })],
      issuer: fakeIssuer(() => [testCert, testCertChain], seen),
      roots: testRootCert,
      policy: { trustedNodeAccounts: trusted },
      pods: podLookup(pods),
    });
    const outcome = await call(
      {
        csr: mustCsr({ uris: [identityOf(impersonate)] }),
        metadata: { ImpersonatedIdentity: identityOf(impersonate) },
      },
      clusterId ? [["clusterid", clusterId]] : [],
    );
    expect(outcome.ok ? status.OK : (outcome as { code: number }).code).toBe(code);
    if (code === status.OK) {
      expect(outcome).toEqual({ ok: true, chain: [testCert, testCertChain, testRootCert] });
      expect(seen.map((s) => s.identity)).toEqual([identityOf(impersonate)]);
    } else {
      expect(seen).toEqual([]);
    }
  });
});
