/**
 * One DNS message exchange with a classic nameserver: UDP first and again
 * over TCP when the answer comes back truncated (RFC 1035 4.2.1, RFC 7766),
 * or TCP only. Every exchange has its own timeout and honours an
 * AbortSignal; nothing sleeps. Failures are transient
 * `ERR_DNS01_UNAVAILABLE` errors naming the server and the protocol.
 */
import { createSocket } from "node:dgram";
import { lookup } from "node:dns/promises";
import { connect, isIP } from "node:net";
import { MeshsignError } from "../../../../errors/index.js";
import { formatNameserver, type UdpTcpNameserver } from "./nameserver.js";

export type DnsProtocol = "UDP" | "TCP";

export interface ExchangeOptions {
  /** "UDP" falls back to TCP on truncation; "TCP" uses TCP only. */
  readonly protocol: DnsProtocol;
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}

/** Sends one message and returns the raw answer with the same ID. */
export type DnsExchange = (
  server: UdpTcpNameserver,
  message: Uint8Array,
  opts: ExchangeOptions,
) => Promise<Buffer>;

const TC_FLAG = 0x0200;

function unavailable(
  server: UdpTcpNameserver,
  proto: DnsProtocol,
  what: string,
  cause?: unknown,
): MeshsignError {
  return new MeshsignError(
    "ERR_DNS01_UNAVAILABLE",
    `DNS ${proto} exchange with ${formatNameserver(server)} ${what}`,
    {
      retry: "transient",
      cause,
    },
  );
}

async function resolveHost(server: UdpTcpNameserver): Promise<{ address: string; family: 4 | 6 }> {
  const fam = isIP(server.host);
  if (fam === 4 || fam === 6) return { address: server.host, family: fam };
  try {
    const r = await lookup(server.host);
    return { address: r.address, family: r.family === 6 ? 6 : 4 };
  } catch (err) {
    throw unavailable(server, "UDP", `failed: cannot resolve host ${server.host}`, err);
  }
}

/** Runs `start` until it settles, the timeout fires or the signal aborts; `cleanup` always runs. */
function withDeadline<T>(
  server: UdpTcpNameserver,
  proto: DnsProtocol,
  opts: ExchangeOptions,
  start: (resolve: (v: T) => void, reject: (e: unknown) => void) => () => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (opts.signal?.aborted) {
      reject(opts.signal.reason);
      return;
    }
    let done = false;
    let cleanup: () => void = () => {};
    const finish = (fn: () => void): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
      cleanup();
      fn();
    };
    const onAbort = (): void => finish(() => reject(opts.signal?.reason));
    const timer = setTimeout(
      () => finish(() => reject(unavailable(server, proto, `timed out after ${opts.timeoutMs} ms`))),
      opts.timeoutMs,
    );
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    const stop = start(
      (v) => finish(() => resolve(v)),
      (e) => finish(() => reject(e)),
    );
    // If start() settled synchronously, finish() ran before the cleanup was known.
    if (done) stop();
    else cleanup = stop;
  });
}

function sameId(message: Uint8Array, answer: Buffer): boolean {
  return answer.length >= 12 && answer[0] === message[0] && answer[1] === message[1];
}

async function exchangeUdp(
  server: UdpTcpNameserver,
  message: Uint8Array,
  opts: ExchangeOptions,
): Promise<Buffer> {
  const { address, family } = await resolveHost(server);
  return withDeadline<Buffer>(server, "UDP", opts, (resolve, reject) => {
    const sock = createSocket(family === 6 ? "udp6" : "udp4");
    sock.on("error", (err) =>
      reject(
        unavailable(server, "UDP", `failed: ${(err as NodeJS.ErrnoException).code ?? err.message}`, err),
      ),
    );
    // Answers from elsewhere or with another ID are ignored (RFC 5452): only a match settles.
    sock.on("message", (msg) => {
      if (sameId(message, msg)) resolve(msg);
    });
    sock.connect(server.port, address, () => sock.send(message));
    return () => {
      try {
        sock.close();
      } catch {
        // already closed
      }
    };
  });
}

async function exchangeTcp(
  server: UdpTcpNameserver,
  message: Uint8Array,
  opts: ExchangeOptions,
): Promise<Buffer> {
  const { address } = await resolveHost(server);
  return withDeadline<Buffer>(server, "TCP", opts, (resolve, reject) => {
    const sock = connect({ host: address, port: server.port });
    let received = Buffer.alloc(0);
    sock.on("error", (err) =>
      reject(
        unavailable(server, "TCP", `failed: ${(err as NodeJS.ErrnoException).code ?? err.message}`, err),
      ),
    );
    sock.on("connect", () => {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(message.length);
      sock.write(Buffer.concat([len, message]));
    });
    // RFC 1035 4.2.2: each message is preceded by its two-byte length.
    sock.on("data", (chunk) => {
      received = Buffer.concat([received, chunk]);
      while (received.length >= 2) {
        const n = received.readUInt16BE(0);
        if (received.length < 2 + n) return;
        const msg = received.subarray(2, 2 + n);
        received = received.subarray(2 + n);
        if (sameId(message, msg)) {
          resolve(Buffer.from(msg));
          return;
        }
      }
    });
    sock.on("end", () =>
      reject(unavailable(server, "TCP", "failed: the server closed the connection without an answer")),
    );
    return () => sock.destroy();
  });
}

/** The default {@link DnsExchange}: UDP with TCP fallback on truncation, or TCP only. */
export const exchangeDns: DnsExchange = async (server, message, opts) => {
  if (opts.protocol === "TCP") return exchangeTcp(server, message, opts);
  const answer = await exchangeUdp(server, message, opts);
  if ((answer.readUInt16BE(2) & TC_FLAG) === 0) return answer;
  return exchangeTcp(server, message, opts);
};
