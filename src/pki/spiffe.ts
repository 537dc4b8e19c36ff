/**
 * SPIFFE IDs (spiffe/spiffe standards/SPIFFE-ID.md §2) and Istio's identity
 * shape `spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>`.
 */
import { MeshsignError } from "../errors/index.js";

/** A parsed SPIFFE ID. `path` is "" for a trust domain's own ID, else starts with "/". */
export interface SpiffeId {
  readonly trustDomain: string;
  readonly path: string;
  /** The canonical text form (`spiffe://` + trustDomain + path). */
  readonly uri: string;
}

/** SPIFFE-ID.md §2.3: implementations MUST support IDs up to 2048 bytes. */
export const MAX_SPIFFE_ID_BYTES = 2048;
/** SPIFFE-ID.md §2.1: trust domain names are at most 255 characters. */
export const MAX_TRUST_DOMAIN_BYTES = 255;

const SCHEME = "spiffe://";
const TRUST_DOMAIN = /^[a-z0-9._-]+$/;
const SEGMENT = /^[a-zA-Z0-9._-]+$/;

function invalid(reason: string, id: string): never {
  // The ID is the caller's own claim, not a secret, but it is bounded before it reaches a log.
  throw new MeshsignError("ERR_SPIFFE_ID_INVALID", `invalid SPIFFE ID: ${reason}`, {
    detail: { id: id.length > 256 ? `${id.slice(0, 256)}...` : id },
  });
}

/**
 * Validates a trust domain name: non-empty, at most 255 bytes, only
 * lowercase letters, digits, ".", "-" and "_".
 */
export function validateTrustDomain(td: string): string {
  if (td.length === 0) invalid("trust domain is empty", td);
  if (td.length > MAX_TRUST_DOMAIN_BYTES) invalid("trust domain is longer than 255 bytes", td);
  if (!TRUST_DOMAIN.test(td)) invalid("trust domain may only contain [a-z0-9._-]", td);
  return td;
}

/**
 * Parses and validates a SPIFFE ID strictly: scheme exactly `spiffe`
 * (lowercase; meshsign does not fold case), a trust domain of
 * `[a-z0-9._-]` with no userinfo or port, no query or fragment, no
 * percent-encoding, path segments of `[a-zA-Z0-9._-]` that are neither empty
 * nor `.`/`..`, no trailing slash, at most 2048 bytes.
 */
export function parseSpiffeId(s: string): SpiffeId {
  if (typeof s !== "string") invalid("not a string", String(s));
  if (s.length > MAX_SPIFFE_ID_BYTES) invalid("longer than 2048 bytes", s);
  if (!s.startsWith(SCHEME)) invalid('scheme must be "spiffe"', s);
  const rest = s.slice(SCHEME.length);
  if (rest.includes("?")) invalid("query is not allowed", s);
  if (rest.includes("#")) invalid("fragment is not allowed", s);
  if (rest.includes("%")) invalid("percent-encoding is not allowed", s);
  const slash = rest.indexOf("/");
  const trustDomain = slash < 0 ? rest : rest.slice(0, slash);
  const path = slash < 0 ? "" : rest.slice(slash);
  if (trustDomain.includes("@")) invalid("userinfo is not allowed", s);
  if (trustDomain.includes(":")) invalid("port is not allowed", s);
  validateTrustDomain(trustDomain);
  if (path !== "") {
    if (path.endsWith("/")) invalid("trailing slash is not allowed", s);
    for (const seg of path.slice(1).split("/")) {
      if (seg === "") invalid("empty path segment", s);
      if (seg === "." || seg === "..") invalid("dot segments are not allowed", s);
      if (!SEGMENT.test(seg)) invalid("path segments may only contain [a-zA-Z0-9._-]", s);
    }
  }
  return { trustDomain, path, uri: s };
}

/** An Istio workload identity. */
export interface IstioIdentity {
  readonly trustDomain: string;
  readonly namespace: string;
  readonly serviceAccount: string;
}

/** `spiffe://<td>/ns/<ns>/sa/<sa>`, validated as a SPIFFE ID. */
export function istioIdentity(trustDomain: string, namespace: string, serviceAccount: string): string {
  const id = `${SCHEME}${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
  // Each part must be one path segment, or "a/b" would shift the /ns/../sa/.. positions.
  if (!SEGMENT.test(namespace) || !SEGMENT.test(serviceAccount)) {
    invalid("namespace and service account must each be one non-empty [a-zA-Z0-9._-] segment", id);
  }
  parseSpiffeId(id);
  return id;
}

/** Parses an Istio identity: a valid SPIFFE ID whose path is exactly `/ns/<ns>/sa/<sa>`. */
export function parseIstioIdentity(id: string): IstioIdentity {
  const { trustDomain, path } = parseSpiffeId(id);
  const parts = path.split("/");
  // ["", "ns", ns, "sa", sa]
  if (parts.length !== 5 || parts[1] !== "ns" || parts[3] !== "sa") {
    invalid("path must be /ns/<namespace>/sa/<service-account>", id);
  }
  return { trustDomain, namespace: parts[2] as string, serviceAccount: parts[4] as string };
}
