/**
 * A DNS resolver that lags behind its authoritative server, as a real DNS
 * provider's propagation does: a UDP proxy in front of one server (knotd)
 * that answers a TXT query for an `_acme-challenge` name without its answers
 * until those exact values have been visible at the server for `delayMs`;
 * every other query is passed through unchanged. It records, per name and
 * value set, when the proxy first saw it at the server and when it first let
 * it through: the span of each record's propagation wait.
 */
import { createSocket, type Socket } from "node:dgram";
import * as dnsPacket from "dns-packet";

export interface PropagationWait {
  readonly name: string;
  /** First query that found the values at the server (ms, performance.now()). */
  readonly seenMs: number;
  /** First answer that let them through, or undefined while still held back. */
  passedMs: number | undefined;
}

export interface DnsLagProxy {
  /** `127.0.0.1:<port>`, for `--dns01-recursive-nameservers`. */
  readonly nameserver: string;
  /** One entry per name and value set, in the order they were first seen. */
  readonly waits: readonly PropagationWait[];
  /** TXT answers sent without their values. */
  readonly heldBack: number;
  stop(): Promise<void>;
}

const UPSTREAM_TIMEOUT_MS = 5_000;

export async function startDnsLagProxy(options: { upstream: string; delayMs: number }): Promise<DnsLagProxy> {
  const i = options.upstream.lastIndexOf(":");
  const upHost = options.upstream.slice(0, i);
  const upPort = Number(options.upstream.slice(i + 1));
  const byKey = new Map<string, PropagationWait>();
  const waits: PropagationWait[] = [];
  let heldBack = 0;
  const server: Socket = createSocket("udp4");

  const lagged = (answer: Buffer): Buffer => {
    let packet: dnsPacket.Packet;
    try {
      packet = dnsPacket.decode(answer);
    } catch {
      return answer;
    }
    const q = packet.questions?.[0];
    if (q?.type !== "TXT" || !/^_acme-challenge\./i.test(q.name)) return answer;
    const values = (packet.answers ?? [])
      .filter((a) => a.type === "TXT")
      .map((a) =>
        [a.data]
          .flat()
          .map((d) => Buffer.from(d as Buffer | string).toString())
          .join(""),
      )
      .sort();
    if (values.length === 0) return answer;
    const key = `${q.name.toLowerCase()} ${values.join(",")}`;
    const now = performance.now();
    let wait = byKey.get(key);
    if (wait === undefined) {
      wait = { name: q.name.toLowerCase(), seenMs: now, passedMs: undefined };
      byKey.set(key, wait);
      waits.push(wait);
    }
    if (now - wait.seenMs >= options.delayMs) {
      wait.passedMs ??= now;
      return answer;
    }
    heldBack++;
    return Buffer.from(dnsPacket.encode({ ...packet, answers: [] }));
  };

  server.on("message", (query, from) => {
    const up = createSocket("udp4");
    let open = true;
    const done = () => {
      if (!open) return;
      open = false;
      clearTimeout(timer);
      up.close();
    };
    // An unanswered query is dropped, as a lost datagram is: the client times out and retries.
    const timer = setTimeout(done, UPSTREAM_TIMEOUT_MS);
    up.once("message", (answer) => {
      done();
      server.send(lagged(answer), from.port, from.address);
    });
    up.once("error", done);
    up.send(query, upPort, upHost);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.bind(0, "127.0.0.1", () => resolve());
  });
  return {
    nameserver: `127.0.0.1:${server.address().port}`,
    waits,
    get heldBack() {
      return heldBack;
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Most intervals open at one instant (an interval is open from its start, closed at its end). */
export function peakOverlap(intervals: readonly { readonly start: number; readonly end: number }[]): number {
  const edges = intervals.flatMap((w) => [
    { t: w.start, d: 1 },
    { t: w.end, d: -1 },
  ]);
  // At the same instant a close comes before an open: touching intervals do not overlap.
  edges.sort((a, b) => a.t - b.t || a.d - b.d);
  let open = 0;
  let peak = 0;
  for (const e of edges) {
    open += e.d;
    peak = Math.max(peak, open);
  }
  return peak;
}
