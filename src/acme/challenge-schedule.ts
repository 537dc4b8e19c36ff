/**
 * Which Challenges start next (cert-manager's `acmechallenges/scheduler`):
 * oldest first, at most `maxConcurrent` in flight, at most `maxPerPass`
 * started per pass, and never two in flight for the same name and type (two
 * HTTP-01 tokens for one name at once would make the CA see the wrong one
 * behind a load balancer; two DNS-01 values race on one TXT name).
 */

export interface ScheduledChallenge {
  readonly key: string;
  readonly dnsName: string;
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
      busy.add(`${c.type}\u0000${c.dnsName}`);
    } else waiting.push(c);
  }
  const room = Math.min(maxPerPass, maxConcurrent - inFlight);
  if (room <= 0) return [];
  waiting.sort((a, b) => a.createdMs - b.createdMs || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const out: string[] = [];
  for (const c of waiting) {
    if (out.length >= room) break;
    const id = `${c.type}\u0000${c.dnsName}`;
    if (busy.has(id)) continue;
    busy.add(id);
    out.push(c.key);
  }
  return out;
}
