/**
 * Test key pairs with node:crypto's generateKeyPairSync arguments, whose KeyObjects do not share
 * their lock with the generation job: in Node.js 20 a garbage collection that frees the job while
 * a KeyObject call holds that lock hangs the process for good (see src/pki/keys.ts). The private
 * key is generated as PKCS#8 DER and imported; the public key is derived from it.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";

export function keyPairSync(
  type: "rsa" | "ec" | "ed25519" | "ed448",
  options: { modulusLength?: number; publicExponent?: number; namedCurve?: string } = {},
): { privateKey: KeyObject; publicKey: KeyObject } {
  // biome-ignore lint/suspicious/noExplicitAny: node's overloads do not accept a union of type names.
  const { privateKey: der } = (generateKeyPairSync as any)(type, {
    ...options,
    publicKeyEncoding: { type: "spki", format: "der" },
    privateKeyEncoding: { type: "pkcs8", format: "der" },
  }) as { privateKey: Buffer };
  const privateKey = createPrivateKey({ key: der, format: "der", type: "pkcs8" });
  return { privateKey, publicKey: createPublicKey(privateKey) };
}
