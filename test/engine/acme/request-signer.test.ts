import { constants, type KeyObject, sign } from "node:crypto";
import { describe, expect, it } from "vitest";
import { CERTIFICATE_REQUESTS, type CertificateRequest } from "../../../src/api/types.js";
import { AcmeRequestSigner } from "../../../src/engine/acme/request-signer.js";
import type { AcmeIssuer } from "../../../src/issuers/acme/index.js";
import { DerReader } from "../../../src/pki/der/reader.js";
import { bitString, explicit, oid, sequence, smallInteger } from "../../../src/pki/der/writer.js";
import { buildCsrDer } from "../../../src/pki/keys.js";
import type { CertificateTemplate } from "../../../src/pki/template.js";
import { MemoryStore } from "../../../src/store/memory/index.js";
import { keyPairSync } from "../../lib/key-pair.js";

/** A CSR for `dnsNames`, genuinely signed by `key` with RSASSA-PSS, SHA-256 and a `saltLength`-byte salt. */
function pssCsrPem(key: KeyObject, dnsNames: string[], saltLength: number): string {
  const outer = new DerReader(buildCsrDer(key, { dnsNames }), "ERR_CSR_DER").sequence("csr");
  const info = outer.raw(outer.next());
  const sha256 = sequence(oid("2.16.840.1.101.3.4.2.1"), new Uint8Array([5, 0]));
  const algorithm = sequence(
    oid("1.2.840.113549.1.1.10"),
    sequence(
      explicit(0, sha256),
      explicit(1, sequence(oid("1.2.840.113549.1.1.8"), sha256)),
      explicit(2, smallInteger(saltLength)),
    ),
  );
  const signature = sign("sha256", info, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength });
  const b64 = Buffer.from(sequence(info, algorithm, bitString(signature))).toString("base64");
  return `-----BEGIN CERTIFICATE REQUEST-----\n${b64.replace(/.{64}/g, "$&\n")}\n-----END CERTIFICATE REQUEST-----\n`;
}

describe("the ACME request signer", () => {
  it("fails a request whose CSR is signed with RSASSA-PSS parameters Go refuses, saying which, as CreateCertificate does", async () => {
    const store = new MemoryStore();
    const key = keyPairSync("rsa", { modulusLength: 2048 }).privateKey;
    const csrPem = pssCsrPem(key, ["shop.example.com"], 20);
    const cr: CertificateRequest = {
      apiVersion: "cert-manager.io/v1",
      kind: "CertificateRequest",
      metadata: { name: "shop-1", namespace: "apps" },
      spec: {
        request: Buffer.from(csrPem).toString("base64"),
        issuerRef: { name: "le", kind: "ClusterIssuer" },
      },
    };
    await store.create(CERTIFICATE_REQUESTS, cr);
    const signer = new AcmeRequestSigner({
      store,
      clock: { now: () => Date.now(), setTimer: () => ({ cancel: () => {} }) },
      events: { record: () => {} },
    });
    await expect(
      signer.sign({} as AcmeIssuer, {
        requestId: "apps/shop-1",
        csrPem,
        template: {} as CertificateTemplate,
      }),
    ).rejects.toMatchObject({
      code: "ERR_CSR_SIGNATURE",
      message: expect.stringMatching(
        /^The CSR in the CertificateRequest is refused: the CSR's signature algorithm is not accepted: RSASSA-PSS with sha256 and a 20-byte salt: only .* a salt as long as the hash/,
      ),
    });
  });
});
