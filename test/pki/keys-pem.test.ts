import { createPublicKey } from "node:crypto";
import { describe, expect, it } from "vitest";
import { isMeshsignError } from "../../src/errors/index.js";
import {
  decodePemBlocks,
  encodePem,
  generateKey,
  generateKeySync,
  privateKeyFromPem,
  privateKeyToPem,
  publicKeySpki,
  splitPemBundle,
} from "../../src/pki/index.js";
import { openssl } from "./helpers.js";

function code(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return isMeshsignError(err) ? err.code : `non-meshsign: ${String(err)}`;
  }
}

describe("keys", () => {
  const formats = [
    {
      name: "RSA as PKCS#1",
      spec: { type: "rsa", bits: 2048 } as const,
      format: "pkcs1" as const,
      label: "RSA PRIVATE KEY",
    },
    {
      name: "RSA as PKCS#8",
      spec: { type: "rsa", bits: 2048 } as const,
      format: "pkcs8" as const,
      label: "PRIVATE KEY",
    },
    {
      name: "EC P-256 as SEC 1",
      spec: { type: "ec", curve: "P-256" } as const,
      format: "sec1" as const,
      label: "EC PRIVATE KEY",
    },
    {
      name: "EC P-384 as PKCS#8",
      spec: { type: "ec", curve: "P-384" } as const,
      format: "pkcs8" as const,
      label: "PRIVATE KEY",
    },
    {
      name: "Ed25519 as PKCS#8",
      spec: { type: "ed25519" } as const,
      format: "pkcs8" as const,
      label: "PRIVATE KEY",
    },
  ];
  for (const f of formats) {
    it(`${f.name} encodes to a "${f.label}" PEM that openssl and privateKeyFromPem read back`, () => {
      const k = generateKeySync(f.spec);
      const pem = privateKeyToPem(k, f.format);
      expect(decodePemBlocks(pem).map((b) => b.label)).toEqual([f.label]);
      const back = privateKeyFromPem(pem);
      expect(createPublicKey(back).equals(createPublicKey(k))).toBe(true);
      expect(openssl(["pkey", "-noout", "-text"], pem)).toMatch(/Private-Key|private key/i);
    });
  }

  it("PKCS#1 for a non-RSA key and SEC 1 for a non-EC key are refused", () => {
    expect(code(() => privateKeyToPem(generateKeySync({ type: "ed25519" }), "pkcs1"))).toBe(
      "ERR_KEY_INVALID",
    );
    expect(code(() => privateKeyToPem(generateKeySync({ type: "rsa", bits: 2048 }), "sec1"))).toBe(
      "ERR_KEY_INVALID",
    );
  });

  it("a public key cannot be written as a private key", () => {
    expect(code(() => privateKeyToPem(createPublicKey(generateKeySync({ type: "ed25519" }))))).toBe(
      "ERR_KEY_INVALID",
    );
  });

  it("garbage is refused by privateKeyFromPem without echoing it", () => {
    try {
      privateKeyFromPem("-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n");
      expect.fail("expected ERR_KEY_INVALID");
    } catch (err) {
      expect(isMeshsignError(err, "ERR_KEY_INVALID")).toBe(true);
      expect((err as Error).message).not.toContain("c2VjcmV0");
    }
  });

  it("unsupported sizes and curves are refused", () => {
    expect(code(() => generateKeySync({ type: "rsa", bits: 1024 as 2048 }))).toBe("ERR_KEY_INVALID");
    expect(code(() => generateKeySync({ type: "ec", curve: "secp256k1" as "P-256" }))).toBe(
      "ERR_KEY_INVALID",
    );
  });

  it("generateKey works off the main thread and yields the requested curve", async () => {
    const k = await generateKey({ type: "ec", curve: "P-384" });
    expect(k.asymmetricKeyDetails?.namedCurve).toBe("secp384r1");
    expect(publicKeySpki(k)).toEqual(
      new Uint8Array(createPublicKey(k).export({ type: "spki", format: "der" })),
    );
  });
});

describe("PEM", () => {
  it("encodePem writes 64-column lines that openssl accepts and decodePemBlocks reads back", () => {
    const der = publicKeySpki(generateKeySync({ type: "rsa", bits: 2048 }));
    const pem = encodePem("PUBLIC KEY", der);
    expect(
      pem
        .split("\n")
        .slice(1, -3)
        .every((l) => l.length === 64),
    ).toBe(true);
    expect(openssl(["pkey", "-pubin", "-noout", "-text"], pem)).toContain("Public-Key: (2048 bit)");
    expect(decodePemBlocks(pem)).toEqual([{ label: "PUBLIC KEY", der }]);
  });

  it("splitPemBundle returns one canonical PEM per CERTIFICATE block and skips other labels", () => {
    const a = encodePem("CERTIFICATE", Uint8Array.from([1, 2, 3]));
    const b = encodePem("CERTIFICATE", Uint8Array.from([4, 5]));
    const k = encodePem("PRIVATE KEY", Uint8Array.from([9]));
    expect(splitPemBundle(`# comment\n${a}\r\n${k}${b.replace(/\n/g, "\r\n")}`)).toEqual([a, b]);
  });

  const bad = [
    { name: "a block without END", text: "-----BEGIN CERTIFICATE-----\nAAAA\n" },
    {
      name: "base64 with a bad length",
      text: "-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n",
    },
    {
      name: "padding in the middle",
      text: "-----BEGIN CERTIFICATE-----\nAA==AAAA\n-----END CERTIFICATE-----\n",
    },
  ];
  for (const c of bad) {
    it(`${c.name} is refused with ERR_CERT_INVALID`, () => {
      expect(code(() => decodePemBlocks(c.text))).toBe("ERR_CERT_INVALID");
    });
  }
});
