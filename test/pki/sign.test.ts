import "reflect-metadata";
import { createHash, createPublicKey, X509Certificate as NodeX509 } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { afterAll, describe, expect, it } from "vitest";
import { isMeshsignError } from "../../src/errors/index.js";
import { parseCertificate } from "../../src/pki/certificate.js";
import { generateKeySync, publicKeySpki } from "../../src/pki/keys.js";
import { encodePem } from "../../src/pki/pem.js";
import {
  selfSignedSigner,
  signCertificate,
  signCertificateAsync,
  signerFromCertificate,
} from "../../src/pki/sign.js";
import type { CertificateTemplate } from "../../src/pki/template.js";
import {
  DAY,
  HOUR,
  KEY_SPECS,
  key,
  makeIntermediate,
  makeRoot,
  openssl,
  opensslStatus,
  svidTemplate,
  TempDir,
} from "./helpers.js";
import { keyPairSync } from "../lib/key-pair.js";

const tmp = new TempDir();
afterAll(() => tmp.remove());

const SPIFFE = "spiffe://cluster.local/ns/default/sa/sleep";

function peculiar(der: Uint8Array): x509.X509Certificate {
  return new x509.X509Certificate(new Uint8Array(der));
}

function expectSigningError(fn: () => unknown, code = "ERR_SIGNING_FAILED"): void {
  try {
    fn();
  } catch (err) {
    expect(isMeshsignError(err), String(err)).toBe(true);
    expect((err as { code: string }).code).toBe(code);
    return;
  }
  expect.fail("expected a MeshsignError");
}

describe("signCertificate differential against @peculiar/x509, openssl and node", () => {
  for (const ca of KEY_SPECS) {
    for (const leaf of KEY_SPECS.filter((s) => ["ECDSA P-256", "RSA 2048", "Ed25519"].includes(s.name))) {
      it(`a ${ca.name} CA issues an X.509-SVID for a ${leaf.name} key that all three parsers accept`, async () => {
        const root = makeRoot(ca.spec, `root ${ca.name}`);
        const leafKey = key(leaf.spec, "leaf");
        const der = signCertificate(svidTemplate(publicKeySpki(leafKey), SPIFFE), root.signer);

        // @peculiar/x509 reads every field we wrote.
        const cert = peculiar(der);
        expect(cert.subject).toBe("");
        expect(cert.issuer).toBe(`O=meshsign, CN=root ${ca.name}`);
        const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
        expect(san?.critical).toBe(true);
        expect(san?.names.items.map((n) => [n.type, n.value])).toEqual([["url", SPIFFE]]);
        const ku = cert.getExtension(x509.KeyUsagesExtension);
        expect(ku?.critical).toBe(true);
        expect(ku?.usages).toBe(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment);
        expect(cert.getExtension(x509.ExtendedKeyUsageExtension)?.usages).toEqual([
          x509.ExtendedKeyUsage.serverAuth,
          x509.ExtendedKeyUsage.clientAuth,
        ]);
        const bc = cert.getExtension(x509.BasicConstraintsExtension);
        expect([bc?.critical, bc?.ca]).toEqual([true, false]);
        const ski = cert.getExtension(x509.SubjectKeyIdentifierExtension);
        const spki = publicKeySpki(leafKey);
        const bits = parseCertificate(der).subjectPublicKeyBits;
        expect(spki.subarray(spki.length - bits.length)).toEqual(bits);
        expect(ski?.keyId).toBe(createHash("sha1").update(bits).digest("hex"));
        const rootSki = peculiar(root.der).getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
        expect(cert.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId).toBe(rootSki);

        // node's X509Certificate verifies the signature and shows the SAN.
        const node = new NodeX509(Buffer.from(der));
        expect(node.verify(createPublicKey(root.key))).toBe(true);
        expect(node.checkIssued(new NodeX509(Buffer.from(root.der)))).toBe(true);
        expect(node.subjectAltName).toBe(`URI:${SPIFFE}`);

        // openssl verifies the chain with the SSL client and server purposes and prints the extensions.
        const rootFile = tmp.write(`root-${ca.name}.pem`, root.pem);
        const leafFile = tmp.write(`leaf-${ca.name}-${leaf.name}.pem`, encodePem("CERTIFICATE", der));
        for (const purpose of ["sslclient", "sslserver"]) {
          expect(openssl(["verify", "-purpose", purpose, "-CAfile", rootFile, leafFile]).trim()).toBe(
            `${leafFile}: OK`,
          );
        }
        const text = openssl(["x509", "-in", leafFile, "-noout", "-text"]);
        expect(text).toContain("Version: 3 (0x2)");
        expect(text).toMatch(/X509v3 Key Usage: critical\s+Digital Signature, Key Encipherment/);
        expect(text).toMatch(
          /X509v3 Extended Key Usage: \s*TLS Web Server Authentication, TLS Web Client Authentication/,
        );
        expect(text).toMatch(/X509v3 Basic Constraints: critical\s+CA:FALSE/);
        expect(text).toMatch(new RegExp(`X509v3 Subject Alternative Name: critical\\s+URI:${SPIFFE}`));
        const expectedAlg = {
          "ECDSA P-256": "ecdsa-with-SHA256",
          "ECDSA P-384": "ecdsa-with-SHA384",
          "ECDSA P-521": "ecdsa-with-SHA512",
          "RSA 2048": "sha256WithRSAEncryption",
          Ed25519: "ED25519",
        }[ca.name];
        expect(text).toContain(`Signature Algorithm: ${expectedAlg}`);
      });
    }
  }

  it("a root, an intermediate with pathlen 0 and a leaf verify as a chain with openssl", () => {
    const root = makeRoot({ type: "ec", curve: "P-256" }, "chain root");
    const int = makeIntermediate(root, { type: "ec", curve: "P-384" }, "chain intermediate", 0);
    const leafDer = signCertificate(
      svidTemplate(publicKeySpki(key({ type: "ec", curve: "P-256" })), SPIFFE),
      int.signer,
    );
    const rootFile = tmp.write("chain-root.pem", root.pem);
    const intFile = tmp.write("chain-int.pem", int.pem);
    const leafFile = tmp.write("chain-leaf.pem", encodePem("CERTIFICATE", leafDer));
    expect(openssl(["verify", "-CAfile", rootFile, "-untrusted", intFile, leafFile]).trim()).toBe(
      `${leafFile}: OK`,
    );
    expect(openssl(["x509", "-in", intFile, "-noout", "-text"])).toMatch(
      /Basic Constraints: critical\s+CA:TRUE, pathlen:0/,
    );
    // Without the intermediate the leaf does not verify: the AKI/issuer link is real.
    expect(opensslStatus(["verify", "-CAfile", rootFile, leafFile]).status).not.toBe(0);
  });

  it("a self-signed root carries an SKI but no AKI, and its issuer equals its subject", () => {
    const root = makeRoot({ type: "ec", curve: "P-256" }, "aki root");
    const cert = peculiar(root.der);
    expect(cert.getExtension(x509.AuthorityKeyIdentifierExtension)).toBeNull();
    expect(cert.getExtension(x509.SubjectKeyIdentifierExtension)).not.toBeNull();
    expect(cert.issuer).toBe(cert.subject);
    expect(new NodeX509(Buffer.from(root.der)).verify(createPublicKey(root.key))).toBe(true);
  });

  it("a subject that is not empty makes the SAN extension non-critical", () => {
    const root = makeRoot({ type: "ec", curve: "P-256" });
    const t: CertificateTemplate = {
      ...svidTemplate(publicKeySpki(key({ type: "ec", curve: "P-256" })), SPIFFE),
      subject: [[{ type: "2.5.4.3", value: "workload" }]],
      dnsNames: ["a.example.com"],
      ipAddresses: ["10.1.2.3", "2001:db8::7"],
      emailAddresses: ["ops@example.com"],
    };
    const cert = peculiar(signCertificate(t, root.signer));
    const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
    expect(san?.critical).toBe(false);
    expect(san?.names.items.map((n) => `${n.type}:${n.value}`).sort()).toEqual(
      ["dns:a.example.com", "email:ops@example.com", "ip:10.1.2.3", "ip:2001:db8::7", `url:${SPIFFE}`].sort(),
    );
  });
});

describe("signCertificateAsync (the signature on libuv's thread pool)", () => {
  for (const ca of KEY_SPECS.filter((s) => ["ECDSA P-256", "RSA 2048", "Ed25519"].includes(s.name))) {
    it(`a ${ca.name} CA's leaf equals signCertificate's but for the signature, and verifies`, async () => {
      const root = makeRoot(ca.spec, `async root ${ca.name}`);
      const template = {
        ...svidTemplate(publicKeySpki(key({ type: "ec", curve: "P-256" }, "leaf")), SPIFFE),
        serialNumber: Uint8Array.from([1, 2, 3]),
      };
      const der = await signCertificateAsync(template, root.signer);
      const node = new NodeX509(Buffer.from(der));
      expect(node.verify(createPublicKey(root.signer.privateKey))).toBe(true);
      const sync = parseCertificate(signCertificate(template, root.signer));
      const parsed = parseCertificate(der);
      expect(Buffer.from(parsed.tbs).equals(Buffer.from(sync.tbs))).toBe(true);
    });
  }
});

describe("validity encoding (RFC 5280 §4.1.2.5)", () => {
  const root = makeRoot({ type: "ec", curve: "P-256" }, "time root");
  const cases = [
    { name: "a notAfter in 2049 is a UTCTime", date: "2049-12-31T23:59:59Z", tag: "UTCTIME" },
    { name: "a notAfter in 2050 is a GeneralizedTime", date: "2050-01-01T00:00:00Z", tag: "GENERALIZEDTIME" },
    { name: "a notAfter in 9999 is a GeneralizedTime", date: "9999-12-31T23:59:59Z", tag: "GENERALIZEDTIME" },
  ];
  for (const c of cases) {
    it(`${c.name} and reads back as the same instant`, () => {
      const notAfter = new Date(c.date);
      const t = { ...svidTemplate(publicKeySpki(key({ type: "ec", curve: "P-256" })), SPIFFE), notAfter };
      const der = signCertificate(t, root.signer);
      expect(peculiar(der).notAfter.getTime()).toBe(notAfter.getTime());
      expect(parseCertificate(der).notAfter.getTime()).toBe(notAfter.getTime());
      const asn1 = openssl(["asn1parse", "-inform", "DER"], der);
      const times = asn1.split("\n").filter((l) => /UTCTIME|GENERALIZEDTIME/.test(l));
      expect(times).toHaveLength(2);
      expect(times[1]).toContain(c.tag);
    });
  }

  it("milliseconds are truncated, never rounded up past the requested instant", () => {
    const notBefore = new Date("2030-05-05T05:05:05.999Z");
    const t = svidTemplate(publicKeySpki(key({ type: "ec", curve: "P-256" })), SPIFFE, notBefore);
    expect(parseCertificate(signCertificate(t, root.signer)).notBefore.toISOString()).toBe(
      "2030-05-05T05:05:05.000Z",
    );
  });
});

describe("subject string types", () => {
  const root = makeRoot({ type: "ec", curve: "P-256" }, "string root");
  const cases = [
    {
      name: "an ASCII organization is a PrintableString",
      type: "2.5.4.10",
      value: "Example Org",
      tag: "PRINTABLESTRING",
    },
    {
      name: "an empty organization is a PrintableString",
      type: "2.5.4.10",
      value: "",
      tag: "PRINTABLESTRING",
    },
    {
      name: "a non-ASCII common name is a UTF8String",
      type: "2.5.4.3",
      value: "Zürich ✓",
      tag: "UTF8STRING",
    },
    {
      name: "a common name with '@' (outside PrintableString) is a UTF8String",
      type: "2.5.4.3",
      value: "a@b",
      tag: "UTF8STRING",
    },
    { name: "a countryName is a PrintableString", type: "2.5.4.6", value: "DE", tag: "PRINTABLESTRING" },
    {
      name: "an emailAddress is an IA5String",
      type: "1.2.840.113549.1.9.1",
      value: "a@b.example",
      tag: "IA5STRING",
    },
  ];
  for (const c of cases) {
    it(`${c.name}`, () => {
      const t: CertificateTemplate = {
        ...svidTemplate(publicKeySpki(key({ type: "ec", curve: "P-256" })), SPIFFE),
        subject: [[{ type: c.type, value: c.value }]],
      };
      const der = signCertificate(t, root.signer);
      const asn1 = openssl(["asn1parse", "-inform", "DER"], der);
      const lines = asn1.split("\n");
      const sn = {
        "2.5.4.10": "organizationName",
        "2.5.4.3": "commonName",
        "2.5.4.6": "countryName",
        "1.2.840.113549.1.9.1": "emailAddress",
      }[c.type];
      // The subject is the second Name in the certificate (after the issuer).
      const objects = lines.flatMap((l, i) =>
        l.includes(`OBJECT            :${sn}`) ? [lines[i + 1] ?? ""] : [],
      );
      expect(objects.at(-1)).toMatch(new RegExp(`${c.tag}\\s+:`));
      expect(parseCertificate(der).subject).toEqual([[{ type: c.type, value: c.value }]]);
    });
  }

  it("a countryName that is not printable is refused", () => {
    const t: CertificateTemplate = {
      ...svidTemplate(publicKeySpki(key({ type: "ec", curve: "P-256" })), SPIFFE),
      subject: [[{ type: "2.5.4.6", value: "Ü" }]],
    };
    expectSigningError(() => signCertificate(t, root.signer));
  });

  it("a multi-valued RDN is written as a DER SET sorted by encoding", () => {
    const t: CertificateTemplate = {
      ...svidTemplate(publicKeySpki(key({ type: "ec", curve: "P-256" })), SPIFFE),
      subject: [
        [
          { type: "2.5.4.11", value: "zz" },
          { type: "2.5.4.3", value: "aa" },
        ],
      ],
    };
    const cert = parseCertificate(signCertificate(t, root.signer));
    // 2.5.4.3 (55 04 03) sorts before 2.5.4.11 (55 04 0b).
    expect(cert.subject).toEqual([
      [
        { type: "2.5.4.3", value: "aa" },
        { type: "2.5.4.11", value: "zz" },
      ],
    ]);
    expect(openssl(["x509", "-inform", "DER", "-noout", "-subject"], cert.der)).toContain(
      "CN = aa + OU = zz",
    );
  });
});

describe("serial numbers", () => {
  const root = makeRoot({ type: "ec", curve: "P-256" }, "serial root");
  const base = () => svidTemplate(publicKeySpki(key({ type: "ec", curve: "P-256" })), SPIFFE);

  it("two certificates from the same template get different random 128-bit serials", () => {
    const a = parseCertificate(signCertificate(base(), root.signer));
    const b = parseCertificate(signCertificate(base(), root.signer));
    expect(a.serialHex).not.toBe(b.serialHex);
    expect(a.serialHex.length).toBeLessThanOrEqual(32);
  });

  it("a random serial with the top bit set stays positive (a 0x00 sign octet is added)", () => {
    const der = signCertificate(base(), root.signer, { randomBytes: () => new Uint8Array(16).fill(0xff) });
    const cert = parseCertificate(der);
    expect(cert.serialNumber[0]).toBe(0);
    expect(cert.serialHex).toBe("ff".repeat(16));
    expect(openssl(["x509", "-inform", "DER", "-noout", "-serial"], der).trim()).toBe(
      `serial=${"FF".repeat(16)}`,
    );
  });

  it("a given serial is written minimally and reads back equal", () => {
    const der = signCertificate({ ...base(), serialNumber: Uint8Array.from([0, 0, 1, 2]) }, root.signer);
    expect(peculiar(der).serialNumber).toBe("0102");
  });

  const bad = [
    { name: "an all-zero serial", serial: new Uint8Array(4) },
    { name: "an empty serial", serial: new Uint8Array(0) },
    { name: "a 21-octet serial", serial: new Uint8Array(21).fill(1) },
  ];
  for (const c of bad) {
    it(`${c.name} is refused`, () => {
      expectSigningError(() => signCertificate({ ...base(), serialNumber: c.serial }, root.signer));
    });
  }
});

describe("template and signer validation", () => {
  const root = makeRoot({ type: "ec", curve: "P-256" }, "validation root");
  const base = () => svidTemplate(publicKeySpki(key({ type: "ec", curve: "P-256" })), SPIFFE);
  const now = new Date();
  const cases: { name: string; template: () => CertificateTemplate }[] = [
    { name: "notAfter equal to notBefore", template: () => ({ ...base(), notBefore: now, notAfter: now }) },
    { name: "an invalid date", template: () => ({ ...base(), notAfter: new Date(Number.NaN) }) },
    { name: "maxPathLen on a leaf", template: () => ({ ...base(), maxPathLen: 1 }) },
    { name: "a negative maxPathLen", template: () => ({ ...base(), isCA: true, maxPathLen: -1 }) },
    { name: "an empty subject without any SAN", template: () => ({ ...base(), uris: [] }) },
    { name: "an invalid IP address", template: () => ({ ...base(), ipAddresses: ["10.0.0.256"] }) },
    { name: "a non-ASCII DNS name", template: () => ({ ...base(), dnsNames: ["bücher.example"] }) },
    { name: "an empty URI", template: () => ({ ...base(), uris: [""] }) },
    {
      name: "an unknown key usage",
      template: () => ({ ...base(), keyUsage: ["bogus" as "digitalSignature"] }),
    },
    {
      name: "a public key that is not DER",
      template: () => ({ ...base(), publicKeySpki: Uint8Array.from([0x30, 0x03, 1]) }),
    },
    {
      name: "a year past 9999",
      template: () => ({ ...base(), notAfter: new Date("+010000-01-01T00:00:00Z") }),
    },
  ];
  for (const c of cases) {
    it(`a template with ${c.name} is refused with ERR_SIGNING_FAILED`, async () => {
      expectSigningError(() => signCertificate(c.template(), root.signer));
      // The thread-pool form refuses the same templates, as a rejected promise.
      const thrown = await signCertificateAsync(c.template(), root.signer).catch((err: unknown) => err);
      expect(isMeshsignError(thrown), String(thrown)).toBe(true);
      expect((thrown as { code: string }).code).toBe("ERR_SIGNING_FAILED");
    });
  }

  it("a key of an unsupported type (Ed448) cannot sign", () => {
    // Outside KeySpec on purpose: meshsign must refuse to sign with it.
    const ed448 = keyPairSync("ed448").privateKey;
    expectSigningError(() =>
      signCertificate(base(), { privateKey: ed448, issuerName: root.signer.issuerName }),
    );
  });

  it("a certificate that is not a CA cannot become a signer", () => {
    const leafKey = key({ type: "ec", curve: "P-256" }, "not-a-ca");
    const der = signCertificate(svidTemplate(publicKeySpki(leafKey), SPIFFE), root.signer);
    expectSigningError(() => signerFromCertificate(der, leafKey), "ERR_CERT_INVALID");
  });

  it("a CA certificate with somebody else's private key cannot become a signer", () => {
    expectSigningError(
      () => signerFromCertificate(root.der, key({ type: "ec", curve: "P-256" }, "other")),
      "ERR_KEY_INVALID",
    );
  });

  it("a self-signed signer refuses a key that does not match the template", () => {
    const t = base();
    expectSigningError(
      () => selfSignedSigner(t, key({ type: "ec", curve: "P-256" }, "other")),
      "ERR_KEY_INVALID",
    );
  });

  it("a signer built from a CA certificate knows the CA's notAfter and SKI", () => {
    const cert = parseCertificate(root.der);
    expect(root.signer.notAfter).toEqual(cert.notAfter);
    expect(root.signer.authorityKeyId).toEqual(cert.subjectKeyId);
  });

  it("a CA template with keyCertSign and a lifetime of ten years signs as RSA 4096", () => {
    const k = generateKeySync({ type: "rsa", bits: 4096 });
    const t: CertificateTemplate = {
      publicKeySpki: publicKeySpki(k),
      subject: [[{ type: "2.5.4.3", value: "big" }]],
      isCA: true,
      keyUsage: ["keyCertSign", "cRLSign"],
      extKeyUsage: [],
      notBefore: new Date(),
      notAfter: new Date(Date.now() + 3650 * DAY + HOUR),
    };
    const der = signCertificate(t, selfSignedSigner(t, k));
    expect(new NodeX509(Buffer.from(der)).verify(createPublicKey(k))).toBe(true);
  });
});
