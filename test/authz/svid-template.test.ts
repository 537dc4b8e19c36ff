import { createPublicKey, X509Certificate } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { authorizeCsr, buildSvidTemplate, DEFAULT_CSR_POLICY } from "../../src/authz/index.js";
import {
  buildCsr,
  computeValidity,
  encodePem,
  parseCertificate,
  parseCsr,
  signCertificate,
  svidResponseChain,
  verifyChain,
} from "../../src/pki/index.js";
import { KEY_SPECS, key, makeIntermediate, makeRoot, openssl, TempDir } from "../pki/helpers.js";

const ID = "spiffe://cluster.local/ns/default/sa/sleep";
const tmp = new TempDir();
afterAll(() => tmp.remove());

describe("buildSvidTemplate: the X.509-SVID leaf, end to end", () => {
  const root = makeRoot({ type: "ec", curve: "P-256" }, "svid root");
  const int = makeIntermediate(root, { type: "ec", curve: "P-256" }, "svid intermediate");

  for (const k of KEY_SPECS) {
    it(`a ${k.name} CSR that passes authorization yields a leaf that is a valid X.509-SVID and verifies with openssl and node`, () => {
      const csr = parseCsr(buildCsr(key(k.spec, "workload"), { uris: [ID] }));
      authorizeCsr({
        csr,
        expectedIdentity: ID,
        policy: {
          ...DEFAULT_CSR_POLICY,
          keys: { ...DEFAULT_CSR_POLICY.keys, ecCurves: ["P-256", "P-384", "P-521"] },
        },
      });
      const now = new Date();
      const validity = computeValidity(3600, now, int.signer.notAfter);
      const der = signCertificate(buildSvidTemplate(ID, csr.publicKeySpki, validity), int.signer);
      const leaf = parseCertificate(der);

      // SPIFFE X509-SVID.md §2-§5 on the leaf.
      expect(leaf.uris).toEqual([ID]);
      expect(leaf.dnsNames.length + leaf.ipAddresses.length + leaf.emailAddresses.length).toBe(0);
      expect(leaf.subject).toEqual([]);
      expect(leaf.extensions.find((e) => e.oid === "2.5.29.17")?.critical).toBe(true);
      expect(leaf.basicConstraints).toEqual({ isCA: false });
      expect(leaf.extensions.find((e) => e.oid === "2.5.29.15")?.critical).toBe(true);
      expect(leaf.keyUsage).toEqual(
        k.spec.type === "rsa" ? ["digitalSignature", "keyEncipherment"] : ["digitalSignature"],
      );
      expect(leaf.extKeyUsage).toEqual(["serverAuth", "clientAuth"]);
      expect(leaf.notBefore.getTime()).toBe(Math.floor((now.getTime() - 120_000) / 1000) * 1000);
      expect(leaf.notAfter.getTime()).toBe(Math.floor((now.getTime() + 3600_000) / 1000) * 1000);
      expect(Buffer.from(leaf.publicKeySpki)).toEqual(Buffer.from(csr.publicKeySpki));

      const chain = svidResponseChain(encodePem("CERTIFICATE", der), [int.pem], root.pem);
      expect(chain).toHaveLength(3);
      expect(
        verifyChain(der, [int.der], [root.der], { at: now, extKeyUsage: ["serverAuth", "clientAuth"] }),
      ).toHaveLength(3);
      const rootFile = tmp.write("root.pem", chain[2] as string);
      const intFile = tmp.write("int.pem", chain[1] as string);
      const leafFile = tmp.write(`leaf-${k.name}.pem`, chain[0] as string);
      for (const purpose of ["sslclient", "sslserver"]) {
        expect(
          openssl([
            "verify",
            "-purpose",
            purpose,
            "-CAfile",
            rootFile,
            "-untrusted",
            intFile,
            leafFile,
          ]).trim(),
        ).toBe(`${leafFile}: OK`);
      }
      const node = new X509Certificate(chain[0] as string);
      expect(node.verify(createPublicKey(int.key))).toBe(true);
      expect(node.ca).toBe(false);
    });
  }

  it("the leaf's notAfter is cut to the CA's notAfter when the CA expires first", () => {
    const csr = parseCsr(buildCsr(key({ type: "ec", curve: "P-256" }, "workload"), { uris: [ID] }));
    const now = new Date();
    const caEnd = new Date(now.getTime() + 30 * 60_000);
    const v = computeValidity(86400, now, caEnd);
    const leaf = parseCertificate(signCertificate(buildSvidTemplate(ID, csr.publicKeySpki, v), int.signer));
    expect(leaf.notAfter.getTime()).toBe(Math.floor(caEnd.getTime() / 1000) * 1000);
  });
});
