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
  /** {@link verify} on libuv's thread pool (node:crypto's callback form); never rejects. */
  readonly verifyAsync: (key: KeyObject, input: Uint8Array, signature: Uint8Array) => Promise<boolean>;
}

type VerifyKey = Parameters<typeof verify>[2];

/**
 * An algorithm from how node:crypto is called for it: the hash, the key argument and, when the
 * algorithm fixes it, the exact signature length. Its checks never throw: a signature that
 * node:crypto cannot even parse is simply not valid.
 */
function algorithm(
  base: Omit<JwsAlgorithm, "verify" | "verifyAsync">,
  hash: string | null,
  keyArgument: (key: KeyObject) => VerifyKey,
  signatureBytes?: number,
): JwsAlgorithm {
  const lengthOk = (signature: Uint8Array) =>
    signatureBytes === undefined || signature.length === signatureBytes;
  return {
    ...base,
    verify: (key, input, signature) => {
      if (!lengthOk(signature)) return false;
      try {
        return verify(hash, input, keyArgument(key), signature);
      } catch {
        return false;
      }
    },
    verifyAsync: (key, input, signature) =>
      new Promise((resolve) => {
        if (!lengthOk(signature)) return resolve(false);
        try {
          verify(hash, input, keyArgument(key), signature, (err, ok) => resolve(err === null && ok));
        } catch {
          resolve(false);
        }
      }),
  };
}

function rsaPkcs1(name: string, hash: string): JwsAlgorithm {
  return algorithm({ name, kty: "RSA", minRsaBits: 2048 }, hash, (key) => key);
}

function rsaPss(name: string, hash: string, saltLength: number): JwsAlgorithm {
  // RFC 7518 §3.5: MGF1 with the same hash, salt as long as the hash output.
  return algorithm({ name, kty: "RSA", minRsaBits: 2048 }, hash, (key) => ({
    key,
    padding: constants.RSA_PKCS1_PSS_PADDING,
    saltLength,
  }));
}

function ecdsa(name: string, crv: string, hash: string, signatureBytes: number): JwsAlgorithm {
  // RFC 7518 §3.4: R || S, each exactly the curve's size; anything else is not a JWS signature.
  return algorithm(
    { name, kty: "EC", crv },
    hash,
    (key) => ({ key, dsaEncoding: "ieee-p1363" }),
    signatureBytes,
  );
}

function eddsa(name: string): JwsAlgorithm {
  return algorithm({ name, kty: "OKP", crv: "Ed25519" }, null, (key) => key);
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
