import { createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { type JWTPayload, SignJWT } from "jose";
import { DEV_TOKEN_ISSUER, DEV_TOKEN_KEY_FILE } from "../../src/authn/index.js";
import { keyPairSync } from "./key-pair.js";

/**
 * Builders of hostile and near-miss service-account tokens. Each starts from
 * the claims the dev issuer would mint and changes one thing.
 */

/** The data dir's dev signing key (the key the server trusts). */
export function devSigningKey(dataDir: string): KeyObject {
  return createPrivateKey(readFileSync(path.join(dataDir, DEV_TOKEN_KEY_FILE)));
}

/** Claims of a valid Kubernetes service-account token for ns/sa, from `nowSeconds` for an hour. */
export function serviceAccountClaims(
  ns: string,
  sa: string,
  nowSeconds = Math.floor(Date.now() / 1000),
): JWTPayload {
  return {
    iss: DEV_TOKEN_ISSUER,
    aud: ["istio-ca"],
    sub: `system:serviceaccount:${ns}:${sa}`,
    iat: nowSeconds,
    nbf: nowSeconds,
    exp: nowSeconds + 3600,
    "kubernetes.io": {
      namespace: ns,
      serviceaccount: { name: sa, uid: "3f0b2b8e-1c1d-4c59-9a0e-6f2b1b6f9d10" },
    },
  };
}

/** Signs `claims` with an ES256 key under the protected header `header` (kid etc.). */
export function signEs256(
  key: KeyObject,
  claims: JWTPayload,
  header: Record<string, unknown>,
): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: "ES256", typ: "JWT", ...header }).sign(key);
}

/** A fresh ES256 key nobody trusts. */
export function strangerKey(): KeyObject {
  return keyPairSync("ec", { namedCurve: "P-256" }).privateKey;
}

/** `alg: none`: header.payload. with an empty signature. */
export function unsignedToken(claims: JWTPayload, kid: string): string {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
  return `${b64({ alg: "none", typ: "JWT", kid })}.${b64(claims)}.`;
}

/**
 * The HMAC confusion attack: HS256 with the verifier's *public* key (its PEM
 * bytes) as the shared secret, hoping the verifier feeds the same bytes to HMAC.
 */
export function hmacWithPublicKey(signingKey: KeyObject, claims: JWTPayload, kid: string): Promise<string> {
  const publicPem = createPublicKey(signingKey).export({ type: "spki", format: "pem" }).toString();
  return new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256", typ: "JWT", kid })
    .sign(new TextEncoder().encode(publicPem));
}
