import { DerReader } from "./der/reader.js";
import { readSpki } from "./lib/algorithms.js";

/**
 * The key type of a DER SubjectPublicKeyInfo, read without importing the key
 * (a few microseconds): "rsa", "ec", "ed25519", or "unsupported" for anything
 * else, including malformed input.
 */
export function spkiKeyType(spki: Uint8Array): "rsa" | "ec" | "ed25519" | "unsupported" {
  try {
    const r = new DerReader(spki, "ERR_KEY_INVALID");
    const { algorithm } = readSpki(r);
    r.finish("SubjectPublicKeyInfo");
    return algorithm.type;
  } catch {
    return "unsupported";
  }
}
