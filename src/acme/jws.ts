/**
 * JWS for ACME (RFC 8555 §6.2): flattened JSON serialization, protected
 * header with `alg`, `nonce`, `url` and either the account's `jwk` (newAccount,
 * revocation by key) or its `kid` (the account URL, every other request).
 * Requests are signed with node:crypto straight from the account KeyObject:
 * every ACME request is signed, and jose's path (a WebCrypto key made from
 * the KeyObject, an async job) cost a quarter more CPU per signature than the
 * RSA signature itself. The signature is made in libuv's thread pool
 * (`crypto.sign` with a callback), not on the event loop: an RS256 signature
 * with an RSA-2048 key is about 0.3 ms of CPU, over 7 of them per ACME
 * certificate, which on the event loop is time no reconcile can run, while the
 * thread pool runs them on another core. What depends only on the key
 * (algorithm, public JWK, thumbprint) is worked out once per KeyObject, not
 * per request.
 *
 * Account keys: RSA (>= 2048 bits, RS256: cert-manager's default, an RSA-2048
 * PKCS#1 key) and EC P-256 (ES256) or P-384 (ES384).
 */
import { createPublicKey, type JsonWebKey, type KeyObject, sign } from "node:crypto";
import { calculateJwkThumbprint, FlattenedSign, type JWK } from "jose";
import { MeshsignError } from "../errors/index.js";

export type AccountKeyAlgorithm = "RS256" | "ES256" | "ES384";

/** A flattened JWS, the body of every ACME POST. */
export interface FlattenedJws {
  readonly protected: string;
  readonly payload: string;
  readonly signature: string;
}

/** What signing needs of one account key, worked out once (KeyObjects are immutable). */
interface KeyFacts {
  readonly alg: AccountKeyAlgorithm;
  readonly jwk: JWK;
  thumbprint?: string;
}
const facts = new WeakMap<KeyObject, KeyFacts>();

function factsOf(key: KeyObject): KeyFacts {
  let f = facts.get(key);
  if (f === undefined) {
    f = { alg: checkAlgorithm(key), jwk: publicJwk(key) };
    facts.set(key, f);
  }
  return f;
}

/** The JWS algorithm for an account key; ERR_KEY_INVALID for keys ACME servers refuse. */
export function accountKeyAlgorithm(key: KeyObject): AccountKeyAlgorithm {
  return factsOf(key).alg;
}

function checkAlgorithm(key: KeyObject): AccountKeyAlgorithm {
  if (key.type !== "private")
    throw new MeshsignError("ERR_KEY_INVALID", "the ACME account key is not a private key");
  const d = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === "rsa") {
    if ((d?.modulusLength ?? 0) < 2048)
      throw new MeshsignError("ERR_KEY_INVALID", "the ACME account key is RSA shorter than 2048 bits");
    return "RS256";
  }
  if (key.asymmetricKeyType === "ec" && d?.namedCurve === "prime256v1") return "ES256";
  if (key.asymmetricKeyType === "ec" && d?.namedCurve === "secp384r1") return "ES384";
  throw new MeshsignError(
    "ERR_KEY_INVALID",
    "the ACME account key must be RSA (>= 2048 bits) or EC P-256/P-384",
  );
}

/** The public JWK of an account key (only the members RFC 7638 hashes, plus kty). */
export function accountJwk(key: KeyObject): JWK {
  return factsOf(key).jwk;
}

function publicJwk(key: KeyObject): JWK {
  const jwk = createPublicKey(key).export({ format: "jwk" }) as JsonWebKey;
  return jwk.kty === "RSA"
    ? { kty: "RSA", n: jwk.n as string, e: jwk.e as string }
    : { kty: "EC", crv: jwk.crv as string, x: jwk.x as string, y: jwk.y as string };
}

/** Signs `payload` (undefined = POST-as-GET, an empty payload) for `url`. */
export async function signRequest(options: {
  readonly key: KeyObject;
  readonly url: string;
  readonly nonce: string;
  /** The account URL; without it the public key goes in as `jwk`. */
  readonly kid?: string;
  readonly payload: unknown;
}): Promise<FlattenedJws> {
  const { alg, jwk } = factsOf(options.key);
  const header =
    options.kid === undefined
      ? { alg, nonce: options.nonce, url: options.url, jwk }
      : { alg, nonce: options.nonce, url: options.url, kid: options.kid };
  const protectedB64 = Buffer.from(JSON.stringify(header)).toString("base64url");
  const payloadB64 =
    options.payload === undefined ? "" : Buffer.from(JSON.stringify(options.payload)).toString("base64url");
  const input = Buffer.from(`${protectedB64}.${payloadB64}`, "ascii");
  // RFC 7518 §3.3 (RS256: PKCS#1 v1.5) and §3.4 (ES256/ES384: r || s, not DER).
  const signature = await new Promise<Buffer>((resolve, reject) => {
    const done = (err: Error | null, sig: Buffer): void => (err === null ? resolve(sig) : reject(err));
    if (alg === "RS256") sign("sha256", input, options.key, done);
    else sign(alg === "ES256" ? "sha256" : "sha384", input, { key: options.key, dsaEncoding: "ieee-p1363" }, done);
  });
  return { protected: protectedB64, payload: payloadB64, signature: signature.toString("base64url") };
}

/**
 * The External Account Binding (RFC 8555 §7.3.4): the account's public JWK,
 * MAC'd with HS256 under the CA-issued key, `kid` the CA's key id, `url` the
 * newAccount URL. `hmacKey` is base64url without padding (as cert-manager
 * requires); a wrong shape is refused here, before anything is sent.
 */
export async function externalAccountBinding(options: {
  readonly accountKey: KeyObject;
  readonly keyId: string;
  readonly hmacKey: string;
  readonly url: string;
}): Promise<FlattenedJws> {
  if (!/^[A-Za-z0-9_-]+$/.test(options.hmacKey))
    throw new MeshsignError("ERR_KEY_INVALID", "the External Account Binding key is not un-padded base64url");
  if (options.keyId.length === 0)
    throw new MeshsignError("ERR_CONFIG_INVALID", "the External Account Binding keyID is empty");
  const mac = Buffer.from(options.hmacKey, "base64url");
  const payload = new TextEncoder().encode(JSON.stringify(accountJwk(options.accountKey)));
  const jws = await new FlattenedSign(payload)
    .setProtectedHeader({ alg: "HS256", kid: options.keyId, url: options.url })
    .sign(mac);
  return { protected: jws.protected as string, payload: jws.payload, signature: jws.signature };
}

/** The key authorization of a challenge token (RFC 8555 §8.1): `token.thumbprint`. */
export async function keyAuthorization(token: string, accountKey: KeyObject): Promise<string> {
  const f = factsOf(accountKey);
  f.thumbprint ??= await calculateJwkThumbprint(f.jwk, "sha256");
  return `${token}.${f.thumbprint}`;
}
