/**
 * Signature and public-key algorithms: AlgorithmIdentifier encodings for the
 * keys meshsign signs with, parsing of the ones it verifies, and the mapping
 * to node:crypto calls (always with KeyObjects).
 */
import { constants, createPublicKey, type KeyObject, verify } from "node:crypto";
import type { DerReader } from "../der/reader.js";
import { DerReader as Reader } from "../der/reader.js";
import { NULL_VALUE, oid, sequence, Tag } from "../der/writer.js";
import { CurveOid, HashOid, KeyAlgorithmOid, MGF1_OID, SignatureOid } from "../oids.js";

/** A public key's algorithm, as policy sees it. */
export type KeyAlgorithm =
  | { readonly type: "rsa"; readonly bits: number }
  | { readonly type: "ec"; readonly curve: "P-256" | "P-384" | "P-521" }
  | { readonly type: "ed25519" };

export type HashName = "sha256" | "sha384" | "sha512";

/** A parsed signature AlgorithmIdentifier. */
export type SignatureAlgorithm =
  | { readonly kind: "rsa-pkcs1"; readonly hash: HashName }
  | { readonly kind: "rsa-pss"; readonly hash: HashName; readonly saltLength: number }
  | { readonly kind: "ecdsa"; readonly hash: HashName }
  | { readonly kind: "ed25519" }
  /**
   * Known but refused (SHA-1, RSASSA-PSS parameters Go refuses) or unknown: signatures never
   * verify. `reason`, when set, says why in words safe to show.
   */
  | { readonly kind: "unsupported"; readonly oid: string; readonly reason?: string };

const RSA_PKCS1: Record<string, HashName> = {
  [SignatureOid.sha256WithRsa]: "sha256",
  [SignatureOid.sha384WithRsa]: "sha384",
  [SignatureOid.sha512WithRsa]: "sha512",
};
const ECDSA: Record<string, HashName> = {
  [SignatureOid.ecdsaWithSha256]: "sha256",
  [SignatureOid.ecdsaWithSha384]: "sha384",
  [SignatureOid.ecdsaWithSha512]: "sha512",
};
const HASHES: Record<string, HashName> = {
  [HashOid.sha256]: "sha256",
  [HashOid.sha384]: "sha384",
  [HashOid.sha512]: "sha512",
};
const HASH_BYTES: Record<HashName, number> = { sha256: 32, sha384: 48, sha512: 64 };

/** Reads `AlgorithmIdentifier` of a signature. Malformed DER fails; unknown algorithms are "unsupported". */
export function readSignatureAlgorithm(r: DerReader): SignatureAlgorithm {
  const seq = r.sequence("AlgorithmIdentifier");
  const id = seq.oid(seq.expect(Tag.OID, "algorithm"));
  const rsa = RSA_PKCS1[id];
  if (rsa !== undefined) {
    // RFC 4055 §5: parameters MUST be NULL; absent is accepted as many encoders omit it.
    const p = seq.optional(Tag.NULL);
    if (p !== undefined) seq.null(p);
    seq.finish("AlgorithmIdentifier");
    return { kind: "rsa-pkcs1", hash: rsa };
  }
  const ec = ECDSA[id];
  if (ec !== undefined) {
    seq.finish("AlgorithmIdentifier"); // RFC 5758 §3.2: parameters MUST be absent.
    return { kind: "ecdsa", hash: ec };
  }
  if (id === SignatureOid.ed25519) {
    seq.finish("AlgorithmIdentifier"); // RFC 8410 §3: parameters MUST be absent.
    return { kind: "ed25519" };
  }
  if (id === SignatureOid.rsassaPss) {
    const params = readPssParams(seq);
    seq.finish("AlgorithmIdentifier");
    return typeof params === "string" ? { kind: "unsupported", oid: id, reason: params } : params;
  }
  // Unknown algorithm: skip its parameters, whatever they are.
  if (!seq.atEnd()) seq.next();
  seq.finish("AlgorithmIdentifier");
  return { kind: "unsupported", oid: id };
}

function readHashAlgorithm(r: DerReader): string {
  const seq = r.sequence("HashAlgorithm");
  const id = seq.oid(seq.expect(Tag.OID, "hash algorithm"));
  const p = seq.optional(Tag.NULL);
  if (p !== undefined) seq.null(p);
  seq.finish("HashAlgorithm");
  return id;
}

const PSS_SUPPORTED =
  "only SHA-256, SHA-384 or SHA-512 with MGF1 of the same hash and a salt as long as the hash is supported, as in Go's crypto/x509 and BoringSSL";

/**
 * RFC 4055 §3.1 RSASSA-PSS-params, accepted as Go's crypto/x509 (istiod,
 * istio-agent, Vault) and BoringSSL (Envoy) accept them: SHA-2, MGF1 of the
 * same hash, trailer 1, and a salt exactly as long as the hash. A signature
 * with other parameters (OpenSSL makes them on request: RFC 4055's default
 * 20-byte salt, none, the longest) is one those peers cannot verify: never
 * verified here either, so a CA certificate signed that way is not taken
 * into chains they would refuse. Returns why otherwise.
 */
function readPssParams(r: DerReader): SignatureAlgorithm | string {
  const seq = r.sequence("RSASSA-PSS-params");
  let hashOid: string = HashOid.sha1;
  let mgfHashOid: string = HashOid.sha1;
  let saltLength = 20;
  let trailer = 1;
  const h = seq.optional(0xa0);
  if (h !== undefined) {
    const inner = seq.inside(h, "hashAlgorithm");
    hashOid = readHashAlgorithm(inner);
    inner.finish("hashAlgorithm");
  }
  const m = seq.optional(0xa1);
  if (m !== undefined) {
    const inner = seq.inside(m, "maskGenAlgorithm");
    const mgf = inner.sequence("MaskGenAlgorithm");
    inner.finish("maskGenAlgorithm");
    const mgfOid = mgf.oid(mgf.expect(Tag.OID, "mask generation function"));
    if (mgfOid !== MGF1_OID) return `RSASSA-PSS with mask generation function ${mgfOid}: ${PSS_SUPPORTED}`;
    mgfHashOid = readHashAlgorithm(mgf);
    mgf.finish("MaskGenAlgorithm");
  }
  const s = seq.optional(0xa2);
  if (s !== undefined) {
    const inner = seq.inside(s, "saltLength");
    saltLength = inner.smallInteger(inner.expect(Tag.INTEGER, "saltLength"), "saltLength");
    inner.finish("saltLength");
  }
  const t = seq.optional(0xa3);
  if (t !== undefined) {
    const inner = seq.inside(t, "trailerField");
    trailer = inner.smallInteger(inner.expect(Tag.INTEGER, "trailerField"), "trailerField");
    inner.finish("trailerField");
  }
  seq.finish("RSASSA-PSS-params");
  const hash = HASHES[hashOid];
  if (hash === undefined) return `RSASSA-PSS with hash ${hashOid}: ${PSS_SUPPORTED}`;
  if (mgfHashOid !== hashOid) return `RSASSA-PSS with MGF1 over another hash than ${hash}: ${PSS_SUPPORTED}`;
  if (trailer !== 1) return `RSASSA-PSS with trailer field ${trailer}: ${PSS_SUPPORTED}`;
  if (saltLength !== HASH_BYTES[hash])
    return `RSASSA-PSS with ${hash} and a ${saltLength}-byte salt: ${PSS_SUPPORTED}`;
  return { kind: "rsa-pss", hash, saltLength };
}

/**
 * Verifies `signature` over `data`. Never throws: a malformed signature, a
 * key of the wrong type or an unsupported algorithm all yield false.
 */
export function verifySignature(
  alg: SignatureAlgorithm,
  data: Uint8Array,
  signature: Uint8Array,
  key: KeyObject,
): boolean {
  try {
    const type = key.asymmetricKeyType;
    switch (alg.kind) {
      case "rsa-pkcs1":
        return type === "rsa" && verify(alg.hash, data, key, signature);
      case "rsa-pss":
        return (
          (type === "rsa" || type === "rsa-pss") &&
          verify(
            alg.hash,
            data,
            { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: alg.saltLength },
            signature,
          )
        );
      case "ecdsa":
        return type === "ec" && verify(alg.hash, data, key, signature);
      case "ed25519":
        return type === "ed25519" && verify(null, data, key, signature);
      default:
        return false;
    }
  } catch {
    return false;
  }
}

const CURVE_BY_OID: Record<string, "P-256" | "P-384" | "P-521"> = {
  [CurveOid["P-256"]]: "P-256",
  [CurveOid["P-384"]]: "P-384",
  [CurveOid["P-521"]]: "P-521",
};

/**
 * Reads a SubjectPublicKeyInfo and describes its algorithm. Returns the raw
 * SPKI, the subjectPublicKey bits (for key identifiers) and the algorithm, or
 * `unsupported` with the algorithm OID (and the curve OID for EC keys).
 */
export function readSpki(r: DerReader): {
  spki: Uint8Array;
  keyBits: Uint8Array;
  algorithm: KeyAlgorithmDraft;
} {
  const outer = r.expect(Tag.SEQUENCE, "SubjectPublicKeyInfo");
  const seq = r.inside(outer, "SubjectPublicKeyInfo");
  const alg = seq.sequence("AlgorithmIdentifier");
  const id = alg.oid(alg.expect(Tag.OID, "algorithm"));
  let algorithm: KeyAlgorithmDraft;
  if (id === KeyAlgorithmOid.rsaEncryption) {
    // RFC 3279 §2.3.1: the parameters MUST be NULL. Go's x509 refuses a key without them (in a CSR
    // and in a certificate), and a CSR's SPKI is copied into the leaf as it is.
    const p = alg.optional(Tag.NULL);
    if (p === undefined) alg.fail("rsaEncryption parameters must be NULL");
    else alg.null(p);
    algorithm = { type: "rsa" };
  } else if (id === KeyAlgorithmOid.ecPublicKey) {
    // RFC 5480 §2.1.1: namedCurve only (implicit and specified curves are not allowed).
    if (alg.peekTag() !== Tag.OID) {
      if (!alg.atEnd()) alg.next();
      algorithm = { type: "unsupported", oid: id };
    } else {
      const curveOid = alg.oid(alg.next());
      const curve = CURVE_BY_OID[curveOid];
      algorithm =
        curve === undefined ? { type: "unsupported", oid: `${id}/${curveOid}` } : { type: "ec", curve };
    }
  } else if (id === KeyAlgorithmOid.ed25519) {
    algorithm = { type: "ed25519" };
  } else {
    if (!alg.atEnd()) alg.next();
    algorithm = { type: "unsupported", oid: id };
  }
  alg.finish("AlgorithmIdentifier");
  const bits = seq.bitString(seq.expect(Tag.BIT_STRING, "subjectPublicKey"));
  if (bits.unusedBits !== 0) seq.fail("subjectPublicKey unused bits");
  seq.finish("SubjectPublicKeyInfo");
  return { spki: r.raw(outer), keyBits: bits.bytes, algorithm };
}

/** What readSpki knows before node:crypto has looked at the key (RSA size comes later). */
export type KeyAlgorithmDraft =
  | { readonly type: "rsa" }
  | { readonly type: "ec"; readonly curve: "P-256" | "P-384" | "P-521" }
  | { readonly type: "ed25519" }
  | { readonly type: "unsupported"; readonly oid: string };

const CURVE_SIZE: Record<"P-256" | "P-384" | "P-521", number> = { "P-256": 32, "P-384": 48, "P-521": 66 };

function b64u(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("base64url");
}

/**
 * The key as a JWK when its encoding allows the fast path: node imports JWKs
 * without OpenSSL 3's generic decoder, 10-20x faster for RSA and Ed25519 and
 * about 2x for P-256 (measured on the 2-core machine; see bench/pki.ts).
 * Undefined when only the DER path can handle it (compressed EC points) or is
 * faster: node's EC JWK import runs OpenSSL's full public-key check, a scalar
 * multiplication that P-256 does quickly but P-384 and P-521 do not (import
 * CPU per key, JWK vs DER: P-384 344-352 vs 103-106 us, P-521 748-762 vs
 * 94-99 us). Both paths refuse a point that is not on the curve.
 */
function spkiToJwk(keyBits: Uint8Array, draft: KeyAlgorithmDraft): Record<string, string> | undefined {
  switch (draft.type) {
    case "ed25519":
      return keyBits.length === 32 ? { kty: "OKP", crv: "Ed25519", x: b64u(keyBits) } : undefined;
    case "ec": {
      if (draft.curve !== "P-256") return undefined;
      const n = CURVE_SIZE[draft.curve];
      if (keyBits.length !== 1 + 2 * n || keyBits[0] !== 0x04) return undefined;
      return {
        kty: "EC",
        crv: draft.curve,
        x: b64u(keyBits.subarray(1, 1 + n)),
        y: b64u(keyBits.subarray(1 + n)),
      };
    }
    case "rsa": {
      // RFC 8017 A.1.1 RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }
      const r = new Reader(keyBits, "ERR_KEY_INVALID");
      const seq = r.sequence("RSAPublicKey");
      r.finish("RSAPublicKey");
      const nBytes = seq.integer(seq.expect(Tag.INTEGER, "modulus"), "modulus");
      const eBytes = seq.integer(seq.expect(Tag.INTEGER, "publicExponent"), "publicExponent");
      seq.finish("RSAPublicKey");
      if (((nBytes[0] as number) & 0x80) !== 0 || ((eBytes[0] as number) & 0x80) !== 0) return undefined;
      const strip = (b: Uint8Array) => (b.length > 1 && b[0] === 0 ? b.subarray(1) : b);
      return { kty: "RSA", n: b64u(strip(nBytes)), e: b64u(strip(eBytes)) };
    }
    default:
      return undefined;
  }
}

/**
 * Imports a supported SPKI into a KeyObject and completes its description;
 * undefined if the key is malformed or node rejects it (e.g. an EC point not
 * on the curve).
 */
export function importSpki(
  spki: Uint8Array,
  draft: KeyAlgorithmDraft,
  keyBits?: Uint8Array,
): { key: KeyObject; algorithm: KeyAlgorithm } | undefined {
  if (draft.type === "unsupported") return undefined;
  let key: KeyObject;
  try {
    const jwk = keyBits === undefined ? undefined : spkiToJwk(keyBits, draft);
    key =
      jwk !== undefined
        ? createPublicKey({ key: jwk, format: "jwk" })
        : createPublicKey({
            key: Buffer.from(spki.buffer, spki.byteOffset, spki.byteLength),
            format: "der",
            type: "spki",
          });
  } catch {
    return undefined;
  }
  if (draft.type === "rsa") {
    const bits = key.asymmetricKeyDetails?.modulusLength;
    if (key.asymmetricKeyType !== "rsa" || bits === undefined) return undefined;
    return { key, algorithm: { type: "rsa", bits } };
  }
  return { key, algorithm: draft };
}

/** How meshsign signs with a private key: the AlgorithmIdentifier DER and the node:crypto hash name. */
export interface SigningAlgorithm {
  readonly algorithmIdentifier: Uint8Array;
  /** null for Ed25519 (the hash is part of the algorithm). */
  readonly hash: HashName | null;
}

const EC_HASH: Record<string, { oid: string; hash: HashName }> = {
  prime256v1: { oid: SignatureOid.ecdsaWithSha256, hash: "sha256" },
  secp384r1: { oid: SignatureOid.ecdsaWithSha384, hash: "sha384" },
  secp521r1: { oid: SignatureOid.ecdsaWithSha512, hash: "sha512" },
};

/**
 * The signature algorithm for a private key: ecdsa-with-SHA256/384/512 by
 * curve (RFC 5758 pairing), sha256WithRSAEncryption, or Ed25519. Undefined for
 * anything else (RSA-PSS-only keys, Ed448, other curves).
 */
export function signingAlgorithmFor(key: KeyObject): SigningAlgorithm | undefined {
  switch (key.asymmetricKeyType) {
    case "ec": {
      const c = EC_HASH[key.asymmetricKeyDetails?.namedCurve ?? ""];
      return c === undefined ? undefined : { algorithmIdentifier: sequence(oid(c.oid)), hash: c.hash };
    }
    case "rsa":
      return { algorithmIdentifier: sequence(oid(SignatureOid.sha256WithRsa), NULL_VALUE), hash: "sha256" };
    case "ed25519":
      return { algorithmIdentifier: sequence(oid(SignatureOid.ed25519)), hash: null };
    default:
      return undefined;
  }
}

/** Reads a whole SPKI from bytes (used to validate a template's key), with the given error code. */
export function parseSpkiBytes(
  spki: Uint8Array,
  code: "ERR_SIGNING_FAILED" | "ERR_CERT_INVALID" | "ERR_KEY_INVALID",
) {
  const r = new Reader(spki, code);
  const out = readSpki(r);
  r.finish("SubjectPublicKeyInfo");
  return out;
}
