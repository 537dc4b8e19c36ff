import { createPublicKey, type KeyObject } from "node:crypto";
import { calculateJwkThumbprint, flattenedVerify } from "jose";
import { describe, expect, it } from "vitest";
import { accountKeyAlgorithm, keyAuthorization } from "../../src/acme/index.js";
import { accountJwk, signRequest } from "../../src/acme/jws.js";
import { keyPairSync } from "../lib/key-pair.js";

const keys: Array<[string, KeyObject]> = [
  ["RS256", keyPairSync("rsa", { modulusLength: 2048 }).privateKey],
  ["ES256", keyPairSync("ec", { namedCurve: "P-256" }).privateKey],
  ["ES384", keyPairSync("ec", { namedCurve: "P-384" }).privateKey],
];

describe("ACME JWS", () => {
  for (const [alg, key] of keys) {
    it(`signs a ${alg} request that jose verifies with the account's public key, kid or jwk in the header`, async () => {
      expect(accountKeyAlgorithm(key)).toBe(alg);
      const withKid = await signRequest({ key, url: "https://ca.test/order", nonce: "n1", kid: "https://ca.test/acct/1", payload: { a: 1 } });
      const verified = await flattenedVerify(withKid, createPublicKey(key), { algorithms: [alg] });
      expect(verified.protectedHeader).toEqual({ alg, nonce: "n1", url: "https://ca.test/order", kid: "https://ca.test/acct/1" });
      expect(JSON.parse(Buffer.from(verified.payload).toString())).toEqual({ a: 1 });

      const withJwk = await signRequest({ key, url: "https://ca.test/new-acct", nonce: "n2", payload: undefined });
      const v2 = await flattenedVerify(withJwk, createPublicKey(key), { algorithms: [alg] });
      expect(v2.protectedHeader?.jwk).toEqual(accountJwk(key));
      // POST-as-GET: an empty payload, RFC 8555 §6.3.
      expect(withJwk.payload).toBe("");
      expect(v2.payload).toHaveLength(0);
    });
  }

  it("gives the key authorization as token.thumbprint (RFC 8555 §8.1), the same on every call", async () => {
    const [, key] = keys[0] as [string, KeyObject];
    const thumbprint = await calculateJwkThumbprint(accountJwk(key), "sha256");
    expect(await keyAuthorization("tok", key)).toBe(`tok.${thumbprint}`);
    expect(await keyAuthorization("other", key)).toBe(`other.${thumbprint}`);
  });
});
