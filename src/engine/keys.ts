/**
 * Private keys for Certificates: generation per spec, the spec check used by
 * the trigger policies and rotationPolicy Never, and the Secret encodings
 * (PKCS#1 / SEC1 / PKCS#8).
 */
import { type KeyObject, createHash, createPrivateKey } from "node:crypto";
import { generatePrivateKeyObject, generatePrivateKeyObjectSync, publicKeySpki } from "../pki/index.js";
import type { KeyAlgorithm } from "./lib/spec.js";

export interface KeySpec {
  readonly keyAlgorithm: KeyAlgorithm;
  readonly keySize: number;
}

const CURVES: Record<number, string> = { 256: "prime256v1", 384: "secp384r1", 521: "secp521r1" };

/**
 * Generates a key. RSA (2048..8192) runs off the event loop in libuv's thread
 * pool: tens of milliseconds for 2048 bits, seconds for 4096. ECDSA
 * (256/384/521) and Ed25519 take well under a millisecond, less than a trip
 * through the thread pool (whose threads the store's fsyncs need), so they
 * are generated in place.
 */
export function generatePrivateKey(spec: KeySpec): Promise<KeyObject> {
  switch (spec.keyAlgorithm) {
    case "RSA":
      if (spec.keySize < 2048 || spec.keySize > 8192) return Promise.reject(new Error(`unsupported RSA key size ${spec.keySize}`));
      return generatePrivateKeyObject("rsa", { modulusLength: spec.keySize });
    case "ECDSA": {
      const namedCurve = CURVES[spec.keySize];
      if (namedCurve === undefined) return Promise.reject(new Error(`unsupported ECDSA key size ${spec.keySize}`));
      return Promise.resolve(generatePrivateKeyObjectSync("ec", { namedCurve }));
    }
    case "Ed25519":
      return Promise.resolve(generatePrivateKeyObjectSync("ed25519", {}));
  }
}

/** Whether generating this key is slow enough to need the thread pool (and a place in the key generation limit). */
export function isSlowKey(spec: KeySpec): boolean {
  return spec.keyAlgorithm === "RSA";
}

/** What the policies need to know about a key: its type and size (as KeyObject names them) and its SPKI. */
export type KeyShape = Pick<KeyObject, "asymmetricKeyType" | "asymmetricKeyDetails">;

/** The facts of a private key the policies check on every reconcile; the key itself is not kept. */
export interface KeyFacts extends KeyShape {
  /** DER SubjectPublicKeyInfo of the key's public half. */
  readonly spki: Buffer;
}

/** True when the key has the algorithm and size the spec asks for (cert-manager's PrivateKeyMatchesSpec). */
export function keyMatchesSpec(key: KeyShape, spec: KeySpec): boolean {
  const d = key.asymmetricKeyDetails ?? {};
  switch (spec.keyAlgorithm) {
    case "RSA":
      return key.asymmetricKeyType === "rsa" && d.modulusLength === spec.keySize;
    case "ECDSA":
      return key.asymmetricKeyType === "ec" && d.namedCurve === CURVES[spec.keySize];
    case "Ed25519":
      return key.asymmetricKeyType === "ed25519";
  }
}

/** Describes a key for messages ("RSA 2048", "ECDSA P-256", "Ed25519"). */
export function describeKey(key: KeyShape): string {
  const d = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === "rsa") return `RSA ${d.modulusLength}`;
  if (key.asymmetricKeyType === "ec") return `ECDSA ${d.namedCurve}`;
  return String(key.asymmetricKeyType);
}

/**
 * PEM for the Secret's tls.key. PKCS1 means "RSA PRIVATE KEY" for RSA and
 * SEC1 "EC PRIVATE KEY" for ECDSA, as cert-manager writes them; Ed25519 is
 * always PKCS#8.
 */
export function encodePrivateKey(key: KeyObject, encoding: "PKCS1" | "PKCS8"): string {
  let pem: string;
  if (encoding === "PKCS1" && key.asymmetricKeyType === "rsa") pem = key.export({ format: "pem", type: "pkcs1" }).toString();
  else if (encoding === "PKCS1" && key.asymmetricKeyType === "ec") pem = key.export({ format: "pem", type: "sec1" }).toString();
  else pem = key.export({ format: "pem", type: "pkcs8" }).toString();
  // The Secret written with this PEM is read back on the next reconcile: know its facts already.
  rememberFacts(pem, key);
  return pem;
}

/**
 * Entries kept (oldest dropped first). A Certificate's reconciles during one issuance or
 * renewal run close together (at most 32 at once), so a few thousand entries catch every
 * repeat; at steady state nothing is re-read until the renewal time, and 10,000s of entries
 * (about 1 KB each) only held memory.
 */
const FACTS_LIMIT = 1024;
/** sha256(PEM) -> facts. About 200-400 bytes an entry; a KeyObject would cost about 4 KB. */
const facts = new Map<string, KeyFacts>();

function digest(pem: string): string {
  return createHash("sha256").update(pem).digest("base64");
}

function rememberFacts(pem: string, key: KeyObject): KeyFacts {
  const f: KeyFacts = { asymmetricKeyType: key.asymmetricKeyType, asymmetricKeyDetails: key.asymmetricKeyDetails, spki: spkiOf(key) };
  const id = digest(pem);
  facts.delete(id);
  facts.set(id, f);
  if (facts.size > FACTS_LIMIT) {
    const oldest = facts.keys().next().value;
    if (oldest !== undefined) facts.delete(oldest);
  }
  return f;
}

/**
 * The facts of a PEM private key, memoized by its digest: parsing a key
 * costs about 0.4 ms, and the target Secret's key is checked on every
 * reconcile. Undefined when the PEM is not a private key.
 */
export function privateKeyFacts(pem: string): KeyFacts | undefined {
  const hit = facts.get(digest(pem));
  if (hit !== undefined) return hit;
  const key = parsePrivateKey(pem);
  return key === undefined ? undefined : rememberFacts(pem, key);
}

/** Parses a PEM private key (PKCS#1, SEC1 or PKCS#8); undefined when it is not one. */
export function parsePrivateKey(pem: string): KeyObject | undefined {
  try {
    const key = createPrivateKey(pem);
    return key.type === "private" ? key : undefined;
  } catch {
    return undefined;
  }
}

/** DER SubjectPublicKeyInfo of a private or public key (src/pki caches it per KeyObject: never mutate it). */
export function spkiOf(key: KeyObject): Buffer {
  const spki = publicKeySpki(key);
  return Buffer.from(spki.buffer, spki.byteOffset, spki.byteLength);
}
