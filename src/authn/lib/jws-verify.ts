import type { KeyObject } from "node:crypto";
import { decodeBase64urlStrict, isStrictBase64url } from "./base64url.js";
import { parseJsonObject } from "./json-object.js";
import type { JwkKeyRing, VerificationKey } from "./jwk-keyring.js";
import type { JwsAlgorithm } from "./jws-algorithms.js";
import { jwsAlgorithm } from "./jws-algorithms.js";
import { malformed, tokenError } from "./token-errors.js";

/** Critical header extensions understood (RFC 7515 §4.1.11); only `b64` (RFC 7797), and only as true. */
const UNDERSTOOD_CRIT = "b64";
/** Accepted headers remembered (an issuer has a handful: one per key and alg); the set is dropped when full. */
const MAX_REMEMBERED_HEADERS = 64;
/** Headers longer than this are checked every time, never remembered (a Kubernetes header is ~100 characters). */
const MAX_REMEMBERED_HEADER_LENGTH = 512;

/** A token taken apart, before its signature is checked. */
interface ParsedToken {
  readonly algorithm: JwsAlgorithm;
  readonly candidates: readonly VerificationKey[];
  readonly input: Buffer;
  readonly signature: Buffer;
  readonly payload: string;
}

function badSignature() {
  return tokenError(
    "ERR_TOKEN_SIGNATURE",
    "token signature invalid",
    "no candidate key verifies the signature",
  );
}

/** What the verifier needs of an accepted header. */
interface AcceptedHeader {
  readonly algorithm: JwsAlgorithm;
  readonly kid: unknown;
}

/**
 * Verifies compact JWS (RFC 7515 §7.1) signatures with `node:crypto`,
 * synchronously, against a {@link JwkKeyRing}: the CreateCertificate hot path.
 *
 * Accepts exactly three strict-base64url parts (no padding, no whitespace), a
 * JSON-object header whose `alg` is in the enabled list (never `none` or HMAC:
 * those have no algorithm entry at all), no critical extension except
 * `b64: true`, and a signature by one of the candidate keys. Returns the
 * payload bytes; the claims are checked separately.
 *
 * Decisions match jose's `jwtVerify` with `createLocalJWKSet` (the differential
 * tests hold both to it), except that non-canonical base64url and `b64: false`
 * are refused as malformed before any key is looked up.
 */
export class CompactJwsVerifier {
  private readonly algorithms: ReadonlySet<string>;
  /**
   * Encoded header -> its verdict, for headers that passed every header check.
   * Every token of an issuer carries the same few headers, so the parse and
   * checks run once per key rather than once per request. The outcome depends
   * only on the header text and the enabled algorithms, both fixed here.
   */
  private readonly accepted = new Map<string, AcceptedHeader>();

  /** @param algorithms the enabled `alg` values; names without an asymmetric entry are never accepted. */
  constructor(algorithms: readonly string[]) {
    this.algorithms = new Set(algorithms.filter((a) => jwsAlgorithm(a) !== undefined));
  }

  /**
   * The payload of `token` once its signature checks out.
   *
   * @throws MeshsignError ERR_TOKEN_MALFORMED, ERR_TOKEN_ALGORITHM,
   *   ERR_TOKEN_KID_UNKNOWN (no candidate key: the caller may re-fetch keys),
   *   ERR_TOKEN_SIGNATURE, or ERR_TOKEN_REJECTED (the matching key is unusable).
   */
  verify(token: string, keys: JwkKeyRing): Buffer {
    const t = this.parse(token, keys);
    if (!verifiedByAny(t.algorithm, t.candidates, t.input, t.signature)) throw badSignature();
    return Buffer.from(t.payload, "base64url");
  }

  /**
   * {@link verify} with the signature checks on libuv's thread pool, so the JavaScript thread
   * serves other requests meanwhile. The same checks, in the same order, with the same errors
   * (the parse and header errors as a rejected promise).
   */
  async verifyAsync(token: string, keys: JwkKeyRing): Promise<Buffer> {
    const t = this.parse(token, keys);
    if (!(await verifiedByAnyAsync(t.algorithm, t.candidates, t.input, t.signature))) throw badSignature();
    return Buffer.from(t.payload, "base64url");
  }

  /** Everything before the signature math: the token's parts, its algorithm and the candidate keys. */
  private parse(token: string, keys: JwkKeyRing): ParsedToken {
    const first = token.indexOf(".");
    const second = first < 0 ? -1 : token.indexOf(".", first + 1);
    if (second < 0 || token.indexOf(".", second + 1) >= 0) throw malformed("not three dot-separated parts");
    const { algorithm, kid } = this.header(token.slice(0, first));
    const payload = token.slice(first + 1, second);
    if (!isStrictBase64url(payload)) throw malformed("payload is not base64url");
    const signature = decodeBase64urlStrict(token.slice(second + 1));
    if (signature === undefined) throw malformed("signature is not base64url");
    const candidates = keys.candidates(algorithm, kid);
    if (candidates.length === 0) {
      throw tokenError(
        "ERR_TOKEN_KID_UNKNOWN",
        "token signing key (kid) unknown",
        "no key matches kid and alg",
      );
    }
    // All three parts are ASCII by now, so latin1 is the exact ASCII of the signing input.
    const input = Buffer.from(token.slice(0, second), "latin1");
    return { algorithm, candidates, input, signature, payload };
  }

  private header(encoded: string): AcceptedHeader {
    const known = this.accepted.get(encoded);
    if (known !== undefined) return known;
    const header = parseHeader(encoded);
    checkCritical(header);
    const accepted: AcceptedHeader = { algorithm: this.algorithmOf(header), kid: header.kid };
    if (encoded.length <= MAX_REMEMBERED_HEADER_LENGTH) {
      if (this.accepted.size >= MAX_REMEMBERED_HEADERS) this.accepted.clear();
      this.accepted.set(encoded, accepted);
    }
    return accepted;
  }

  private algorithmOf(header: Record<string, unknown>): JwsAlgorithm {
    const alg = header.alg;
    if (typeof alg !== "string" || alg.length === 0) throw malformed("header has no alg");
    const algorithm = this.algorithms.has(alg) ? jwsAlgorithm(alg) : undefined;
    if (algorithm === undefined) {
      throw tokenError("ERR_TOKEN_ALGORITHM", "token algorithm not allowed", "alg is not enabled");
    }
    return algorithm;
  }
}

function parseHeader(encoded: string): Record<string, unknown> {
  const bytes = decodeBase64urlStrict(encoded);
  if (bytes === undefined) throw malformed("header is not base64url");
  return parseJsonObject(bytes, "header");
}

/** RFC 7515 §4.1.11: every listed extension must be understood and present; RFC 7797 §6 for b64. */
function checkCritical(header: Record<string, unknown>): void {
  const crit = header.crit;
  if (crit === undefined) return;
  if (
    !Array.isArray(crit) ||
    crit.length === 0 ||
    crit.some((c) => typeof c !== "string" || c.length === 0)
  ) {
    throw malformed("crit is not an array of non-empty strings");
  }
  for (const name of crit) {
    if (name !== UNDERSTOOD_CRIT) {
      throw tokenError(
        "ERR_TOKEN_ALGORITHM",
        "token header extension not supported",
        "crit names an extension not understood",
      );
    }
    if (header[name] === undefined) throw malformed("crit names a header parameter that is absent");
  }
  if (typeof header.b64 !== "boolean") throw malformed("b64 is not a boolean");
  // An unencoded payload (RFC 7797) is never a JWT (RFC 7519 §7.2 wants base64url JWS payloads).
  if (!header.b64) throw malformed("unencoded payload (b64: false)");
}

/** A candidate key the algorithm may use, or why not: undefined = skip it (one of several without a kid). */
function usable(algorithm: JwsAlgorithm, candidate: VerificationKey, only: boolean): KeyObject | undefined {
  if (candidate.key === undefined) {
    // Named alone (by kid), an unusable key refuses the token; among several (no kid) it is skipped.
    if (only) throw tokenError("ERR_TOKEN_REJECTED", "token rejected", "signing key could not be imported");
    return undefined;
  }
  if (algorithm.minRsaBits !== undefined && (candidate.rsaBits ?? 0) < algorithm.minRsaBits) {
    throw tokenError("ERR_TOKEN_REJECTED", "token rejected", "RSA signing key shorter than 2048 bits");
  }
  return candidate.key;
}

function verifiedByAny(
  algorithm: JwsAlgorithm,
  candidates: readonly VerificationKey[],
  input: Buffer,
  signature: Buffer,
): boolean {
  const only = candidates.length === 1;
  for (const candidate of candidates) {
    const key = usable(algorithm, candidate, only);
    if (key !== undefined && algorithm.verify(key, input, signature)) return true;
  }
  return false;
}

/** {@link verifiedByAny} on the thread pool, one candidate after the other (the same order and errors). */
async function verifiedByAnyAsync(
  algorithm: JwsAlgorithm,
  candidates: readonly VerificationKey[],
  input: Buffer,
  signature: Buffer,
): Promise<boolean> {
  const only = candidates.length === 1;
  for (const candidate of candidates) {
    const key = usable(algorithm, candidate, only);
    if (key !== undefined && (await algorithm.verifyAsync(key, input, signature))) return true;
  }
  return false;
}
