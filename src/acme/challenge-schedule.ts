/**
 * Which Challenges start next (cert-manager's `acmechallenges/scheduler`):
 * oldest first, at most `maxConcurrent` in flight, at most `maxPerPass`
 * started per pass, and never two in flight for the same name and type (two
 * HTTP-01 tokens for one name at once would make the CA see the wrong one
 * behind a load balancer; two Orders' DNS-01 values for one name would come
 * and go under each other).
 *
 * "The same name" is the name as the CA names the authorization, wildcard
 * flag included: `*.example.com` and `example.com` are two authorizations of
 * one Order whose DNS-01 values share `_acme-challenge.example.com`, and they
 * run together (both values present until both are validated), where
 * cert-manager, keying on the bare dnsName, presents and removes them one
 * after the other. Two Orders for the same name are still serialized.
 */

export interface ScheduledChallenge {
  readonly key: string;
  readonly dnsName: string;
  /** The authorization is for `*.<dnsName>`. */
  readonly wildcard?: boolean;
  readonly type: string;
  /** Creation time (ms); ties broken by key. */
  readonly createdMs: number;
  /** Already started (`status.processing`). */
  readonly processing: boolean;
  /** valid, invalid, expired or errored. */
  readonly final: boolean;
}

/** Default bound of Challenges in flight (`--max-concurrent-challenges`). */
export const DEFAULT_MAX_CONCURRENT_CHALLENGES = 60;
/** Challenges started per pass (hard-coded 20 in cert-manager). */
export const MAX_CHALLENGES_PER_PASS = 20;

export function pickChallenges(
  all: Iterable<ScheduledChallenge>,
  maxConcurrent = DEFAULT_MAX_CONCURRENT_CHALLENGES,
  maxPerPass = MAX_CHALLENGES_PER_PASS,
): string[] {
  const busy = new Set<string>();
  let inFlight = 0;
  const waiting: ScheduledChallenge[] = [];
  for (const c of all) {
    if (c.final) continue;
    if (c.processing) {
      inFlight++;
      busy.add(nameKey(c));
    } else waiting.push(c);
  }
  const room = Math.min(maxPerPass, maxConcurrent - inFlight);
  if (room <= 0) return [];
  waiting.sort((a, b) => a.createdMs - b.createdMs || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const out: string[] = [];
  for (const c of waiting) {
    if (out.length >= room) break;
    const id = nameKey(c);
    if (busy.has(id)) continue;
    busy.add(id);
    out.push(c.key);
  }
  return out;
}

/** The type and the authorization's name as the CA names it (`*.example.com` apart from `example.com`). */
function nameKey(c: ScheduledChallenge): string {
  return `${c.type}\u0000${c.wildcard === true ? "*." : ""}${c.dnsName.toLowerCase()}`;
}
