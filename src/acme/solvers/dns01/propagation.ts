/**
 * The DNS-01 propagation check: where the TXT record of a challenge lives,
 * and whether the nameservers that matter already serve its value.
 *
 * Same rules as cert-manager (`pkg/issuer/acme/dns/util`): the record name is
 * `_acme-challenge.<name>.`, CNAMEs are followed from it when the solver says
 * `cnameStrategy: Follow`, the zone apex is the first name up the labels that
 * has an SOA record, and by default every authoritative nameserver of that
 * zone is asked directly (its NS set, then each one's A/AAAA), so recursive
 * caches and negative caching cannot hide the record; with
 * `recursiveOnly` only the configured resolvers (DoH URLs included) are asked.
 *
 * Differences that matter to callers: nothing here sleeps. `checkPropagation`
 * answers once, `{ propagated: false, reason }` when any server does not serve
 * the value yet, answers SERVFAIL or times out, and the caller asks again on
 * its next pass, so one slow zone never holds up another challenge.
 */
import { getServers } from "node:dns";
import { MeshsignError } from "../../../errors/index.js";
import { formatNameserver, type Nameserver, parseNameserver } from "./lib/nameserver.js";
import { type DnsAnswer, type DnsQuery, makeDnsQuery, type QueryType } from "./lib/query.js";

/** cert-manager's DNS timeout per query. */
export const DEFAULT_QUERY_TIMEOUT_MS = 10_000;
/** Resolvers used when neither options nor the system name any (cert-manager's fallback). */
export const FALLBACK_RECURSIVE_NAMESERVERS: readonly string[] = ["8.8.8.8:53", "8.8.4.4:53"];
/** Longest CNAME chain followed before giving up. */
export const MAX_CNAME_HOPS = 16;

export interface PropagationOptions {
  /**
   * Recursive resolvers (`host`, `host:port`, `[v6]:port` or `https://` DoH
   * URLs) used to follow CNAMEs, find the zone and its nameservers, and in
   * `recursiveOnly` mode to check the record. Default: the system's resolvers
   * (/etc/resolv.conf), else 8.8.8.8 and 8.8.4.4.
   */
  readonly recursiveNameservers?: readonly string[];
  /** Check the record only at `recursiveNameservers`, not at the zone's authoritative servers. */
  readonly recursiveOnly?: boolean;
  /** "Follow" follows CNAMEs from `_acme-challenge.<name>`; default "None". */
  readonly cnameStrategy?: "None" | "Follow";
  /** Timeout of each single query; default {@link DEFAULT_QUERY_TIMEOUT_MS}. */
  readonly queryTimeoutMs?: number;
  readonly signal?: AbortSignal;
  /**
   * Port the authoritative nameservers are asked on; 53 (as cert-manager).
   * Tests that run an authoritative server on a free port set it.
   */
  readonly authoritativePort?: number;
  /** Replaces the network (one question to one server); the default speaks UDP/TCP and DoH. */
  readonly query?: DnsQuery;
}

export type PropagationResult = { propagated: true } | { propagated: false; reason: string };

const LABEL = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/;

/** Lower-cased, with exactly one trailing dot; throws when not a domain name. */
function toFqdn(name: string, what: string): string {
  const n = name.trim().toLowerCase().replace(/\.$/, "");
  if (n === "" || n.length > 253 || !n.split(".").every((l) => LABEL.test(l))) {
    throw new MeshsignError("ERR_RESOURCE_INVALID", `${what} "${name}" is not a valid domain name`, {
      retry: "terminal",
    });
  }
  return `${n}.`;
}

function sameName(a: string, b: string): boolean {
  return a.toLowerCase().replace(/\.$/, "") === b.toLowerCase().replace(/\.$/, "");
}

function unavailable(message: string, cause?: unknown): MeshsignError {
  return new MeshsignError("ERR_DNS01_UNAVAILABLE", message, { retry: "transient", cause });
}

interface Ctx {
  readonly recursive: readonly Nameserver[];
  readonly query: DnsQuery;
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
  readonly authoritativePort: number;
}

function context(opts: PropagationOptions): Ctx {
  const configured = opts.recursiveNameservers ?? [];
  const names = configured.length > 0 ? configured : systemNameservers();
  const timeoutMs = opts.queryTimeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS;
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) {
    throw new MeshsignError("ERR_RESOURCE_INVALID", "queryTimeoutMs must be a positive integer", {
      retry: "terminal",
    });
  }
  const port = opts.authoritativePort ?? 53;
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new MeshsignError("ERR_RESOURCE_INVALID", "authoritativePort must be 1-65535", {
      retry: "terminal",
    });
  }
  return {
    recursive: names.map((n) => parseNameserver(n, { allowDoh: true })),
    query: opts.query ?? makeDnsQuery(),
    timeoutMs,
    signal: opts.signal,
    authoritativePort: port,
  };
}

function systemNameservers(): readonly string[] {
  const servers = getServers();
  return servers.length > 0 ? servers : FALLBACK_RECURSIVE_NAMESERVERS;
}

function rethrowAbort(ctx: Ctx, err: unknown): void {
  if (ctx.signal?.aborted) throw ctx.signal.reason;
  if (err instanceof MeshsignError) return;
  throw err;
}

/**
 * Asks the recursive resolvers in order until one answers NOERROR or
 * NXDOMAIN (cert-manager tries them in turn); otherwise the last answer or error.
 */
async function askRecursive(ctx: Ctx, name: string, type: QueryType): Promise<DnsAnswer> {
  let last: DnsAnswer | undefined;
  let lastErr: unknown;
  for (const server of ctx.recursive) {
    try {
      const a = await ctx.query(server, name, type, {
        recursive: true,
        timeoutMs: ctx.timeoutMs,
        signal: ctx.signal,
      });
      if (a.rcode === "NOERROR" || a.rcode === "NXDOMAIN") return a;
      last = a;
    } catch (err) {
      rethrowAbort(ctx, err);
      lastErr = err;
    }
  }
  if (last !== undefined) return last;
  throw lastErr instanceof MeshsignError
    ? lastErr
    : unavailable(`no recursive nameserver answered ${type} ${name}`, lastErr);
}

async function followCnames(ctx: Ctx, fqdn: string): Promise<string> {
  const chain = [fqdn];
  let current = fqdn;
  for (let hop = 0; hop < MAX_CNAME_HOPS; hop++) {
    const a = await askRecursive(ctx, current, "CNAME");
    if (a.rcode !== "NOERROR") {
      if (a.rcode === "NXDOMAIN") return current;
      throw unavailable(`CNAME lookup of ${current} answered ${a.rcode}`);
    }
    const cname = a.answers.find((r) => r.type === "CNAME" && sameName(r.name, current));
    if (cname === undefined || cname.type !== "CNAME") return current;
    const target = toFqdn(cname.data, "CNAME target");
    if (chain.includes(target)) {
      throw unavailable(`CNAME loop: ${[...chain, target].join(" -> ")}`);
    }
    chain.push(target);
    current = target;
  }
  throw unavailable(`CNAME chain longer than ${MAX_CNAME_HOPS}: ${chain.join(" -> ")}`);
}

/** The apex of the zone holding `fqdn`: the first name up its labels with an SOA in the answer. */
async function findZone(ctx: Ctx, fqdn: string): Promise<string> {
  const labels = fqdn.replace(/\.$/, "").split(".");
  for (let i = 0; i < labels.length; i++) {
    const domain = `${labels.slice(i).join(".")}.`;
    const a = await askRecursive(ctx, domain, "SOA");
    if (a.rcode === "NXDOMAIN") continue;
    if (a.rcode !== "NOERROR") throw unavailable(`SOA lookup of ${domain} answered ${a.rcode}`);
    // A CNAME cannot sit at a zone apex, so a name that has one is not the apex.
    if (a.answers.some((r) => r.type === "CNAME" && sameName(r.name, domain))) continue;
    const soa = a.answers.find((r) => r.type === "SOA");
    if (soa !== undefined) return toFqdn(soa.name, "zone");
  }
  throw unavailable(`no zone (SOA record) found for ${fqdn}`);
}

/**
 * Where the TXT record for `dnsName` (`*.` stripped) is written: its FQDN
 * after CNAME following and the apex of its zone, both with a trailing dot.
 * Throws a transient ERR_DNS01_UNAVAILABLE when DNS does not answer, no SOA
 * is found or the CNAMEs loop (all of which DNS changes can fix).
 */
export async function resolveChallengeRecord(
  dnsName: string,
  opts: PropagationOptions,
): Promise<{ fqdn: string; zone: string }> {
  const name = toFqdn(dnsName.trim().replace(/^\*\./, ""), "DNS name");
  const ctx = context(opts);
  let fqdn = `_acme-challenge.${name}`;
  if (opts.cnameStrategy === "Follow") fqdn = await followCnames(ctx, fqdn);
  return { fqdn, zone: await findZone(ctx, fqdn) };
}

function txtValues(a: DnsAnswer, fqdn: string): string[] {
  const out: string[] = [];
  for (const r of a.answers) {
    if (r.type !== "TXT" || !sameName(r.name, fqdn)) continue;
    const parts = Array.isArray(r.data) ? r.data : [r.data];
    out.push(parts.map((p) => (typeof p === "string" ? p : p.toString("utf8"))).join(""));
  }
  return out;
}

/** One server's verdict: undefined when it serves `value`, else why not. */
async function checkAt(
  ctx: Ctx,
  server: Nameserver,
  recursive: boolean,
  fqdn: string,
  value: string,
): Promise<string | undefined> {
  const where = formatNameserver(server);
  let a: DnsAnswer;
  try {
    a = await ctx.query(server, fqdn, "TXT", { recursive, timeoutMs: ctx.timeoutMs, signal: ctx.signal });
  } catch (err) {
    rethrowAbort(ctx, err);
    return (err as MeshsignError).message;
  }
  if (a.rcode !== "NOERROR") return `${where} answered ${a.rcode} for TXT ${fqdn}`;
  if (!txtValues(a, fqdn).includes(value))
    return `${where} does not serve the challenge TXT value at ${fqdn} yet`;
  return undefined;
}

async function addressesOf(ctx: Ctx, host: string): Promise<string[]> {
  const out: string[] = [];
  for (const type of ["A", "AAAA"] as const) {
    const a = await askRecursive(ctx, host, type);
    for (const r of a.answers) if (r.type === type) out.push(r.data);
  }
  return out;
}

/** Checks one authoritative nameserver by name: its addresses in turn until one gives a verdict. */
async function checkNameserver(
  ctx: Ctx,
  host: string,
  fqdn: string,
  value: string,
): Promise<string | undefined> {
  let addrs: string[];
  try {
    addrs = await addressesOf(ctx, host);
  } catch (err) {
    rethrowAbort(ctx, err);
    return `cannot resolve nameserver ${host}: ${(err as MeshsignError).message}`;
  }
  if (addrs.length === 0) return `nameserver ${host} has no A or AAAA record`;
  let reason: string | undefined;
  for (const address of addrs) {
    const server: Nameserver = { kind: "udp-tcp", host: address, port: ctx.authoritativePort };
    reason = await checkAt(ctx, server, false, fqdn, value);
    if (reason === undefined) return undefined;
  }
  return `${host}: ${reason}`;
}

async function authoritativeNameservers(ctx: Ctx, fqdn: string): Promise<string[]> {
  const zone = await findZone(ctx, fqdn);
  const a = await askRecursive(ctx, zone, "NS");
  if (a.rcode !== "NOERROR") throw unavailable(`NS lookup of ${zone} answered ${a.rcode}`);
  const hosts: string[] = [];
  for (const r of a.answers) if (r.type === "NS" && sameName(r.name, zone)) hosts.push(r.data);
  if (hosts.length === 0) throw unavailable(`could not determine the authoritative nameservers of ${zone}`);
  return [...new Set(hosts.map((h) => h.toLowerCase().replace(/\.$/, "")))];
}

/**
 * Whether `record.value` is served at `record.fqdn` (already CNAME-resolved,
 * as {@link resolveChallengeRecord} returns it) by every authoritative
 * nameserver of its zone, or by every configured recursive resolver when
 * `recursiveOnly`. Asks once and never sleeps; DNS failures come back as
 * `{ propagated: false, reason }`. Throws only for invalid input or abort.
 */
export async function checkPropagation(
  record: { fqdn: string; value: string },
  opts: PropagationOptions,
): Promise<PropagationResult> {
  const fqdn = toFqdn(record.fqdn, "record name");
  if (record.value === "") {
    throw new MeshsignError("ERR_RESOURCE_INVALID", "the TXT value to check is empty", { retry: "terminal" });
  }
  const ctx = context(opts);
  let reasons: (string | undefined)[];
  if (opts.recursiveOnly === true) {
    reasons = await Promise.all(ctx.recursive.map((s) => checkAt(ctx, s, true, fqdn, record.value)));
  } else {
    let hosts: string[];
    try {
      hosts = await authoritativeNameservers(ctx, fqdn);
    } catch (err) {
      rethrowAbort(ctx, err);
      return { propagated: false, reason: (err as MeshsignError).message };
    }
    reasons = await Promise.all(hosts.map((h) => checkNameserver(ctx, h, fqdn, record.value)));
  }
  const failed = reasons.filter((r): r is string => r !== undefined);
  return failed.length === 0 ? { propagated: true } : { propagated: false, reason: failed.join("; ") };
}
