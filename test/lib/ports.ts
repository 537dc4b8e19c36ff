/**
 * Ports for servers the tests start as child processes (Pebble, Vault, knotd, etcd, ...).
 *
 * Binding port 0, closing, and handing the number to a child that binds it later races with the
 * kernel: port 0 takes a number from the ephemeral range, the same range outgoing connections take
 * their local ports from, so under load a connection opened meanwhile can hold it and the child
 * fails with "address already in use". These ports come from below the ephemeral range instead
 * (net.ipv4.ip_local_port_range), where the kernel never assigns one on its own, are probed by
 * binding them (TCP and UDP) on the host first, and are never handed out twice by one process. Each
 * process (and worker thread) starts at its own offset so that test files running in parallel
 * forks walk different parts of the range.
 */
import { createSocket } from "node:dgram";
import { readFileSync } from "node:fs";
import net from "node:net";
import { threadId } from "node:worker_threads";

/** Where the kernel's ephemeral range starts when /proc does not say (Linux's default). */
export const DEFAULT_EPHEMERAL_START = 32768;
/** The lowest port handed out: above the well-known and the commonly configured service ports. */
export const LOWEST_PORT = 10000;
/** How far apart two processes' starting points are at least (ports one process may use). */
const BLOCK = 64;

/** The first port of the kernel's ephemeral range, from ip_local_port_range (fallback 32768). */
export function ephemeralRangeStart(rangeFile = "/proc/sys/net/ipv4/ip_local_port_range"): number {
  try {
    const first = Number.parseInt(readFileSync(rangeFile, "utf8").trim().split(/\s+/)[0] ?? "", 10);
    return Number.isInteger(first) && first > LOWEST_PORT + BLOCK ? first : DEFAULT_EPHEMERAL_START;
  } catch {
    return DEFAULT_EPHEMERAL_START;
  }
}

/** Whether `port` can be bound on `host` now, for TCP and for UDP (DNS servers take both). */
export async function portBinds(port: number, host: string): Promise<boolean> {
  const tcp = await new Promise<boolean>((resolve) => {
    const srv = net.createServer();
    srv.once("error", () => resolve(false));
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(true)));
  });
  if (!tcp) return false;
  return new Promise<boolean>((resolve) => {
    const udp = createSocket(net.isIPv6(host) ? "udp6" : "udp4");
    udp.once("error", () => {
      udp.close();
      resolve(false);
    });
    udp.bind({ port, address: host, exclusive: true }, () => udp.close(() => resolve(true)));
  });
}

export interface PortPickerOptions {
  /** Lowest port handed out. */
  readonly low: number;
  /** One past the highest port handed out (the ephemeral range's start). */
  readonly high: number;
  /** Where in [low, high) this picker starts. */
  readonly offset: number;
  /** Whether a port is free on the host; the default binds it. */
  readonly probe?: (port: number, host: string) => Promise<boolean>;
}

/** Hands out ports in [low, high) from `offset` on, each at most once, skipping those that do not bind. */
export class PortPicker {
  readonly #low: number;
  readonly #span: number;
  readonly #probe: (port: number, host: string) => Promise<boolean>;
  #next: number;
  #given = 0;

  constructor(options: PortPickerOptions) {
    if (!(options.high > options.low)) throw new Error(`empty port range [${options.low}, ${options.high})`);
    this.#low = options.low;
    this.#span = options.high - options.low;
    this.#next = (((options.offset - options.low) % this.#span) + this.#span) % this.#span;
    this.#probe = options.probe ?? portBinds;
  }

  /** The next port that binds on `host`; throws once the whole range has been handed out or tried. */
  async take(host = "127.0.0.1"): Promise<number> {
    while (this.#given < this.#span) {
      const port = this.#low + this.#next;
      this.#next = (this.#next + 1) % this.#span;
      this.#given++;
      if (await this.#probe(port, host)) return port;
    }
    throw new Error(`no free port left in [${this.#low}, ${this.#low + this.#span}) on ${host}`);
  }
}

let picker: PortPicker | undefined;

/**
 * A port that binds on `host` (default 127.0.0.1) now, below the ephemeral range and not handed out
 * before by this process, for a child process to listen on.
 */
export function freePort(host = "127.0.0.1"): Promise<number> {
  if (picker === undefined) {
    const high = ephemeralRangeStart();
    const blocks = Math.floor((high - LOWEST_PORT) / BLOCK);
    // pid and worker thread spread parallel test processes over the range in blocks of BLOCK ports.
    const block = (process.pid * 31 + threadId * 7) % blocks;
    picker = new PortPicker({ low: LOWEST_PORT, high, offset: LOWEST_PORT + block * BLOCK });
  }
  return picker.take(host);
}
