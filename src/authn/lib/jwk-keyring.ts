import type { JsonWebKey, KeyObject } from "node:crypto";
import { createPublicKey } from "node:crypto";
import type { JSONWebKeySet, JWK } from "jose";
import type { JwsAlgorithm } from "./jws-algorithms.js";

/** One key of a JWKS, imported once. */
export interface VerificationKey {
  readonly kty: string;
  readonly kid: string | undefined;
  /** The JWK's `alg`, when it pins one (a non-string value pins nothing a token can match). */
  readonly alg: unknown;
  readonly crv: string | undefined;
  /**
   * The imported public key; undefined when the JWK could not be imported (bad
   * key material, or `key_ops` allowing more than "verify"). Such a key still
   * answers to its `kid`, so a token naming it is refused rather than sent to a re-fetch.
   */
  readonly key: KeyObject | undefined;
  /** Modulus length of an RSA key. */
  readonly rsaBits: number | undefined;
}

/**
 * The keys of a JWKS, each imported into a `KeyObject` when the set is loaded
 * (not per request), and the selection rule for a token's `alg` and `kid`.
 *
 * The selection matches jose's `createLocalJWKSet`, so swapping the verifier
 * changes no decision: a key is a candidate when its `kty`/`crv` fit the
 * algorithm, its `kid` equals the token's (any key when the token names none),
 * its `alg` (if any) equals the token's, and `use`/`key_ops`/`ext` allow verifying.
 */
export class JwkKeyRing {
  private constructor(private readonly keys: readonly VerificationKey[]) {}

  /** Imports every key of `jwks` (expected to hold public asymmetric keys, see jwks-source). */
  static fromJwks(jwks: JSONWebKeySet): JwkKeyRing {
    return new JwkKeyRing(jwks.keys.filter(isVerificationJwk).map(importKey));
  }

  get size(): number {
    return this.keys.length;
  }

  /** The keys that may verify a token with algorithm `alg` and header `kid` (any value: only strings match). */
  candidates(alg: JwsAlgorithm, kid: unknown): VerificationKey[] {
    const out: VerificationKey[] = [];
    for (const k of this.keys) {
      if (k.kty !== alg.kty) continue;
      if (alg.crv !== undefined && k.crv !== alg.crv) continue;
      if (kid !== undefined && (typeof kid !== "string" || kid !== k.kid)) continue;
      if (k.alg !== undefined && k.alg !== alg.name) continue;
      out.push(k);
    }
    return out;
  }
}

/** `use`, `key_ops` and `ext` permit verifying (RFC 7517 §4.2, §4.3; WebCrypto's `ext`). */
function isVerificationJwk(jwk: JWK): boolean {
  if (jwk.ext !== undefined && typeof jwk.ext !== "boolean") return false;
  if (jwk.use !== undefined && jwk.use !== "sig") return false;
  const ops: unknown = jwk.key_ops;
  if (ops === undefined) return true;
  return (
    Array.isArray(ops) &&
    ops.every((op, i) => typeof op === "string" && ops.indexOf(op) === i) &&
    ops.includes("verify")
  );
}

function importKey(jwk: JWK): VerificationKey {
  const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
  let key: KeyObject | undefined;
  // A public key can only ever verify: WebCrypto (and so jose) refuses to import one whose key_ops ask for more.
  if (jwk.key_ops === undefined || jwk.key_ops.every((op) => op === "verify")) {
    try {
      const imported = createPublicKey({ key: jwk as JsonWebKey, format: "jwk" });
      if (imported.type === "public") key = imported;
    } catch {
      key = undefined;
    }
  }
  const bits = key?.asymmetricKeyDetails?.modulusLength;
  return {
    kty: String(jwk.kty),
    kid: str(jwk.kid),
    alg: jwk.alg,
    crv: str(jwk.crv),
    key,
    rsaBits: typeof bits === "number" ? bits : undefined,
  };
}
