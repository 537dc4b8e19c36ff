/**
 * The trust domain's bundle in the SPIFFE Trust Domain and Bundle format
 * (SPIFFE_Trust_Domain_and_Bundle.md §4): a JWK Set whose keys are the mesh
 * roots, each with `kty` and `use: "x509-svid"` (§4.2.1, §4.2.2) and exactly
 * one certificate in `x5c` (X509-SVID.md §6), plus `spiffe_sequence` and
 * `spiffe_refresh_hint` (§4.1.1, §4.1.2). Pure: no I/O, no clock.
 *
 * The sequence number is kept by the caller as a {@link BundleSequenceState}.
 * §4.1.1: it MUST change whenever the contents of the bundle change, so
 * {@link nextBundleSequence} increments it when the set of roots changes (a
 * rotation adds a root, its end removes the old one) or the refresh hint
 * does, and only then: a peer comparing sequence numbers sees each change once.
 */
import { createHash, X509Certificate } from "node:crypto";
import { MeshsignError } from "../errors/index.js";
import { decodePemAll, encodePem } from "../pki/index.js";

/** One X.509 authority of a SPIFFE bundle: the root's public key as a JWK, and the root itself. */
export interface SpiffeX509Key {
  readonly kty: string;
  readonly use: "x509-svid";
  /** The root certificate, base64 DER (RFC 7517 §4.7): exactly one, as §4.2.1 requires. */
  readonly x5c: readonly [string];
  readonly [param: string]: unknown;
}

/** The JSON document a bundle endpoint serves. */
export interface SpiffeBundleDocument {
  readonly keys: readonly SpiffeX509Key[];
  /** Increases on every change of the roots (§4.1.1). */
  readonly spiffe_sequence: number;
  /** How often a relying party should poll for a new bundle, seconds (§4.1.2). */
  readonly spiffe_refresh_hint: number;
}

/** What the caller persists between restarts so that the sequence never goes back. */
export interface BundleSequenceState {
  readonly sequence: number;
  /** {@link bundleContentDigest} of the contents that `sequence` was given to. */
  readonly contentDigest: string;
}

export interface SpiffeBundleOptions {
  readonly sequence: number;
  readonly refreshHintSeconds: number;
}

/**
 * SHA-256 over the distinct root certificates (DER, sorted): the same set of
 * roots gives the same digest however the PEM file orders or spaces them.
 */
export function rootsDigest(rootsPem: string): string {
  const hash = createHash("sha256");
  for (const hex of distinctRoots(rootsPem)
    .map((der) => Buffer.from(der).toString("hex"))
    .sort()) {
    hash.update(hex).update("\n");
  }
  return hash.digest("hex");
}

/** What the sequence number stands for: the set of roots and the refresh hint. */
export function bundleContentDigest(rootsPem: string, refreshHintSeconds: number): string {
  return createHash("sha256").update(`${rootsDigest(rootsPem)}\n${refreshHintSeconds}`).digest("hex");
}

/**
 * The sequence state for these contents: `previous` unchanged when it was
 * given to the same contents, otherwise the next number (1 for the first).
 */
export function nextBundleSequence(previous: BundleSequenceState | undefined, rootsPem: string, refreshHintSeconds: number): BundleSequenceState {
  const digest = bundleContentDigest(rootsPem, refreshHintSeconds);
  if (previous?.contentDigest === digest) return previous;
  return { sequence: (previous?.sequence ?? 0) + 1, contentDigest: digest };
}

/**
 * The bundle document for `rootsPem`. Throws ERR_CERT_INVALID when the PEM
 * holds no certificate, one does not parse, or its key cannot be a JWK.
 */
export function buildSpiffeBundle(rootsPem: string, options: SpiffeBundleOptions): SpiffeBundleDocument {
  if (!Number.isSafeInteger(options.sequence) || options.sequence < 0) {
    throw new MeshsignError("ERR_INTERNAL", "spiffe_sequence must be a non-negative integer");
  }
  if (!Number.isSafeInteger(options.refreshHintSeconds) || options.refreshHintSeconds < 1) {
    throw new MeshsignError("ERR_INTERNAL", "spiffe_refresh_hint must be a positive number of seconds");
  }
  const keys = distinctRoots(rootsPem).map((der, i) => x509Key(der, i));
  return { keys, spiffe_sequence: options.sequence, spiffe_refresh_hint: options.refreshHintSeconds };
}

/** The bundle's roots as a PEM bundle (`meshsign bundle --format pem`). */
export function spiffeBundleToPem(bundle: SpiffeBundleDocument): string {
  return bundle.keys.map((k) => encodePem("CERTIFICATE", Buffer.from(k.x5c[0], "base64"))).join("");
}

function distinctRoots(rootsPem: string): Uint8Array[] {
  const seen = new Set<string>();
  const out: Uint8Array[] = [];
  for (const der of decodePemAll(rootsPem, "CERTIFICATE")) {
    const key = Buffer.from(der).toString("base64");
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(der);
  }
  if (out.length === 0) throw new MeshsignError("ERR_CERT_INVALID", "the roots bundle holds no certificate");
  return out;
}

function x509Key(der: Uint8Array, index: number): SpiffeX509Key {
  let jwk: Record<string, unknown>;
  try {
    const cert = new X509Certificate(der);
    // Only public parameters: the JWK of a certificate's public key never carries `d`.
    jwk = cert.publicKey.export({ format: "jwk" }) as Record<string, unknown>;
  } catch (cause) {
    throw new MeshsignError("ERR_CERT_INVALID", `root ${index + 1} of the roots bundle cannot be published as a JWK`, { cause });
  }
  return { ...jwk, kty: String(jwk.kty), use: "x509-svid", x5c: [Buffer.from(der).toString("base64")] };
}
