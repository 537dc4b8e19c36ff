/**
 * Parses a nameserver as users write it: `host`, `host:port`, `[v6]:port`, a
 * bare IPv6 literal, or (where a resolver is meant) a DNS-over-HTTPS URL.
 * Port 53 when none is given, as cert-manager's RFC 2136 provider and
 * `--dns01-recursive-nameservers` do.
 */
import { isIP } from "node:net";
import { MeshsignError } from "../../../../errors/index.js";

export const DEFAULT_DNS_PORT = 53;

/** A classic DNS server reached over UDP/TCP. */
export interface UdpTcpNameserver {
  readonly kind: "udp-tcp";
  /** IP literal (no brackets) or host name. */
  readonly host: string;
  readonly port: number;
}

/** A DNS-over-HTTPS resolver (RFC 8484). */
export interface DohNameserver {
  readonly kind: "doh";
  readonly url: string;
}

export type Nameserver = UdpTcpNameserver | DohNameserver;

const HOST_NAME =
  /^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*\.?$/i;

function invalid(input: string, why: string): MeshsignError {
  return new MeshsignError("ERR_RESOURCE_INVALID", `nameserver "${input}" is invalid: ${why}`, {
    retry: "terminal",
  });
}

function parsePort(input: string, port: string): number {
  if (!/^[0-9]{1,5}$/.test(port)) throw invalid(input, "the port is not a number");
  const n = Number(port);
  if (n < 1 || n > 65535) throw invalid(input, "the port is out of range 1-65535");
  return n;
}

/**
 * `allowDoh` admits `https://` URLs (recursive resolvers only; an RFC 2136
 * server is never reached over DoH).
 */
export function parseNameserver(
  input: string,
  { allowDoh = false }: { allowDoh?: boolean } = {},
): Nameserver {
  const s = input.trim();
  if (s === "") throw invalid(input, "it is empty");
  if (/^https:\/\//i.test(s)) {
    if (!allowDoh) throw invalid(input, "a DNS-over-HTTPS URL is not accepted here");
    try {
      new URL(s);
    } catch {
      throw invalid(input, "not a valid URL");
    }
    return { kind: "doh", url: s };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(s))
    throw invalid(input, "only https:// URLs (DNS over HTTPS) are supported");
  if (s.startsWith("[")) {
    const m = /^\[([^\]]+)\](?::(.*))?$/.exec(s);
    if (m === null || m[1] === undefined) throw invalid(input, "unbalanced brackets");
    if (isIP(m[1]) !== 6) throw invalid(input, "brackets must hold an IPv6 address");
    return {
      kind: "udp-tcp",
      host: m[1],
      port: m[2] === undefined ? DEFAULT_DNS_PORT : parsePort(input, m[2]),
    };
  }
  // A bare IPv6 literal has several colons and no port.
  if (isIP(s) === 6) return { kind: "udp-tcp", host: s, port: DEFAULT_DNS_PORT };
  const colon = s.lastIndexOf(":");
  const host = colon === -1 ? s : s.slice(0, colon);
  const port = colon === -1 ? DEFAULT_DNS_PORT : parsePort(input, s.slice(colon + 1));
  if (host.includes(":")) throw invalid(input, "write IPv6 addresses with a port as [address]:port");
  if (isIP(host) !== 4 && !HOST_NAME.test(host))
    throw invalid(input, "the host is neither an IP address nor a host name");
  return { kind: "udp-tcp", host, port };
}

/** How a nameserver is named in messages: `host:port`, `[v6]:port` or the URL. */
export function formatNameserver(ns: Nameserver): string {
  if (ns.kind === "doh") return ns.url;
  return isIP(ns.host) === 6 ? `[${ns.host}]:${ns.port}` : `${ns.host}:${ns.port}`;
}
