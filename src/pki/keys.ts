/**
 * Key generation and encoding, and a CSR builder shaped like istio-agent's
 * (subject O="", one critical URI SAN). Used by the CLI, the engine, tests and
 * the load generator; not on the server's hot path.
 */
import {
  constants,
  createPrivateKey,
  createPublicKey,
  generateKeyPair,
  generateKeyPairSync,
  type JsonWebKey,
  type KeyObject,
  sign,
} from "node:crypto";
import { promisify } from "node:util";
import { MeshsignError } from "../errors/index.js";
import {
  bitString,
  constructed,
  explicit,
  NULL_VALUE,
  oid,
  sequence,
  setOf,
  smallInteger,
  Tag,
  tlv,
} from "./der/writer.js";
import { signingAlgorithmFor } from "./lib/algorithms.js";
import {
  basicConstraintsExtension,
  encodeExtension,
  encodeSanValue,
  extKeyUsageExtension,
  keyUsageExtension,
} from "./lib/extensions.js";
import { encodeNameConstraintsValue } from "./lib/name-constraints.js";
import { encodeName } from "./lib/names.js";
import { EXTENSION_REQUEST_OID, ExtensionOid, HashOid, MGF1_OID, NameOid, SignatureOid } from "./oids.js";
import { encodePem } from "./pem.js";
import type { ExtKeyUsage, KeyUsage, Name, NameConstraints, OtherName } from "./template.js";

/** Which key to generate. */
export type KeySpec =
  | { readonly type: "rsa"; readonly bits: 2048 | 3072 | 4096 }
  | { readonly type: "ec"; readonly curve: "P-256" | "P-384" | "P-521" }
  | { readonly type: "ed25519" };

const generateKeyPairAsync = promisify(generateKeyPair);

/**
 * Keys are generated as JWK and imported, so that the KeyObject handed out is the caller's alone.
 * In Node.js 20 the KeyObjects a key generation job returns share the job's lock, and the job's
 * destructor takes that lock; a synchronous job is destroyed by whichever garbage collection frees
 * it, and that can run inside a KeyObject call that holds the lock while it allocates
 * (`asymmetricKeyDetails` of an EC key): the thread then waits for good on a lock it holds itself,
 * which is how a test process hung (gdb: GetEcKeyDetail, a GC, ~KeyGenJob, the same mutex owned by
 * the waiting thread). An imported key has a lock of its own. JWK, not DER: importing PKCS#8 DER
 * through OpenSSL 3's decoders cost ~0.9 ms per P-256 key on the 2-core host, a JWK round trip
 * ~0.17 ms (generation alone ~0.07-0.1 ms); no request path generates keys.
 */
const AS_JWK = {
  publicKeyEncoding: { format: "jwk" },
  privateKeyEncoding: { format: "jwk" },
} as const;

function importGenerated(jwk: JsonWebKey): KeyObject {
  return createPrivateKey({ key: jwk, format: "jwk" });
}

/** node:crypto's generateKeyPairSync for `type` and `options`, returning a private KeyObject of its own (see AS_JWK). */
export function generatePrivateKeyObjectSync(
  type: "rsa" | "ec" | "ed25519",
  options: { modulusLength?: number; namedCurve?: string },
): KeyObject {
  // biome-ignore lint/suspicious/noExplicitAny: node's overloads do not accept a union of type names.
  return importGenerated((generateKeyPairSync as any)(type, { ...options, ...AS_JWK }).privateKey as JsonWebKey);
}

/** generatePrivateKeyObjectSync in libuv's thread pool. */
export async function generatePrivateKeyObject(
  type: "rsa" | "ec" | "ed25519",
  options: { modulusLength?: number; namedCurve?: string },
): Promise<KeyObject> {
  // biome-ignore lint/suspicious/noExplicitAny: see generatePrivateKeyObjectSync.
  const { privateKey } = await (generateKeyPairAsync as any)(type, { ...options, ...AS_JWK });
  return importGenerated(privateKey as JsonWebKey);
}

function keygenArgs(
  spec: KeySpec,
): ["rsa", { modulusLength: number }] | ["ec", { namedCurve: string }] | ["ed25519", Record<string, never>] {
  switch (spec.type) {
    case "rsa":
      if (![2048, 3072, 4096].includes(spec.bits))
        throw new MeshsignError("ERR_KEY_INVALID", "RSA key size must be 2048, 3072 or 4096");
      return ["rsa", { modulusLength: spec.bits }];
    case "ec":
      if (!["P-256", "P-384", "P-521"].includes(spec.curve))
        throw new MeshsignError("ERR_KEY_INVALID", "EC curve must be P-256, P-384 or P-521");
      return ["ec", { namedCurve: spec.curve }];
    case "ed25519":
      return ["ed25519", {}];
    default:
      throw new MeshsignError("ERR_KEY_INVALID", "unknown key type");
  }
}

/** Generates a private key off the main thread (RSA 4096 takes about a second). */
export async function generateKey(spec: KeySpec): Promise<KeyObject> {
  const [type, opts] = keygenArgs(spec);
  return generatePrivateKeyObject(type, opts);
}

/** Generates a private key synchronously (blocks: keep it off request paths). */
export function generateKeySync(spec: KeySpec): KeyObject {
  const [type, opts] = keygenArgs(spec);
  return generatePrivateKeyObjectSync(type, opts);
}

export type PrivateKeyFormat = "pkcs8" | "pkcs1" | "sec1";

/**
 * PEM of a private key: PKCS#8 ("PRIVATE KEY") for any key, PKCS#1 ("RSA
 * PRIVATE KEY") for RSA, SEC 1 ("EC PRIVATE KEY") for EC.
 */
export function privateKeyToPem(key: KeyObject, format: PrivateKeyFormat = "pkcs8"): string {
  if (key.type !== "private") throw new MeshsignError("ERR_KEY_INVALID", "not a private key");
  if (format === "pkcs1" && key.asymmetricKeyType !== "rsa")
    throw new MeshsignError("ERR_KEY_INVALID", "PKCS#1 encodes RSA keys only");
  if (format === "sec1" && key.asymmetricKeyType !== "ec")
    throw new MeshsignError("ERR_KEY_INVALID", "SEC 1 encodes EC keys only");
  return key.export({ type: format, format: "pem" }).toString();
}

/** Reads an unencrypted private key from PEM (PKCS#8, PKCS#1 or SEC 1). */
export function privateKeyFromPem(pem: string): KeyObject {
  try {
    return createPrivateKey({ key: pem, format: "pem" });
  } catch (err) {
    // node's message may quote the input: keep it out of the client-safe message.
    throw new MeshsignError("ERR_KEY_INVALID", "private key PEM is not a valid unencrypted key", {
      cause: err,
    });
  }
}

const spkiCache = new WeakMap<KeyObject, Uint8Array>();

/** DER SubjectPublicKeyInfo of a private or public key (cached per KeyObject; do not mutate the result). */
export function publicKeySpki(key: KeyObject): Uint8Array {
  let spki = spkiCache.get(key);
  if (spki === undefined) {
    const pub = key.type === "private" ? createPublicKey(key) : key;
    spki = new Uint8Array(pub.export({ type: "spki", format: "der" }));
    spkiCache.set(key, spki);
  }
  return spki;
}

/** What to put in a CSR. */
export interface CsrOptions {
  /** Default: istio-agent's `O=""`. Pass `[]` for an empty subject (ztunnel). */
  readonly subject?: Name;
  readonly uris?: readonly string[];
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
  readonly emailAddresses?: readonly string[];
  /** otherName SANs with UTF8String values (cert-manager's `otherNames`). */
  readonly otherNames?: readonly OtherName[];
  /** Default true, as istio-agent ("SAN is critical because the subject is empty"). */
  readonly sanCritical?: boolean;
  readonly keyUsage?: readonly KeyUsage[];
  readonly extKeyUsage?: readonly ExtKeyUsage[];
  readonly basicConstraints?: { readonly isCA: boolean; readonly maxPathLen?: number };
  /** NameConstraints the CA certificate should carry (cert-manager writes them into the CSR). */
  readonly nameConstraints?: NameConstraints;
  /** Raw extra extensions (tests use these to build hostile CSRs). */
  readonly extraExtensions?: readonly {
    readonly oid: string;
    readonly critical: boolean;
    readonly value: Uint8Array;
  }[];
  /** RSA keys only: sign with RSASSA-PSS (SHA-256, salt 32) instead of PKCS#1 v1.5. */
  readonly rsaPss?: boolean;
}

function pssAlgorithmIdentifier(): Uint8Array {
  const sha256 = sequence(oid(HashOid.sha256), NULL_VALUE);
  return sequence(
    oid(SignatureOid.rsassaPss),
    sequence(
      explicit(0, sha256),
      explicit(1, sequence(oid(MGF1_OID), sha256)),
      explicit(2, smallInteger(32)),
    ),
  );
}

/** Builds and signs a PKCS#10 CSR; returns PEM "CERTIFICATE REQUEST". */
export function buildCsr(privateKey: KeyObject, options: CsrOptions = {}): string {
  return encodePem("CERTIFICATE REQUEST", buildCsrDer(privateKey, options));
}

/** As {@link buildCsr}, returning DER. */
export function buildCsrDer(privateKey: KeyObject, options: CsrOptions = {}): Uint8Array {
  const alg = signingAlgorithmFor(privateKey);
  if (alg === undefined || privateKey.type !== "private")
    throw new MeshsignError("ERR_KEY_INVALID", "unsupported private key");
  let subject: Uint8Array;
  const extensions: Uint8Array[] = [];
  try {
    subject = encodeName(options.subject ?? [[{ type: NameOid.organizationName, value: "" }]]);
    const san = encodeSanValue(options);
    if (san !== undefined)
      extensions.push(encodeExtension(ExtensionOid.subjectAltName, options.sanCritical ?? true, san));
    if (options.keyUsage !== undefined) extensions.push(keyUsageExtension(options.keyUsage));
    if (options.extKeyUsage !== undefined) extensions.push(extKeyUsageExtension(options.extKeyUsage));
    if (options.basicConstraints !== undefined) {
      extensions.push(
        basicConstraintsExtension(options.basicConstraints.isCA, options.basicConstraints.maxPathLen),
      );
    }
    if (options.nameConstraints !== undefined) {
      const nc = encodeNameConstraintsValue(options.nameConstraints);
      if (nc === undefined) throw new Error("nameConstraints must hold at least one permitted or excluded subtree");
      extensions.push(encodeExtension(ExtensionOid.nameConstraints, options.nameConstraints.critical, nc));
    }
    for (const e of options.extraExtensions ?? [])
      extensions.push(encodeExtension(e.oid, e.critical, e.value));
  } catch (err) {
    throw new MeshsignError("ERR_KEY_INVALID", `invalid CSR options: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const attributes =
    extensions.length === 0
      ? constructed(0xa0, [])
      : constructed(0xa0, [sequence(oid(EXTENSION_REQUEST_OID), setOf([sequence(...extensions)]))]);
  const info = sequence(
    tlv(Tag.INTEGER, new Uint8Array([0])),
    subject,
    publicKeySpki(privateKey),
    attributes,
  );
  let algorithmIdentifier = alg.algorithmIdentifier;
  let signature: Uint8Array;
  if (options.rsaPss === true) {
    if (privateKey.asymmetricKeyType !== "rsa")
      throw new MeshsignError("ERR_KEY_INVALID", "RSASSA-PSS needs an RSA key");
    algorithmIdentifier = pssAlgorithmIdentifier();
    signature = sign("sha256", info, {
      key: privateKey,
      padding: constants.RSA_PKCS1_PSS_PADDING,
      saltLength: 32,
    });
  } else {
    signature = sign(alg.hash, info, privateKey);
  }
  return sequence(info, algorithmIdentifier, bitString(signature));
}
