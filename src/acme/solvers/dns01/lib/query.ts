/**
 * One DNS question to one server: a classic nameserver over UDP (TCP on
 * truncation) or a DNS-over-HTTPS resolver (RFC 8484, POST). Encoding and
 * decoding by `dns-packet`; the answer is returned whatever its rcode, so
 * the caller decides what NXDOMAIN or SERVFAIL mean to it.
 */
import { randomInt } from "node:crypto";
import * as dnsPacket from "dns-packet";
import { MeshsignError } from "../../../../errors/index.js";
import { type DnsExchange, exchangeDns } from "./exchange.js";
import { formatNameserver, type Nameserver } from "./nameserver.js";

export type QueryType = "SOA" | "NS" | "A" | "AAAA" | "CNAME" | "TXT";

export interface QueryOptions {
  /** Set RD: true for recursive resolvers, false when asking an authoritative server. */
  readonly recursive: boolean;
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}

export interface DnsAnswer {
  /** e.g. "NOERROR", "NXDOMAIN", "SERVFAIL", "REFUSED". */
  readonly rcode: string;
  readonly answers: readonly dnsPacket.Answer[];
  readonly authorities: readonly dnsPacket.Answer[];
}

/** Asks `server` one question; throws a transient ERR_DNS01_UNAVAILABLE when no answer comes. */
export type DnsQuery = (
  server: Nameserver,
  name: string,
  type: QueryType,
  opts: QueryOptions,
) => Promise<DnsAnswer>;

function decodeAnswer(server: Nameserver, raw: Buffer): DnsAnswer {
  try {
    // dns-packet decodes the rcode to its name; its @types leave the field out.
    const p = dnsPacket.decode(raw) as dnsPacket.DecodedPacket & { rcode?: string };
    return { rcode: p.rcode ?? "NOERROR", answers: p.answers ?? [], authorities: p.authorities ?? [] };
  } catch (err) {
    throw new MeshsignError(
      "ERR_DNS01_UNAVAILABLE",
      `${formatNameserver(server)} sent a malformed DNS answer`,
      {
        retry: "transient",
        cause: err,
      },
    );
  }
}

/** The `fetch` a DoH query uses (injected in tests). */
export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

async function dohExchange(
  doFetch: FetchLike,
  url: string,
  message: Buffer,
  opts: QueryOptions,
): Promise<Buffer> {
  const signals = [AbortSignal.timeout(opts.timeoutMs), ...(opts.signal ? [opts.signal] : [])];
  let res: Response;
  try {
    res = await doFetch(url, {
      method: "POST",
      headers: { "content-type": "application/dns-message", accept: "application/dns-message" },
      body: message,
      signal: AbortSignal.any(signals),
    });
  } catch (err) {
    if (opts.signal?.aborted) throw opts.signal.reason;
    const timedOut = err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError");
    throw new MeshsignError(
      "ERR_DNS01_UNAVAILABLE",
      timedOut
        ? `DNS-over-HTTPS query to ${url} timed out after ${opts.timeoutMs} ms`
        : `DNS-over-HTTPS query to ${url} failed`,
      { retry: "transient", cause: err },
    );
  }
  if (!res.ok) {
    throw new MeshsignError(
      "ERR_DNS01_UNAVAILABLE",
      `DNS-over-HTTPS query to ${url} answered HTTP ${res.status}`,
      {
        retry: "transient",
      },
    );
  }
  try {
    return Buffer.from(await res.arrayBuffer());
  } catch (err) {
    if (opts.signal?.aborted) throw opts.signal.reason;
    throw new MeshsignError(
      "ERR_DNS01_UNAVAILABLE",
      `DNS-over-HTTPS query to ${url} failed while reading the answer`,
      {
        retry: "transient",
        cause: err,
      },
    );
  }
}

/** Builds the query's wire form; DoH uses ID 0 so answers cache (RFC 8484 4.1). */
function buildQuery(name: string, type: QueryType, recursive: boolean, id: number): Buffer {
  return dnsPacket.encode({
    type: "query",
    id,
    flags: recursive ? dnsPacket.RECURSION_DESIRED : 0,
    questions: [{ name: name.replace(/\.$/, "") || ".", type, class: "IN" }],
  });
}

/** Returns a {@link DnsQuery} that sends its messages with `exchange` and, for DoH, `fetch` (both injected in tests). */
export function makeDnsQuery(io: { exchange?: DnsExchange; fetch?: FetchLike } = {}): DnsQuery {
  const exchange = io.exchange ?? exchangeDns;
  const doFetch = io.fetch ?? ((url, init) => fetch(url, init));
  return async (server, name, type, opts) => {
    if (server.kind === "doh") {
      return decodeAnswer(
        server,
        await dohExchange(doFetch, server.url, buildQuery(name, type, true, 0), opts),
      );
    }
    const message = buildQuery(name, type, opts.recursive, randomInt(0, 0x10000));
    const raw = await exchange(server, message, {
      protocol: "UDP",
      timeoutMs: opts.timeoutMs,
      signal: opts.signal,
    });
    return decodeAnswer(server, raw);
  };
}
