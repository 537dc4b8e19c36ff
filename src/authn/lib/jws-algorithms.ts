import type { KeyObject } from "node:crypto";
import { constants, verify } from "node:crypto";

/**
 * One JWS signature algorithm (RFC 7518 §3, RFC 8037 §3.1) as `node:crypto`
 * verifies it. Asymmetric only: `none` and HS* have no entry, so no lookup can
 * ever turn a public key into an HMAC secret.
 */
export interface JwsAlgorithm {
  readonly name: string;
  /** The JWK `kty` a key must have. */
  readonly kty: "RSA" | "EC" | "OKP";
  /** The JWK `crv` a key must have (EC and OKP). */
  readonly crv?: string;
  /** RSA keys shorter than this are refused (RFC 7518 §3.3, §3.5: 2048 bits). */
  readonly minRsaBits?: number;
  /**
   * Verifies `signature` over `input`. Never throws: a signature that
   * `node:crypto` cannot even parse is simply not valid.
   */
  readonly verify: (key: KeyObject, input: Uint8Array, signature: Uint8Array) => boolean;
}

function guarded(check: (key: KeyObject, input: Uint8Array, signature: Uint8Array) => boolean) {
  return (key: KeyObject, input: Uint8Array, signature: Uint8Array): boolean => {
    try {
      return check(key, input, signature);
    } catch {
      return false;
    }
  };
}

function rsaPkcs1(name: string, hash: string): JwsAlgorithm {
  return {
    name,
    kty: "RSA",
    minRsaBits: 2048,
    verify: guarded((key, input, signature) => verify(hash, input, key, signature)),
  };
}

function rsaPss(name: string, hash: string, saltLength: number): JwsAlgorithm {
  return {
    name,
    kty: "RSA",
    minRsaBits: 2048,
    // RFC 7518 §3.5: MGF1 with the same hash, salt as long as the hash output.
    verify: guarded((key, input, signature) =>
      verify(hash, input, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength }, signature),
    ),
  };
}

function ecdsa(name: string, crv: string, hash: string, signatureBytes: number): JwsAlgorithm {
  return {
    name,
    kty: "EC",
    crv,
    // RFC 7518 §3.4: R || S, each exactly the curve's size; anything else is not a JWS signature.
    verify: guarded(
      (key, input, signature) =>
        signature.length === signatureBytes &&
        verify(hash, input, { key, dsaEncoding: "ieee-p1363" }, signature),
    ),
  };
}

function eddsa(name: string): JwsAlgorithm {
  return {
    name,
    kty: "OKP",
    crv: "Ed25519",
    verify: guarded((key, input, signature) => verify(null, input, key, signature)),
  };
}

const ALGORITHMS: ReadonlyMap<string, JwsAlgorithm> = new Map(
  [
    rsaPkcs1("RS256", "sha256"),
    rsaPkcs1("RS384", "sha384"),
    rsaPkcs1("RS512", "sha512"),
    rsaPss("PS256", "sha256", 32),
    rsaPss("PS384", "sha384", 48),
    rsaPss("PS512", "sha512", 64),
    ecdsa("ES256", "P-256", "sha256", 64),
    ecdsa("ES384", "P-384", "sha384", 96),
    ecdsa("ES512", "P-521", "sha512", 132),
    eddsa("EdDSA"),
    eddsa("Ed25519"),
  ].map((a) => [a.name, a]),
);

/** The algorithm named `alg`, or undefined for anything not asymmetric and supported. */
export function jwsAlgorithm(alg: string): JwsAlgorithm | undefined {
  return ALGORITHMS.get(alg);
}
