import "reflect-metadata";
import { readFileSync } from "node:fs";
import * as x509 from "@peculiar/x509";
import { afterAll, describe, expect, it } from "vitest";
import { isMeshsignError } from "../../src/errors/index.js";
import { parseCertificate } from "../../src/pki/certificate.js";
import { privateKeyFromPem } from "../../src/pki/keys.js";
import { decodePemAll } from "../../src/pki/pem.js";
import { signerFromCertificate } from "../../src/pki/sign.js";
import { openssl, TempDir } from "./helpers.js";

const tmp = new TempDir();
afterAll(() => tmp.remove());
const CONFIG = tmp.write("x509.cnf", "[req]\ndistinguished_name=dn\nprompt=no\n[dn]\n");

/** A self-signed certificate made by `openssl req -x509`. Returns its DER and key file. */
function opensslCert(
  name: string,
  keyArgs: readonly string[],
  args: readonly string[],
): { der: Uint8Array; keyFile: string } {
  const keyFile = tmp.file(`${name}.key`);
  openssl(["genpkey", ...keyArgs, "-out", keyFile]);
  const out = tmp.file(`${name}.pem`);
  openssl(["req", "-x509", "-new", "-config", CONFIG, "-key", keyFile, "-out", out, "-days", "30", ...args]);
  return { der: decodePemAll(readFileSync(out, "utf8"), "CERTIFICATE")[0] as Uint8Array, keyFile };
}

describe("parseCertificate reads openssl certificates like @peculiar/x509 does", () => {
  const cases = [
    {
      name: "an ECDSA P-256 CA with pathlen and keyCertSign",
      key: ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
      args: [
        "-subj",
        "/C=DE/O=Example/CN=Example CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE,pathlen:1",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
      ],
    },
    {
      name: "an RSA 2048 server certificate with every SAN type",
      key: ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
      args: [
        "-subj",
        "/CN=server.example",
        "-addext",
        "subjectAltName=DNS:server.example,IP:192.0.2.1,IP:2001:db8::2,email:a@example.com,URI:spiffe://td/x",
        "-addext",
        "extendedKeyUsage=serverAuth",
        "-addext",
        "basicConstraints=critical,CA:FALSE",
      ],
    },
    {
      name: "an Ed25519 certificate with a UTF-8 subject",
      key: ["-algorithm", "ED25519"],
      args: ["-utf8", "-subj", "/CN=Grüße/OU=Ünit"],
    },
  ];
  for (const c of cases) {
    it(`${c.name} is read field by field`, async () => {
      const { der } = opensslCert(c.name.replace(/\W+/g, "-"), c.key, c.args);
      const ours = parseCertificate(der);
      const theirs = new x509.X509Certificate(new Uint8Array(der));
      const text = openssl(["x509", "-inform", "DER", "-noout", "-text"], der);
      expect(`Version: ${ours.version} `).toBe(/Version: (\d) /.exec(text)?.[0]);
      expect(BigInt(`0x${ours.serialHex}`)).toBe(BigInt(`0x${theirs.serialNumber}`));
      expect(ours.notBefore).toEqual(theirs.notBefore);
      expect(ours.notAfter).toEqual(theirs.notAfter);
      expect(Buffer.from(ours.publicKeySpki)).toEqual(Buffer.from(theirs.publicKey.rawData));
      expect(ours.selfIssued).toBe(true);
      expect(ours.verifySignature(ours.publicKey())).toBe(true);
      expect(
        ours.subjectKeyId === undefined ? undefined : Buffer.from(ours.subjectKeyId).toString("hex"),
      ).toBe((theirs.getExtension(x509.SubjectKeyIdentifierExtension) ?? undefined)?.keyId);
      const bc = theirs.getExtension(x509.BasicConstraintsExtension);
      expect(ours.basicConstraints).toEqual(
        bc === null
          ? undefined
          : bc.pathLength === undefined
            ? { isCA: bc.ca }
            : { isCA: bc.ca, pathLen: bc.pathLength },
      );
      const san = theirs.getExtension(x509.SubjectAlternativeNameExtension)?.names.items ?? [];
      expect([...ours.dnsNames, ...ours.ipAddresses, ...ours.emailAddresses, ...ours.uris].sort()).toEqual(
        san.map((n) => n.value).sort(),
      );
      expect(ours.extensions.map((e) => e.oid)).toEqual(theirs.extensions.map((e) => e.type));
      // The subject as openssl prints it, RFC 2253 order.
      const subject = openssl(
        ["x509", "-inform", "DER", "-noout", "-subject", "-nameopt", "RFC2253,-esc_msb"],
        der,
      ).trim();
      const ourText = [...ours.subject]
        .reverse()
        .map((rdn) =>
          rdn
            .map(
              (a) =>
                `${{ "2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.10": "O", "2.5.4.11": "OU" }[a.type]}=${a.value}`,
            )
            .join("+"),
        )
        .join(",");
      expect(subject).toBe(`subject=${ourText}`);
    });
  }

  it("an openssl CA certificate and its key become a signer", () => {
    const { der, keyFile } = opensslCert(
      "signer",
      ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
      [
        "-subj",
        "/CN=signer",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
      ],
    );
    const signer = signerFromCertificate(der, privateKeyFromPem(readFileSync(keyFile, "utf8")));
    expect(Buffer.from(signer.issuerName)).toEqual(Buffer.from(parseCertificate(der).subjectDer));
    expect(signer.authorityKeyId).toEqual(parseCertificate(der).subjectKeyId);
  });

  it("a version 1 certificate (no extensions) is read", () => {
    const keyFile = tmp.file("v1.key");
    openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", keyFile]);
    const csrFile = tmp.file("v1.csr");
    openssl(["req", "-new", "-config", CONFIG, "-key", keyFile, "-subj", "/CN=v1", "-out", csrFile]);
    const certFile = tmp.file("v1.pem");
    openssl(["x509", "-req", "-in", csrFile, "-key", keyFile, "-days", "1", "-out", certFile]);
    const der = decodePemAll(readFileSync(certFile, "utf8"), "CERTIFICATE")[0] as Uint8Array;
    const c = parseCertificate(der);
    expect([1, 3]).toContain(c.version);
    expect(c.subject).toEqual([[{ type: "2.5.4.3", value: "v1" }]]);
    expect(c.verifySignature(c.publicKey())).toBe(true);
  });

  it("a certificate whose outer and inner signature algorithms differ is refused", () => {
    const { der } = opensslCert(
      "algs",
      ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
      ["-subj", "/CN=a"],
    );
    const bad = Buffer.from(der);
    // sha256WithRSAEncryption (…01 01 0b) appears twice; change the last occurrence to sha384 (…01 01 0c).
    const oid = Buffer.from([0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b]);
    const at = bad.lastIndexOf(oid);
    bad[at + oid.length - 1] = 0x0c;
    try {
      parseCertificate(bad);
      expect.fail("expected ERR_CERT_INVALID");
    } catch (err) {
      expect(isMeshsignError(err, "ERR_CERT_INVALID")).toBe(true);
    }
  });
});
