import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MeshsignError } from "../../src/errors/index.js";
import { parseCertificate } from "../../src/pki/certificate.js";
import { parseCsr, parseCsrDer } from "../../src/pki/csr.js";
import { DerReader } from "../../src/pki/der/reader.js";
import { oid, smallInteger, Tag, time, unsignedInteger, utf8String } from "../../src/pki/der/writer.js";
import { buildCsrDer, publicKeySpki } from "../../src/pki/keys.js";
import { decodePemBlocks, encodePem } from "../../src/pki/pem.js";
import { signCertificate } from "../../src/pki/sign.js";
import { key, makeRoot, svidTemplate } from "./helpers.js";

/** Runs `fn`; passes when it returns or throws a MeshsignError with one of `codes`. Anything else fails. */
function onlyMeshsignErrors(fn: () => unknown, codes: readonly string[]): unknown {
  try {
    return fn();
  } catch (err) {
    if (!(err instanceof MeshsignError)) throw new Error(`non-MeshsignError thrown: ${String(err)}`);
    if (!codes.includes(err.code)) throw new Error(`unexpected code ${err.code}`);
    return undefined;
  }
}

const CSR_CODES = ["ERR_CSR_DER", "ERR_CSR_KEY_UNSUPPORTED", "ERR_CSR_TOO_LARGE", "ERR_CSR_PEM"];
const CERT_CODES = ["ERR_CERT_INVALID"];

const csrKeys = [
  key({ type: "ec", curve: "P-256" }, "fuzz"),
  key({ type: "rsa", bits: 2048 }, "fuzz"),
  key({ type: "ed25519" }, "fuzz"),
];
const validCsrs = csrKeys.map((k) =>
  buildCsrDer(k, {
    uris: ["spiffe://cluster.local/ns/a/sa/b"],
    dnsNames: ["x.example"],
    ipAddresses: ["10.0.0.1", "::1"],
    keyUsage: ["digitalSignature"],
    extKeyUsage: ["serverAuth", "clientAuth"],
    basicConstraints: { isCA: false },
  }),
);
const root = makeRoot({ type: "ec", curve: "P-256" }, "fuzz root");
const validCerts = [
  root.der,
  signCertificate(
    {
      ...svidTemplate(publicKeySpki(csrKeys[1] as never), "spiffe://td/ns/a/sa/b"),
      dnsNames: ["a.example"],
      ipAddresses: ["2001:db8::1"],
    },
    root.signer,
  ),
];

/** Walks any DER tree with the reader, depth-bounded; returns the number of TLVs seen. */
function walk(bytes: Uint8Array): number {
  let count = 0;
  const visit = (r: DerReader, depth: number) => {
    while (!r.atEnd()) {
      const t = r.next();
      count++;
      if ((t.tag & 0x20) !== 0 && depth < 32) visit(r.inside(t, "x"), depth + 1);
      if (t.tag === Tag.OID) r.oid(t);
      if (t.tag === Tag.INTEGER) r.integer(t, "int");
      if (t.tag === Tag.UTC_TIME || t.tag === Tag.GENERALIZED_TIME) r.time(t, "time");
      if (t.tag === Tag.BIT_STRING) r.bitString(t);
      if (t.tag === Tag.BOOLEAN) r.boolean(t);
      r.string(t);
    }
  };
  visit(new DerReader(bytes, "ERR_CSR_DER"), 0);
  return count;
}

describe("hostile input never crashes the readers", () => {
  it("random bytes given to parseCsrDer, parseCertificate and the DER walker only ever raise MeshsignErrors", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        onlyMeshsignErrors(() => parseCsrDer(bytes), CSR_CODES);
        onlyMeshsignErrors(() => parseCertificate(bytes), CERT_CODES);
        onlyMeshsignErrors(() => walk(bytes), ["ERR_CSR_DER"]);
      }),
      { numRuns: 3000 },
    );
  });

  it("random DER-looking bytes (a SEQUENCE header then noise) only ever raise MeshsignErrors", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 300 }),
        fc.constantFrom(0x30, 0x31, 0xa0, 0xa3),
        (body, tag) => {
          const bytes = Uint8Array.from([tag, 0x82, body.length >> 8, body.length & 0xff, ...body]);
          onlyMeshsignErrors(() => parseCsrDer(bytes), CSR_CODES);
          onlyMeshsignErrors(() => parseCertificate(bytes), CERT_CODES);
          onlyMeshsignErrors(() => walk(bytes), ["ERR_CSR_DER"]);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("every truncation of a valid CSR and certificate is refused with a MeshsignError", () => {
    for (const der of validCsrs) {
      for (let n = 0; n < der.length; n++) {
        expect(() => parseCsrDer(der.subarray(0, n))).toThrow(MeshsignError);
      }
    }
    for (const der of validCerts) {
      for (let n = 0; n < der.length; n++) {
        expect(() => parseCertificate(der.subarray(0, n))).toThrow(MeshsignError);
      }
    }
  });

  it("a bit flip anywhere in a valid CSR is either refused or fails proof of possession", () => {
    fc.assert(
      fc.property(fc.nat(validCsrs.length - 1), fc.nat(), fc.nat(7), (which, pos, bit) => {
        const der = Uint8Array.from(validCsrs[which] as Uint8Array);
        const i = pos % der.length;
        der[i] = (der[i] as number) ^ (1 << bit);
        const csr = onlyMeshsignErrors(() => parseCsrDer(der), CSR_CODES) as
          | ReturnType<typeof parseCsrDer>
          | undefined;
        if (csr !== undefined) expect(csr.verifySignature()).toBe(false);
      }),
      { numRuns: 3000 },
    );
  });

  it("a bit flip anywhere in a valid certificate is either refused or breaks its signature", () => {
    fc.assert(
      fc.property(fc.nat(validCerts.length - 1), fc.nat(), fc.nat(7), (which, pos, bit) => {
        const der = Uint8Array.from(validCerts[which] as Uint8Array);
        const i = pos % der.length;
        der[i] = (der[i] as number) ^ (1 << bit);
        const cert = onlyMeshsignErrors(() => parseCertificate(der), CERT_CODES) as
          | ReturnType<typeof parseCertificate>
          | undefined;
        if (cert !== undefined) expect(cert.verifySignature(root.signer.certificate.publicKey())).toBe(false);
      }),
      { numRuns: 3000 },
    );
  });

  it("random byte overwrites (1-8 bytes) of valid inputs only ever raise MeshsignErrors", () => {
    fc.assert(
      fc.property(
        fc.nat(validCsrs.length - 1),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
        (which, edits) => {
          const csr = Uint8Array.from(validCsrs[which] as Uint8Array);
          const cert = Uint8Array.from(validCerts[which % validCerts.length] as Uint8Array);
          for (const [pos, v] of edits) {
            csr[pos % csr.length] = v;
            cert[pos % cert.length] = v;
          }
          const parsed = onlyMeshsignErrors(() => parseCsrDer(csr), CSR_CODES) as
            | ReturnType<typeof parseCsrDer>
            | undefined;
          parsed?.verifySignature();
          onlyMeshsignErrors(() => parseCertificate(cert), CERT_CODES);
        },
      ),
      { numRuns: 2000 },
    );
  });

  const absurd = [
    {
      name: "a 4-byte length far past the data",
      bytes: [0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x02, 0x01, 0x00],
    },
    { name: "a 5-byte length", bytes: [0x30, 0x85, 0, 0, 0, 0, 1, 0] },
    { name: "an indefinite length", bytes: [0x30, 0x80, 0x02, 0x01, 0x00, 0x00, 0x00] },
    { name: "a non-minimal long-form length", bytes: [0x30, 0x81, 0x03, 0x02, 0x01, 0x00] },
    {
      name: "a length with a leading zero octet",
      bytes: [0x30, 0x82, 0x00, 0x83, ...new Array(0x83).fill(0)],
    },
    { name: "a high tag number", bytes: [0x1f, 0x81, 0x00, 0x00] },
    { name: "a tag without a length", bytes: [0x30] },
    {
      name: "deeply nested SEQUENCEs",
      bytes: [
        ...new Array(200)
          .fill(0)
          .flatMap(() => [0x30, 0x81, 0x7f])
          .slice(0, 600),
      ],
    },
  ];
  for (const c of absurd) {
    it(`${c.name} is refused without reading past the input`, () => {
      const bytes = Uint8Array.from(c.bytes);
      expect(() => parseCsrDer(bytes)).toThrow(MeshsignError);
      expect(() => parseCertificate(bytes)).toThrow(MeshsignError);
    });
  }

  it("random text given to parseCsr and decodePemBlocks only ever raises MeshsignErrors", () => {
    const good = encodePem("CERTIFICATE REQUEST", validCsrs[0] as Uint8Array);
    fc.assert(
      fc.property(fc.string({ maxLength: 400 }), fc.nat(good.length), (s, cut) => {
        onlyMeshsignErrors(() => parseCsr(s), CSR_CODES);
        onlyMeshsignErrors(() => parseCsr(good.slice(0, cut) + s + good.slice(cut)), CSR_CODES);
        onlyMeshsignErrors(
          () => decodePemBlocks(`-----BEGIN X-----\n${s}\n-----END X-----\n`),
          ["ERR_CERT_INVALID"],
        );
      }),
      { numRuns: 2000 },
    );
  });
});

describe("DER writer and reader agree", () => {
  it("OIDs round-trip, including arcs beyond 2^53", () => {
    const arc = fc.oneof(fc.nat(200), fc.nat(), fc.bigInt({ min: 0n, max: 2n ** 128n }));
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 }),
        fc.nat(39),
        fc.array(arc, { maxLength: 8 }),
        (a, b, rest) => {
          const dotted = [a, b, ...rest].join(".");
          const r = new DerReader(oid(dotted), "ERR_CSR_DER");
          expect(r.oid(r.next())).toBe(dotted);
        },
      ),
    );
  });

  it("unsigned integers round-trip minimally encoded", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (mag) => {
        const r = new DerReader(unsignedInteger(mag), "ERR_CSR_DER");
        const v = r.integer(r.next(), "n");
        const strip = (b: Uint8Array) =>
          Buffer.from(b)
            .toString("hex")
            .replace(/^(00)+/, "");
        expect(strip(v)).toBe(strip(mag));
        expect((v[0] as number) & 0x80).toBe(0);
      }),
    );
    fc.assert(
      fc.property(fc.nat({ max: 0x7fffffff }), (n) => {
        const r = new DerReader(smallInteger(n), "ERR_CSR_DER");
        expect(r.smallInteger(r.next(), "n")).toBe(n);
      }),
    );
  });

  it("times round-trip to the second for every year 0001-9999", () => {
    fc.assert(
      fc.property(
        fc.date({
          min: new Date("0001-01-01T00:00:00Z"),
          max: new Date("9999-12-31T23:59:59Z"),
          noInvalidDate: true,
        }),
        (d) => {
          const r = new DerReader(time(d), "ERR_CSR_DER");
          expect(r.time(r.next(), "t").getTime()).toBe(Math.floor(d.getTime() / 1000) * 1000);
        },
      ),
    );
  });

  it("UTF8 strings round-trip", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", maxLength: 100 }), (s) => {
        const r = new DerReader(utf8String(s), "ERR_CSR_DER");
        expect(r.string(r.next())).toBe(s);
      }),
    );
  });

  const nonCanonical = [
    {
      name: "an INTEGER with a redundant leading zero",
      bytes: [0x02, 0x02, 0x00, 0x01],
      read: (r: DerReader) => r.integer(r.next(), "n"),
    },
    {
      name: "an INTEGER with a redundant leading 0xff",
      bytes: [0x02, 0x02, 0xff, 0x80],
      read: (r: DerReader) => r.integer(r.next(), "n"),
    },
    { name: "an empty INTEGER", bytes: [0x02, 0x00], read: (r: DerReader) => r.integer(r.next(), "n") },
    { name: "a BOOLEAN of 0x01", bytes: [0x01, 0x01, 0x01], read: (r: DerReader) => r.boolean(r.next()) },
    {
      name: "a BIT STRING with set padding bits",
      bytes: [0x03, 0x02, 0x01, 0x01],
      read: (r: DerReader) => r.bitString(r.next()),
    },
    {
      name: "a BIT STRING with 8 unused bits",
      bytes: [0x03, 0x02, 0x08, 0x00],
      read: (r: DerReader) => r.bitString(r.next()),
    },
    {
      name: "an OID with a non-minimal arc",
      bytes: [0x06, 0x03, 0x2a, 0x80, 0x01],
      read: (r: DerReader) => r.oid(r.next()),
    },
    { name: "a truncated OID", bytes: [0x06, 0x02, 0x2a, 0x81], read: (r: DerReader) => r.oid(r.next()) },
    {
      name: "a UTCTime without seconds",
      bytes: [0x17, 0x0b, ...Buffer.from("2501010000Z")],
      read: (r: DerReader) => r.time(r.next(), "t"),
    },
    {
      name: "a UTCTime with an offset",
      bytes: [0x17, 0x11, ...Buffer.from("250101000000+0100")],
      read: (r: DerReader) => r.time(r.next(), "t"),
    },
    {
      name: "a GeneralizedTime with fractions",
      bytes: [0x18, 0x12, ...Buffer.from("20500101000000.5Z")],
      read: (r: DerReader) => r.time(r.next(), "t"),
    },
    {
      name: "a February 30th",
      bytes: [0x17, 0x0d, ...Buffer.from("250230000000Z")],
      read: (r: DerReader) => r.time(r.next(), "t"),
    },
    {
      name: "a PrintableString with '@'",
      bytes: [0x13, 0x01, 0x40],
      read: (r: DerReader) => r.string(r.next()),
    },
    {
      name: "an IA5String with a high byte",
      bytes: [0x16, 0x01, 0xc3],
      read: (r: DerReader) => r.string(r.next()),
    },
    {
      name: "a UTF8String with invalid UTF-8",
      bytes: [0x0c, 0x02, 0xc3, 0x28],
      read: (r: DerReader) => r.string(r.next()),
    },
  ];
  for (const c of nonCanonical) {
    it(`${c.name} is refused`, () => {
      expect(() => c.read(new DerReader(Uint8Array.from(c.bytes), "ERR_CSR_DER"))).toThrow(MeshsignError);
    });
  }
});
