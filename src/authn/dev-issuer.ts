import type { KeyObject } from "node:crypto";
import { createHash, createPrivateKey, createPublicKey, randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import type { JSONWebKeySet, JWK } from "jose";
import { MeshsignError } from "../errors/index.js";
import { createFileExclusiveSync } from "../fsutil/index.js";
import { generatePrivateKeyObjectSync } from "../pki/index.js";
import { DEFAULT_TOKEN_AUDIENCES } from "./jwks-authenticator.js";
import { isNamespaceName, isServiceAccountName } from "./lib/kubernetes-names.js";
import type { Clock } from "./types.js";
import { systemClock } from "./types.js";

/**
 * `iss` of every development token. A `.local` name never resolves on the
 * internet, so no real issuer can share it by accident.
 */
export const DEV_TOKEN_ISSUER = "https://meshsign.dev.local";
/** The dev signing key inside the data dir: PKCS#8 PEM, mode 0600. */
export const DEV_TOKEN_KEY_FILE = "dev-token-key.pem";
/** The public half as a JWKS inside the data dir, for verifiers outside this process. */
export const DEV_JWKS_FILE = "dev-jwks.json";
/** Longest lifetime a dev token may have: one day, like istio-agent's default certificate TTL. */
export const DEV_TOKEN_MAX_TTL_SECONDS = 86_400;

export interface MintTokenRequest {
  readonly namespace: string;
  readonly serviceAccount: string;
  /** Default `istio-ca`. */
  readonly audience?: string;
  /** Default 3600, at most {@link DEV_TOKEN_MAX_TTL_SECONDS}. */
  readonly ttlSeconds?: number;
  /** Makes a bound token, like a projected one: adds `kubernetes.io.pod`. */
  readonly podName?: string;
  /** Pod UID for a bound token; a random UUID when only `podName` is given. */
  readonly podUid?: string;
}

export interface DevTokenIssuerOptions {
  /**
   * Whether the configuration enables the dev issuer. Required, so that no
   * code path can reach the key without having asked the configuration.
   */
  readonly enabled: boolean;
  readonly clock?: Clock;
}

/**
 * Throws ERR_DEV_ISSUER_DISABLED unless the configuration enables the dev
 * token issuer (it is on in the standalone default, never in Kubernetes mode).
 */
export function assertDevIssuerEnabled(enabled: boolean): void {
  if (!enabled) {
    throw new MeshsignError(
      "ERR_DEV_ISSUER_DISABLED",
      "the development token issuer is disabled; tokens must come from a real issuer (TokenReview, JWKS or OIDC)",
    );
  }
}

/**
 * A development token issuer for trying meshsign out without a cluster: an
 * ES256 key generated once in the data dir, reused on every start, that mints
 * Kubernetes-shaped service-account tokens. A JwksAuthenticator built on
 * {@link DevTokenIssuer.jwks} and {@link DEV_TOKEN_ISSUER} accepts them.
 */
export class DevTokenIssuer {
  readonly issuer = DEV_TOKEN_ISSUER;
  /** RFC 7638 thumbprint of the public key: stable across restarts. */
  readonly kid: string;
  readonly jwks: JSONWebKeySet;
  readonly keyFile: string;
  readonly jwksFile: string;
  private readonly privateKey: KeyObject;
  private readonly clock: Clock;

  private constructor(keyFile: string, jwksFile: string, privateKey: KeyObject, clock: Clock) {
    this.keyFile = keyFile;
    this.jwksFile = jwksFile;
    this.privateKey = privateKey;
    this.clock = clock;
    const jwk = publicJwk(privateKey);
    this.kid = jwk.kid as string;
    this.jwks = { keys: [jwk] };
  }

  /**
   * Loads the dev key from `<dataDir>/dev-token-key.pem`, or generates it on
   * first start (with `<dataDir>/dev-jwks.json`). Never regenerates silently:
   * a corrupt or mismatched file is an error naming it.
   *
   * @throws MeshsignError ERR_DEV_ISSUER_DISABLED when `options.enabled` is false;
   *   ERR_CONFIG_INVALID naming the file that is unreadable, corrupt or inconsistent.
   */
  static loadOrCreate(dataDir: string, options: DevTokenIssuerOptions): DevTokenIssuer {
    assertDevIssuerEnabled(options.enabled);
    const keyFile = path.join(dataDir, DEV_TOKEN_KEY_FILE);
    const jwksFile = path.join(dataDir, DEV_JWKS_FILE);
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    if (!existsSync(keyFile)) {
      if (existsSync(jwksFile)) {
        throw new MeshsignError(
          "ERR_CONFIG_INVALID",
          `${jwksFile} exists but its key ${keyFile} is missing; remove ${jwksFile} to generate a new dev key`,
        );
      }
      const privateKey = generatePrivateKeyObjectSync("ec", { namedCurve: "P-256" });
      // Losing the race to another process starting at the same time is fine: its key is then loaded below.
      createFileExclusiveSync(keyFile, privateKey.export({ type: "pkcs8", format: "pem" }) as string, 0o600);
    }
    const issuer = new DevTokenIssuer(keyFile, jwksFile, loadKey(keyFile), options.clock ?? systemClock);
    issuer.checkOrWriteJwks();
    return issuer;
  }

  /** Signs a service-account token for `namespace`/`serviceAccount`. */
  async mintToken(request: MintTokenRequest): Promise<string> {
    const { namespace, serviceAccount } = request;
    const audience = request.audience ?? DEFAULT_TOKEN_AUDIENCES[0] ?? "istio-ca";
    const ttl = request.ttlSeconds ?? 3600;
    if (!isNamespaceName(namespace))
      throw invalid(`namespace: ${JSON.stringify(namespace)} is not a valid namespace name`);
    if (!isServiceAccountName(serviceAccount)) {
      throw invalid(`serviceAccount: ${JSON.stringify(serviceAccount)} is not a valid service account name`);
    }
    if (audience.length === 0) throw invalid("audience: must not be empty");
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > DEV_TOKEN_MAX_TTL_SECONDS) {
      throw invalid(`ttlSeconds: must be an integer from 1 to ${DEV_TOKEN_MAX_TTL_SECONDS}`);
    }
    const now = Math.floor(this.clock() / 1000);
    const claim: Record<string, unknown> = {
      namespace,
      serviceaccount: { name: serviceAccount, uid: stableUid(`${namespace}/${serviceAccount}`) },
    };
    if (request.podName !== undefined)
      claim.pod = { name: request.podName, uid: request.podUid ?? randomUUID() };
    // Loaded on first use: every CreateCertificate process builds this issuer to accept its tokens
    // (verified without jose), and only `meshsign token` and the tests mint them.
    const { SignJWT } = await import("jose");
    return new SignJWT({ "kubernetes.io": claim })
      .setProtectedHeader({ alg: "ES256", kid: this.kid, typ: "JWT" })
      .setIssuer(this.issuer)
      .setSubject(`system:serviceaccount:${namespace}:${serviceAccount}`)
      .setAudience([audience])
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + ttl)
      .setJti(randomUUID())
      .sign(this.privateKey);
  }

  private checkOrWriteJwks(): void {
    const expected = JSON.stringify(this.jwks, null, 2);
    // The JWKS is derived from the key, so a missing one is simply written again.
    if (!existsSync(this.jwksFile) && createFileExclusiveSync(this.jwksFile, `${expected}\n`, 0o644)) return;
    let onDisk: unknown;
    try {
      onDisk = JSON.parse(readFileSync(this.jwksFile, "utf8"));
    } catch (err) {
      throw new MeshsignError("ERR_CONFIG_INVALID", `${this.jwksFile} is not valid JSON`, { cause: err });
    }
    if (!sameSingleKey(onDisk, this.jwks.keys[0] as JWK)) {
      throw new MeshsignError(
        "ERR_CONFIG_INVALID",
        `${this.jwksFile} does not match the dev key in ${this.keyFile}; remove ${this.jwksFile} to write it again`,
      );
    }
  }
}

/** True when `doc` is a JWKS holding exactly `key` (compared member by member, so formatting does not matter). */
function sameSingleKey(doc: unknown, key: JWK): boolean {
  const keys = (doc as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length !== 1) return false;
  const onDisk = keys[0] as Record<string, unknown> | null;
  return (
    onDisk !== null &&
    typeof onDisk === "object" &&
    (["kty", "crv", "x", "y", "kid"] as const).every((member) => onDisk[member] === key[member])
  );
}

function loadKey(keyFile: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(readFileSync(keyFile));
  } catch (err) {
    throw new MeshsignError("ERR_CONFIG_INVALID", `${keyFile} is not a readable PEM private key`, {
      cause: err,
    });
  }
  if (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== "prime256v1") {
    throw new MeshsignError("ERR_CONFIG_INVALID", `${keyFile} is not an ECDSA P-256 key`);
  }
  return key;
}

function publicJwk(privateKey: KeyObject): JWK {
  const { kty, crv, x, y } = createPublicKey(privateKey).export({ format: "jwk" });
  // RFC 7638 §3.2: the required members in lexicographic order, no whitespace.
  const thumbprint = createHash("sha256").update(JSON.stringify({ crv, kty, x, y })).digest("base64url");
  return { kty, crv, x, y, kid: thumbprint, use: "sig", alg: "ES256" } as JWK;
}

/** A UUID-shaped identifier derived from `name`, so a service account keeps its uid across tokens. */
function stableUid(name: string): string {
  const h = createHash("sha256").update(name).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

function invalid(message: string): MeshsignError {
  return new MeshsignError("ERR_CONFIG_INVALID", message);
}
