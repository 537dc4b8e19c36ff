/**
 * ACME authorizations and their challenges (RFC 8555 §7.5): reading one,
 * telling the CA a challenge is ready (POST `{}` to its URL), and waiting for
 * the authorization to settle. An invalid authorization becomes a terminal
 * ERR_ACME_ORDER_INVALID carrying the CA's problem (what the VA saw: a
 * connection refused, a 404, a wrong key authorization).
 */
import { MeshsignError } from "../errors/index.js";
import type { AcmeClient } from "./client.js";
import { pollUntil } from "./lib/poll.js";
import { isValidToken } from "./lib/token.js";
import { type AcmeIdentifier, type AcmeProblem, describeProblem, parseProblem } from "./problems.js";

export type AuthorizationStatus = "pending" | "valid" | "invalid" | "deactivated" | "expired" | "revoked";
export type ChallengeStatus = "pending" | "processing" | "valid" | "invalid";

export interface AcmeChallenge {
  /** e.g. `http-01`, `dns-01`, `tls-alpn-01`. */
  readonly type: string;
  readonly url: string;
  readonly status: ChallengeStatus;
  /** Present for token-based challenges; always a valid base64url token here. */
  readonly token?: string;
  readonly error?: AcmeProblem;
}

export interface AcmeAuthorization {
  readonly url: string;
  readonly identifier: AcmeIdentifier;
  readonly status: AuthorizationStatus;
  readonly wildcard: boolean;
  readonly challenges: readonly AcmeChallenge[];
  readonly expires?: string;
}

const AUTHZ_STATUSES: readonly AuthorizationStatus[] = [
  "pending",
  "valid",
  "invalid",
  "deactivated",
  "expired",
  "revoked",
];
const CHALLENGE_STATUSES: readonly ChallengeStatus[] = ["pending", "processing", "valid", "invalid"];

function isHttpsUrl(v: string): boolean {
  try {
    return new URL(v).protocol === "https:";
  } catch {
    return false;
  }
}

function challengeFrom(c: unknown): AcmeChallenge | undefined {
  if (typeof c !== "object" || c === null) return undefined;
  const b = c as Record<string, unknown>;
  if (
    typeof b.type !== "string" ||
    typeof b.url !== "string" ||
    !CHALLENGE_STATUSES.includes(b.status as ChallengeStatus)
  )
    return undefined;
  // Skipped like any challenge not usable here; a TypeError would fail the whole authorization.
  if (!isHttpsUrl(b.url)) return undefined;
  if (b.token !== undefined && (typeof b.token !== "string" || !isValidToken(b.token)))
    throw new MeshsignError("ERR_ACME_PROTOCOL", `ACME ${b.type} challenge has a malformed token`);
  const error = parseProblem(b.error);
  return {
    type: b.type,
    url: b.url,
    status: b.status as ChallengeStatus,
    ...(typeof b.token === "string" ? { token: b.token } : {}),
    ...(error === undefined ? {} : { error }),
  };
}

export function authorizationFrom(body: Record<string, unknown>, url: string): AcmeAuthorization {
  const status = body.status as AuthorizationStatus;
  const id = (body.identifier ?? {}) as Record<string, unknown>;
  if (
    !AUTHZ_STATUSES.includes(status) ||
    (id.type !== "dns" && id.type !== "ip") ||
    typeof id.value !== "string"
  )
    throw new MeshsignError("ERR_ACME_PROTOCOL", "ACME authorization has no valid status or identifier");
  const challenges = Array.isArray(body.challenges)
    ? body.challenges.flatMap((c) => {
        const ch = challengeFrom(c);
        return ch === undefined ? [] : [ch];
      })
    : [];
  return {
    url,
    identifier: { type: id.type, value: id.value },
    status,
    wildcard: body.wildcard === true,
    challenges,
    ...(typeof body.expires === "string" ? { expires: body.expires } : {}),
  };
}

export async function getAuthorization(client: AcmeClient, url: string): Promise<AcmeAuthorization> {
  const { body } = await client.fetchJson(url, "authorization");
  return authorizationFrom(body, url);
}

/**
 * Tells the CA the challenge can be validated now. Returns the challenge's
 * status in the CA's answer (undefined when it names none that RFC 8555
 * defines): "valid" or "invalid" when it validated at once.
 */
export async function acceptChallenge(
  client: AcmeClient,
  challenge: AcmeChallenge,
): Promise<ChallengeStatus | undefined> {
  const { body } = await client.post(challenge.url, {}, `${challenge.type} challenge`);
  let status: unknown;
  try {
    status = (JSON.parse(body.toString("utf8")) as { status?: unknown } | null)?.status;
  } catch {
    return undefined; // the accept is what counts; its body only saves a wait
  }
  return CHALLENGE_STATUSES.includes(status as ChallengeStatus) ? (status as ChallengeStatus) : undefined;
}

/**
 * Waits for the authorization to leave `pending`; returns it when valid, and
 * throws ERR_ACME_ORDER_INVALID with the failed challenge's problem otherwise.
 * `onWait` is told before each wait between polls, with the polls so far.
 */
export async function waitAuthorization(
  client: AcmeClient,
  url: string,
  deadlineMs: number,
  onWait?: (polls: number) => Promise<void>,
): Promise<AcmeAuthorization> {
  const authz = await pollUntil(
    client,
    url,
    "authorization",
    (body) => authorizationFrom(body, url),
    (a) => a.status !== "pending",
    deadlineMs,
    onWait,
  );
  if (authz.status === "valid") return authz;
  const failed = authz.challenges.find((c) => c.status === "invalid" && c.error !== undefined);
  const why =
    failed?.error === undefined ? `the authorization is ${authz.status}` : describeProblem(failed.error);
  throw new MeshsignError(
    "ERR_ACME_ORDER_INVALID",
    `ACME server did not validate ${authz.identifier.value}${failed ? ` (${failed.type})` : ""}: ${why}`,
    { detail: { url, ...(failed?.error === undefined ? {} : { problem: failed.error }) } },
  );
}
