/**
 * Test key pairs with node:crypto's generateKeyPairSync arguments, whose KeyObjects do not share
 * their lock with the generation job: in Node.js 20 a garbage collection that frees the job while
 * a KeyObject call holds that lock hangs the process for good (see src/pki/keys.ts). The private
 * key is generated as JWK (PKCS#8 DER for EC curves JWK lacks) and imported; the public key is
 * derived from it.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type JsonWebKey, type KeyObject } from "node:crypto";

export function keyPairSync(
  type: "rsa" | "ec" | "ed25519" | "ed448",
  options: { modulusLength?: number; publicExponent?: number; namedCurve?: string } = {},
): { privateKey: KeyObject; publicKey: KeyObject } {
  const jwkCurve = type !== "ec" || ["P-256", "P-384", "P-521"].includes(options.namedCurve ?? "");
  // JWK has no other EC curves (tests refusing P-224 need one): those go through PKCS#8 DER.
  const encoding = jwkCurve
    ? { publicKeyEncoding: { format: "jwk" }, privateKeyEncoding: { format: "jwk" } }
    : { publicKeyEncoding: { type: "spki", format: "der" }, privateKeyEncoding: { type: "pkcs8", format: "der" } };
  // biome-ignore lint/suspicious/noExplicitAny: node's overloads do not accept a union of type names.
  const generated = (generateKeyPairSync as any)(type, { ...options, ...encoding }).privateKey as JsonWebKey | Buffer;
  const privateKey = Buffer.isBuffer(generated)
    ? createPrivateKey({ key: generated, format: "der", type: "pkcs8" })
    : createPrivateKey({ key: generated, format: "jwk" });
  return { privateKey, publicKey: createPublicKey(privateKey) };
}
