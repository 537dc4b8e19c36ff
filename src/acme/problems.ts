/**
 * ACME problem documents (RFC 8555 §6.7, RFC 7807) turned into meshsign's
 * typed errors. The CA's `detail` text is what the user needs to see ("DNS
 * problem: NXDOMAIN looking up A for x.example.com"), so it is kept, but
 * cleaned of control characters and capped: it came over the network.
 */
import { MeshsignError } from "../errors/index.js";

/** The URN prefix of every ACME error type. */
export const ACME_ERROR_PREFIX = "urn:ietf:params:acme:error:";

/** An identifier as ACME writes it (RFC 8555 §9.7.7, RFC 8738). */
export interface AcmeIdentifier {
  readonly type: "dns" | "ip";
  readonly value: string;
}

export interface AcmeSubproblem {
  readonly type: string;
  readonly detail?: string;
  readonly identifier?: AcmeIdentifier;
}

/** A problem document as the CA sent it, after validation. */
export interface AcmeProblem {
  /** The full type URN, e.g. `urn:ietf:params:acme:error:rateLimited`. */
  readonly type: string;
  readonly detail?: string;
  readonly status?: number;
  readonly subproblems?: readonly AcmeSubproblem[];
}

// Problems that say "try again later" rather than "this request is wrong".
const TRANSIENT_TYPES = new Set(["rateLimited", "serverInternal", "badNonce"]);
const MAX_DETAIL = 512;
const MAX_SUBPROBLEMS = 20;

/** The CA's free text, safe to put in a condition message and a log line. */
export function cleanText(text: unknown): string | undefined {
  if (typeof text !== "string") return undefined;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: removing control characters is the point.
  const clean = text.replace(/[\u0000-\u001f\u007f]+/g, " ").trim();
  return clean.length > MAX_DETAIL ? `${clean.slice(0, MAX_DETAIL)}...` : clean;
}

function identifierOf(v: unknown): AcmeIdentifier | undefined {
  if (typeof v !== "object" || v === null) return undefined;
  const { type, value } = v as Record<string, unknown>;
  if ((type === "dns" || type === "ip") && typeof value === "string")
    return { type, value: cleanText(value) ?? "" };
  return undefined;
}

/** Reads a problem document from a parsed JSON body; undefined when it is not one. */
export function parseProblem(body: unknown): AcmeProblem | undefined {
  if (typeof body !== "object" || body === null) return undefined;
  const b = body as Record<string, unknown>;
  if (typeof b.type !== "string" || b.type.length > 256) return undefined;
  const subproblems: AcmeSubproblem[] = [];
  if (Array.isArray(b.subproblems)) {
    for (const s of b.subproblems.slice(0, MAX_SUBPROBLEMS)) {
      if (typeof s !== "object" || s === null || typeof (s as { type?: unknown }).type !== "string") continue;
      const sp = s as Record<string, unknown>;
      const detail = cleanText(sp.detail);
      const identifier = identifierOf(sp.identifier);
      subproblems.push({
        type: cleanText(sp.type) ?? "",
        ...(detail === undefined ? {} : { detail }),
        ...(identifier === undefined ? {} : { identifier }),
      });
    }
  }
  const detail = cleanText(b.detail);
  return {
    type: cleanText(b.type) ?? "",
    ...(detail === undefined ? {} : { detail }),
    ...(typeof b.status === "number" ? { status: b.status } : {}),
    ...(subproblems.length > 0 ? { subproblems } : {}),
  };
}

/** `rateLimited` for `urn:ietf:params:acme:error:rateLimited`; other URNs unchanged. */
export function shortType(type: string): string {
  return type.startsWith(ACME_ERROR_PREFIX) ? type.slice(ACME_ERROR_PREFIX.length) : type;
}

/** The text of a problem: `type: detail` and each subproblem's identifier and detail. */
export function describeProblem(problem: AcmeProblem): string {
  let text = `${shortType(problem.type)}${problem.detail ? `: ${problem.detail}` : ""}`;
  for (const s of problem.subproblems ?? []) {
    text += `; ${s.identifier ? `${s.identifier.value}: ` : ""}${shortType(s.type)}${s.detail ? `: ${s.detail}` : ""}`;
  }
  return text;
}

/**
 * The error for a problem the CA answered `action` with. Transient for
 * rateLimited, serverInternal, badNonce, any 5xx and any 429 (Too Many
 * Requests says "later" whatever the type: a rate limiter in front of the CA
 * answers with its own, e.g. `about:blank`); `retryAfterMs` is the CA's
 * Retry-After, for the caller's back-off.
 */
export function problemError(
  problem: AcmeProblem,
  context: {
    readonly action: string;
    readonly url: string;
    readonly status: number;
    readonly retryAfterMs?: number;
  },
): MeshsignError {
  const transient =
    TRANSIENT_TYPES.has(shortType(problem.type)) || context.status >= 500 || context.status === 429;
  return new MeshsignError(
    "ERR_ACME_PROBLEM",
    `ACME server refused ${context.action}: ${describeProblem(problem)}`,
    {
      retry: transient ? "transient" : "terminal",
      detail: {
        problem,
        url: context.url,
        status: context.status,
        ...(context.retryAfterMs === undefined ? {} : { retryAfterMs: context.retryAfterMs }),
      },
    },
  );
}

/** The problem document behind an ACME error, if it carried one. */
export function problemOf(err: unknown): AcmeProblem | undefined {
  if (!(err instanceof MeshsignError)) return undefined;
  const p = err.detail.problem;
  return typeof p === "object" && p !== null && typeof (p as AcmeProblem).type === "string"
    ? (p as AcmeProblem)
    : undefined;
}
