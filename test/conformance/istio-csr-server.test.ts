import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { ClientCertAuthenticator } from "../../src/authn/index.js";
import { decodePemAll, splitPemBundle, svidResponseChain, verifyChain } from "../../src/pki/index.js";
import { generateKeySync, publicKeySpki } from "../../src/pki/keys.js";
import { encodePem } from "../../src/pki/pem.js";
import { signCertificate } from "../../src/pki/sign.js";
import { makeIntermediate, makeRoot, svidTemplate } from "../pki/helpers.js";
import { mockAuthn, mustCsr } from "./lib/csr-stack.js";
import { fakeIssuer, handlerUnderTest, type Signed } from "./lib/handler.js";

/*
 * cert-manager/istio-csr pkg/server/server_test.go, translated case by case.
 * istio-csr's Server.CreateCertificate is meshsign's handler with its real
 * authenticator chain and SVID policy around a fake signer (istio-csr's
 * cmfake); parseCertificateBundle is meshsign's chain verification and
 * response assembly (src/pki verifyChain, svidResponseChain).
 */

const UPSTREAM = "cert-manager/istio-csr pkg/server/server_test.go";
const SPIFFE_DOMAIN = "spiffe://foo";
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

const root = makeRoot({ type: "ec", curve: "P-256" }, "root-ca");
const leafKey = generateKeySync({ type: "ec", curve: "P-256" });
const leafCertPem = encodePem(
  "CERTIFICATE",
  signCertificate(svidTemplate(publicKeySpki(leafKey), SPIFFE_DOMAIN), root.signer),
);

describe(`${UPSTREAM} Test_CreateCertificate`, () => {
  const cases: {
    name: string;
    csrIdentities: string[];
    validityDuration?: bigint;
    maxDuration?: number;
    sign: () => string[] | Error;
    expCode: number;
    expChain?: string[];
    expDuration?: number;
  }[] = [
    {
      name: "if authn fails, should return Unauthenticated error code",
      csrIdentities: ["spiffe://bar"],
      sign: () => [leafCertPem],
      expCode: status.UNAUTHENTICATED,
    },
    {
      name: "if authn succeeds but sign fails, should return Internal error code",
      csrIdentities: [SPIFFE_DOMAIN],
      maxDuration: HOUR,
      sign: () => new Error("generic error"),
      expCode: status.INTERNAL,
    },
    {
      name: "if authn and sign succeeds, should sign certificate with given duration and respond",
      csrIdentities: [SPIFFE_DOMAIN],
      validityDuration: 60n * 30n,
      maxDuration: 2 * HOUR,
      sign: () => [leafCertPem],
      expCode: status.OK,
      expChain: [leafCertPem, root.pem],
      expDuration: 30 * MINUTE,
    },
    {
      name: "if authn and sign succeeds, should sign certificate with maximum duration and respond",
      csrIdentities: [SPIFFE_DOMAIN],
      validityDuration: 60n * 60n,
      maxDuration: HOUR / 2,
      sign: () => [leafCertPem],
      expCode: status.OK,
      expChain: [leafCertPem, root.pem],
      expDuration: HOUR / 2,
    },
  ];

  it.each(cases)(
    "$name",
    async ({ csrIdentities, validityDuration, maxDuration, sign, expCode, expChain, expDuration }) => {
      const seen: Signed[] = [];
      const call = handlerUnderTest({
        authenticators: [mockAuthn([SPIFFE_DOMAIN], "")],
        issuer: fakeIssuer(sign, seen),
        roots: root.pem,
        policy: maxDuration === undefined ? {} : { maxDurationMs: maxDuration },
      });
      const outcome = await call({
        csr: mustCsr({ uris: csrIdentities }),
        ...(validityDuration === undefined ? {} : { validityDuration }),
      });
      expect(outcome.ok ? status.OK : (outcome as { code: number }).code).toBe(expCode);
      if (expChain) expect(outcome).toEqual({ ok: true, chain: expChain });
      // What the signer was asked for: the caller's identity, and the requested duration clamped to the maximum.
      for (const s of seen) expect(s.identity).toBe(SPIFFE_DOMAIN);
      if (expDuration !== undefined) expect(seen.map((s) => s.durationMs)).toEqual([expDuration]);
    },
  );
});

describe(`${UPSTREAM} Test_CreateCertificateE2EUsingClientCertAuthenticator`, () => {
  // meshsign's client-cert authenticator takes workload SVIDs of its trust domain in Istio's
  // spiffe://<td>/ns/<ns>/sa/<sa> form only, so upstream's spiffe://foo becomes this identity.
  const WORKLOAD = "spiffe://cluster.local/ns/foo/sa/foo";
  const clientCert = (uri: string) =>
    signCertificate(
      svidTemplate(publicKeySpki(generateKeySync({ type: "ec", curve: "P-256" })), uri),
      root.signer,
    );

  async function run(peer: Uint8Array[] | undefined, csrIdentity: string) {
    const seen: Signed[] = [];
    const call = handlerUnderTest({
      authenticators: [new ClientCertAuthenticator({ trustDomain: "cluster.local" })],
      issuer: fakeIssuer(() => [leafCertPem], seen),
      roots: root.pem,
      policy: { maxDurationMs: HOUR / 2 },
      ...(peer ? { peerCertificates: peer } : {}),
    });
    const outcome = await call({ csr: mustCsr({ uris: [csrIdentity] }), validityDuration: 3600n });
    return { outcome, seen };
  }

  it("no client cert", async () => {
    const { outcome } = await run(undefined, WORKLOAD);
    expect(outcome).toMatchObject({ ok: false, code: status.UNAUTHENTICATED });
  });

  it("invalid identity", async () => {
    const { outcome } = await run([clientCert("spiffe://cluster.local/ns/bar/sa/bar")], WORKLOAD);
    expect(outcome).toMatchObject({ ok: false, code: status.UNAUTHENTICATED });
  });

  it("if cert provides valid identities, should sign and respond", async () => {
    const { outcome, seen } = await run([clientCert(WORKLOAD)], WORKLOAD);
    expect(outcome).toEqual({ ok: true, chain: [leafCertPem, root.pem] });
    expect(seen).toEqual([{ identity: WORKLOAD, durationMs: HOUR / 2 }]);
  });

  // Upstream signs for a client certificate whose URI SAN is spiffe://foo. Deliberate: meshsign renews over
  // mTLS only for workload SVIDs of its own trust domain (Istio's form), never for an arbitrary URI.
  it("if cert provides valid identities (upstream's spiffe://foo): refused, not a workload SVID of the trust domain", async () => {
    const { outcome } = await run([clientCert(SPIFFE_DOMAIN)], SPIFFE_DOMAIN);
    expect(outcome).toMatchObject({ ok: false, code: status.UNAUTHENTICATED });
    if (!outcome.ok) expect(outcome.details).toMatch(/spiffe:\/\/<trust-domain>\/ns\/<ns>\/sa\/<sa>/);
  });
});

describe(`${UPSTREAM} Test_parseCertificateBundle`, () => {
  const spec = { type: "ec", curve: "P-256" } as const;
  const root1 = makeRoot(spec, "root", "bundle-root");
  const root2 = makeRoot(spec, "root2", "bundle-root2");
  const root3 = makeRoot(spec, "root3", "bundle-root3");
  const int1A = makeIntermediate(root1, spec, "intA-1");
  const int1B = makeIntermediate(int1A, spec, "intA-2");
  const int2A = makeIntermediate(root2, spec, "intB-1");
  const leaf = encodePem(
    "CERTIFICATE",
    signCertificate(svidTemplate(publicKeySpki(leafKey), "spiffe://cluster.local/ns/a/sa/b"), int1B.signer),
  );

  /** parseCertificateBundle: the issuer's PEM bundle checked against the current roots, then the response chain. */
  function parseCertificateBundle(bundle: string, rootsPem: string): string[] {
    const [first, ...rest] = splitPemBundle(bundle);
    const der = (pem: string) => decodePemAll(pem, "CERTIFICATE")[0] as Uint8Array;
    verifyChain(der(first ?? ""), rest.map(der), decodePemAll(rootsPem, "CERTIFICATE"), { at: new Date() });
    return svidResponseChain(first ?? "", rest, rootsPem);
  }

  it.each([
    { name: "if chain contains garbage data, return error", bundle: "bad-cert", roots: "" },
    {
      name: "if chain is not a single chain then error",
      bundle: leaf + int2A.pem,
      roots: root1.pem + root2.pem + root3.pem,
    },
    {
      name: "if chain does not originate from a current root, error",
      bundle: leaf + int1B.pem + int1A.pem,
      roots: root2.pem + root3.pem,
    },
  ])("$name", ({ bundle, roots }) => {
    expect(() => parseCertificateBundle(bundle, roots)).toThrow();
  });

  it("if chain originates from the root, return single chain", () => {
    expect(parseCertificateBundle(leaf + int1B.pem + int1A.pem, root1.pem)).toEqual([
      leaf,
      int1B.pem,
      int1A.pem,
      root1.pem,
    ]);
  });

  it("if chain originates from the root, return chain with all roots", () => {
    expect(parseCertificateBundle(leaf + int1B.pem + int1A.pem, root1.pem + root2.pem + root3.pem)).toEqual([
      leaf,
      int1B.pem,
      int1A.pem,
      root1.pem + root2.pem + root3.pem,
    ]);
  });
});
