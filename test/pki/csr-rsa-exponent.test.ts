import { sign } from "node:crypto";
import { describe, expect, it } from "vitest";
import { isMeshsignError } from "../../src/errors/index.js";
import { MAX_RSA_PUBLIC_EXPONENT, parseCsrDer } from "../../src/pki/csr.js";
import {
  bitString,
  constructed,
  NULL_VALUE,
  oid,
  sequence,
  smallInteger,
  unsignedInteger,
} from "../../src/pki/der/writer.js";
import { buildCsrDer } from "../../src/pki/keys.js";
import { keyPairSync } from "../lib/key-pair.js";

/*
 * RSA public exponents: meshsign accepts what Go's crypto/rsa accepts (odd,
 * 3 <= e <= 2^31-1), since every peer of the workload certificate (istio-agent,
 * Envoy's Go control plane, istiod) is held to it.
 */

const RSA_ENCRYPTION = "1.2.840.113549.1.1.1";
const SHA256_WITH_RSA = "1.2.840.113549.1.1.11";
const modulusKey = keyPairSync("rsa", { modulusLength: 2048 });
const modulus = Buffer.from(modulusKey.publicKey.export({ format: "jwk" }).n as string, "base64url");

/** A CSR whose SPKI carries `exponent` (the signature is made with the real key, so only the exponent is off). */
function csrWithExponent(
  exponent: bigint,
  keyAlgorithm: Uint8Array = sequence(oid(RSA_ENCRYPTION), NULL_VALUE),
): Uint8Array {
  const eHex = exponent.toString(16);
  const eBytes = Buffer.from(eHex.length % 2 ? `0${eHex}` : eHex, "hex");
  const spki = sequence(
    keyAlgorithm,
    bitString(sequence(unsignedInteger(modulus), unsignedInteger(eBytes))),
  );
  const info = sequence(smallInteger(0), sequence(), spki, constructed(0xa0, []));
  const signature = sign("sha256", info, modulusKey.privateKey);
  return sequence(info, sequence(oid(SHA256_WITH_RSA), NULL_VALUE), bitString(signature));
}

function refusal(der: Uint8Array): { code: string; message: string } | undefined {
  try {
    parseCsrDer(der);
    return undefined;
  } catch (err) {
    if (!isMeshsignError(err)) throw err;
    return { code: err.code, message: err.message };
  }
}

describe("an RSA CSR's public exponent", () => {
  it.each([
    { name: "65537 (what every Go, OpenSSL and Node key generator uses)", e: 65537 },
    { name: "3", e: 3 },
    { name: "2^31-1 (Go's largest)", e: 2 ** 31 - 1 },
  ])("is accepted, with a key Node generated: $name", ({ e }) => {
    const { privateKey } = keyPairSync("rsa", { modulusLength: 2048, publicExponent: e });
    const parsed = parseCsrDer(buildCsrDer(privateKey));
    expect(parsed.keyAlgorithm).toEqual({ type: "rsa", bits: 2048 });
    expect(parsed.publicKey.asymmetricKeyDetails?.publicExponent).toBe(BigInt(e));
    expect(parsed.verifySignature()).toBe(true);
  });

  it.each([
    { name: "2^31+1 (just past Go's limit)", e: MAX_RSA_PUBLIC_EXPONENT + 2n },
    { name: "2^32+1", e: 2n ** 32n + 1n },
    { name: "a 3,000-bit odd number", e: (1n << 2999n) | 1n },
    { name: "an even number", e: 65536n },
    { name: "1", e: 1n },
  ])("is refused with a message naming the rule: $name", ({ e }) => {
    expect(refusal(csrWithExponent(e))).toEqual({
      code: "ERR_CSR_KEY_UNSUPPORTED",
      message: expect.stringMatching(/RSA public exponent must be odd and between 3 and 2\^31-1/),
    });
  });

  it("the hand-made CSR is accepted with 65537, so the refusals are about the exponent alone", () => {
    expect(refusal(csrWithExponent(65537n))).toBeUndefined();
  });
});

describe("an RSA CSR's key AlgorithmIdentifier", () => {
  it("is refused without its NULL parameters (RFC 3279 §2.3.1 MUST; Go: RSA key missing NULL parameters)", () => {
    // The SPKI is copied into the leaf as it is: accepted, it gives istio-agent a certificate Go cannot parse.
    expect(refusal(csrWithExponent(65537n, sequence(oid(RSA_ENCRYPTION))))).toEqual({
      code: "ERR_CSR_DER",
      message: expect.stringMatching(/rsaEncryption parameters must be NULL/),
    });
  });
});
