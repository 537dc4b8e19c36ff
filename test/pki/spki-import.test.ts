import { describe, expect, it } from "vitest";
import { DerReader } from "../../src/pki/der/reader.js";
import { importSpki, readSpki } from "../../src/pki/lib/algorithms.js";
import { keyPairSync } from "../lib/key-pair.js";

/*
 * importSpki takes the JWK path for some key types and OpenSSL's DER decoder
 * for others (whichever is faster); either way the same keys go in and the
 * same keys are refused.
 */

type Curve = "P-256" | "P-384" | "P-521";

function spkiOf(curve: Curve): Uint8Array {
  const { publicKey } = keyPairSync("ec", { namedCurve: curve });
  return new Uint8Array(publicKey.export({ format: "der", type: "spki" }));
}

function imported(spki: Uint8Array) {
  const { keyBits, algorithm } = readSpki(new DerReader(spki, "ERR_KEY_INVALID"));
  return importSpki(spki, algorithm, keyBits);
}

describe("importSpki on EC keys", () => {
  const curves: Curve[] = ["P-256", "P-384", "P-521"];

  it.each(curves)("imports a %s key as the same public key", (curve) => {
    const spki = spkiOf(curve);
    const result = imported(spki);
    expect(result?.algorithm).toEqual({ type: "ec", curve });
    expect(new Uint8Array(result?.key.export({ format: "der", type: "spki" }) as Buffer)).toEqual(spki);
  });

  it.each(curves)("refuses a %s point that is not on the curve", (curve) => {
    const spki = spkiOf(curve);
    // The last byte of the SPKI is the last byte of y: changing it moves the point off the curve.
    spki[spki.length - 1] = (spki[spki.length - 1] as number) ^ 0x01;
    expect(imported(spki)).toBeUndefined();
  });
});
