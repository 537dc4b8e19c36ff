/**
 * One mesh certificate whose only extended key usage is anyExtendedKeyUsage, read by the two
 * meshsign checks that look at a leaf's purposes. They disagree on purpose, because they stand in
 * for different consumers:
 *
 * - the client-certificate authenticator decides what istiod decides when a workload renews over
 *   mTLS: Go's crypto/tls verifies the client certificate with KeyUsages [ClientAuth], and Go's
 *   x509 lets ExtKeyUsageAny match any purpose. meshsign accepts it as istiod would;
 * - the usage check of issued certificates (src/pki/usages.ts, Vault's) decides whether Envoy can
 *   use the certificate for mTLS: BoringSSL, like OpenSSL, refuses a TLS client or server whose
 *   only purpose is anyExtendedKeyUsage, so handing it out would break the workload's traffic.
 *
 * The OpenSSL verdicts below are that reading, checked rather than assumed.
 */
import { describe, expect, it } from "vitest";
import { ClientCertAuthenticator } from "../../src/authn/index.js";
import { encodePem, parseCertificate, publicKeySpki, signCertificate } from "../../src/pki/index.js";
import { missingUsages } from "../../src/pki/usages.js";
import { openssl } from "../lib/openssl.js";
import { TempDir } from "../lib/temp-dir.js";
import { key, makeRoot, svidTemplate } from "../pki/helpers.js";

const ID = "spiffe://cluster.local/ns/foo/sa/bar";
const root = makeRoot({ type: "ec", curve: "P-256" });
const leafDer = signCertificate(
  {
    ...svidTemplate(publicKeySpki(key({ type: "ec", curve: "P-256" }, "any-eku")), ID),
    extKeyUsage: ["any"],
  },
  root.signer,
);

describe("a workload certificate whose only extended key usage is anyExtendedKeyUsage", () => {
  it("authenticates a CreateCertificate call, as Go's crypto/tls in istiod accepts it for client auth", async () => {
    const caller = await new ClientCertAuthenticator({ trustDomain: "cluster.local" }).authenticate({
      authorization: [],
      clusterId: [],
      peerCertificates: [leafDer],
    });
    expect(caller.identities).toEqual([ID]);
  });

  it("is refused as an issued mTLS certificate, as OpenSSL and BoringSSL (Envoy) refuse it for either side", () => {
    expect(
      missingUsages(parseCertificate(leafDer), { keyUsage: [], extKeyUsage: ["serverAuth", "clientAuth"] })
        ?.missing.extKeyUsage,
    ).toEqual(["serverAuth", "clientAuth"]);
    const tmp = new TempDir("meshsign-any-eku-");
    try {
      const roots = tmp.write("root.pem", root.pem);
      const leaf = tmp.write("leaf.pem", encodePem("CERTIFICATE", leafDer));
      for (const purpose of ["sslclient", "sslserver"]) {
        const r = openssl(["verify", "-purpose", purpose, "-CAfile", roots, leaf]);
        expect(r.status, r.output).not.toBe(0);
        expect(r.output).toContain("unsuitable certificate purpose");
      }
      // The same certificate without a purpose to check verifies: the refusal above is the EKU's.
      expect(openssl(["verify", "-CAfile", roots, leaf]).status).toBe(0);
    } finally {
      tmp.remove();
    }
  });
});
