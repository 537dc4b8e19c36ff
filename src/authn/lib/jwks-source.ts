import { readFile } from "node:fs/promises";
import type { JSONWebKeySet, JWK } from "jose";
import { MeshsignError } from "../../errors/index.js";
import type { JwksSource } from "../jwks-authenticator.js";
import { httpGetJson } from "./http-get-json.js";

/** A JWKS document (or discovery document) larger than this is refused. */
const MAX_DOCUMENT_BYTES = 1024 * 1024;
const FETCH_TIMEOUT_MS = 10_000;

/** Asymmetric key types only: an `oct` (HMAC) key in a verification set is how alg confusion starts. */
const ASYMMETRIC_KTY = new Set(["RSA", "EC", "OKP"]);
/** Private-key members of RSA/EC/OKP JWKs; a key carrying any of them is refused. */
const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth"];

/**
 * Reads the JWKS from its source (file, URL, OIDC discovery or a value) and
 * keeps only public asymmetric signing keys.
 *
 * @throws MeshsignError ERR_AUTHN_BACKEND_UNAVAILABLE (transient) when a remote
 *   source cannot be fetched; ERR_CONFIG_INVALID when a file or document is not a usable JWKS.
 */
export async function loadJwks(source: JwksSource): Promise<JSONWebKeySet> {
  switch (source.kind) {
    case "static":
      return sanitizeJwks(source.jwks, "the configured JWKS");
    case "file":
      return sanitizeJwks(await readJsonFile(source.path), source.path);
    case "url": {
      const url = parseUrl(source.url, "jwks url");
      const doc = await httpGetJson(url, await fetchOptions(source, true));
      return sanitizeJwks(doc, url.origin + url.pathname, "transient");
    }
    case "oidc":
      return loadFromDiscovery(source);
  }
}

async function loadFromDiscovery(source: Extract<JwksSource, { kind: "oidc" }>): Promise<JSONWebKeySet> {
  const issuerUrl = parseUrl(source.issuer, "oidc issuer");
  const discoveryUrl = new URL(`${issuerUrl.href.replace(/\/+$/, "")}/.well-known/openid-configuration`);
  const discovery = await httpGetJson(discoveryUrl, await fetchOptions(source, true));
  const where = discoveryUrl.origin + discoveryUrl.pathname;
  if (typeof discovery !== "object" || discovery === null) {
    throw unusable(`${where} is not an OpenID configuration document`, "transient");
  }
  const doc = discovery as Record<string, unknown>;
  // OpenID Connect Discovery 1.0 §4.3: the document's issuer must be exactly the one we asked about.
  if (doc.issuer !== source.issuer) {
    throw unusable(
      `${where} names issuer ${JSON.stringify(doc.issuer)}, expected ${JSON.stringify(source.issuer)}`,
      "transient",
    );
  }
  if (typeof doc.jwks_uri !== "string") throw unusable(`${where} has no jwks_uri`, "transient");
  const jwksUrl = parseUrl(doc.jwks_uri, "jwks_uri");
  // The credential is only ever sent back to the issuer's own origin, never to a host a document names.
  const jwks = await httpGetJson(jwksUrl, await fetchOptions(source, jwksUrl.origin === issuerUrl.origin));
  return sanitizeJwks(jwks, jwksUrl.origin + jwksUrl.pathname, "transient");
}

async function fetchOptions(
  source: { caFile?: string; bearerTokenFile?: string },
  withToken: boolean,
): Promise<{ ca?: string; bearerToken?: string; timeoutMs: number; maxBytes: number }> {
  // Both files are re-read on every fetch: projected tokens and CA bundles rotate on disk.
  const ca = source.caFile === undefined ? undefined : await readText(source.caFile);
  const token =
    withToken && source.bearerTokenFile !== undefined
      ? (await readText(source.bearerTokenFile)).trim()
      : undefined;
  return {
    ...(ca === undefined ? {} : { ca }),
    ...(token === undefined ? {} : { bearerToken: token }),
    timeoutMs: FETCH_TIMEOUT_MS,
    maxBytes: MAX_DOCUMENT_BYTES,
  };
}

function sanitizeJwks(
  value: unknown,
  where: string,
  retry: "transient" | "terminal" = "terminal",
): JSONWebKeySet {
  if (typeof value !== "object" || value === null || !Array.isArray((value as { keys?: unknown }).keys)) {
    throw unusable(`${where} is not a JWKS (no "keys" array)`, retry);
  }
  const keys = (value as { keys: unknown[] }).keys.filter(isPublicSigningKey);
  if (keys.length === 0) throw unusable(`${where} holds no public RSA, EC or OKP signing key`, retry);
  return { keys };
}

function isPublicSigningKey(key: unknown): key is JWK {
  if (typeof key !== "object" || key === null) return false;
  const jwk = key as Record<string, unknown>;
  if (typeof jwk.kty !== "string" || !ASYMMETRIC_KTY.has(jwk.kty)) return false;
  if (jwk.use !== undefined && jwk.use !== "sig") return false;
  return PRIVATE_MEMBERS.every((member) => jwk[member] === undefined);
}

async function readJsonFile(path: string): Promise<unknown> {
  const text = await readText(path);
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new MeshsignError("ERR_CONFIG_INVALID", `${path} is not valid JSON`, { cause: err });
  }
}

async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    throw new MeshsignError("ERR_CONFIG_INVALID", `cannot read ${path}`, { cause: err, detail: { path } });
  }
}

function parseUrl(value: string, what: string): URL {
  try {
    return new URL(value);
  } catch (err) {
    throw new MeshsignError("ERR_CONFIG_INVALID", `${what} ${JSON.stringify(value)} is not a URL`, {
      cause: err,
    });
  }
}

function unusable(message: string, retry: "transient" | "terminal"): MeshsignError {
  return retry === "transient"
    ? new MeshsignError("ERR_AUTHN_BACKEND_UNAVAILABLE", message, { retry })
    : new MeshsignError("ERR_CONFIG_INVALID", message);
}
