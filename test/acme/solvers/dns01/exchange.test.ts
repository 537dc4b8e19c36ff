import { createSocket, type Socket } from "node:dgram";
import { createServer, type Server } from "node:net";
import * as dnsPacket from "dns-packet";
import { afterEach, describe, expect, it } from "vitest";
import { exchangeDns } from "../../../../src/acme/solvers/dns01/lib/exchange.js";

const QUERY = dnsPacket.encode({
  type: "query",
  id: 0x1234,
  questions: [{ name: "example.test", type: "SOA", class: "IN" }],
});

function answer(id: number): Buffer {
  return dnsPacket.encode({
    type: "response",
    id,
    questions: [{ name: "example.test", type: "SOA", class: "IN" }],
  });
}

const closers: (() => void)[] = [];
afterEach(() => {
  for (const c of closers.splice(0)) c();
});

async function udpServer(
  onMessage: (sock: Socket, msg: Buffer, port: number, address: string) => void,
): Promise<number> {
  const sock = createSocket("udp4");
  sock.on("message", (msg, r) => onMessage(sock, msg, r.port, r.address));
  await new Promise<void>((resolve) => sock.bind(0, "127.0.0.1", resolve));
  closers.push(() => sock.close());
  return sock.address().port;
}

async function tcpServer(onConnection: (sock: import("node:net").Socket) => void): Promise<number> {
  const srv: Server = createServer(onConnection);
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  closers.push(() => srv.close());
  const a = srv.address();
  if (a === null || typeof a === "string") throw new Error("no port");
  return a.port;
}

describe("exchangeDns", () => {
  it("ignores a UDP answer with another ID and takes the matching one (RFC 5452)", async () => {
    const port = await udpServer((sock, _msg, p, a) => {
      sock.send(answer(0x9999), p, a);
      sock.send(answer(0x1234), p, a);
    });
    const got = await exchangeDns({ kind: "udp-tcp", host: "127.0.0.1", port }, QUERY, {
      protocol: "UDP",
      timeoutMs: 5_000,
    });
    expect(got.readUInt16BE(0)).toBe(0x1234);
  });

  it("reads a TCP answer that arrives in pieces, length prefix split from the message", async () => {
    const port = await tcpServer((sock) => {
      sock.on("data", () => {
        const msg = answer(0x1234);
        const framed = Buffer.concat([Buffer.from([msg.length >> 8, msg.length & 0xff]), msg]);
        sock.write(framed.subarray(0, 1));
        setImmediate(() => sock.write(framed.subarray(1, 7)));
        setImmediate(() => setImmediate(() => sock.end(framed.subarray(7))));
      });
    });
    const got = await exchangeDns({ kind: "udp-tcp", host: "127.0.0.1", port }, QUERY, {
      protocol: "TCP",
      timeoutMs: 5_000,
    });
    expect(got).toEqual(answer(0x1234));
  });

  it("says the TCP server closed without answering", async () => {
    const port = await tcpServer((sock) => sock.on("data", () => sock.end()));
    await expect(
      exchangeDns({ kind: "udp-tcp", host: "127.0.0.1", port }, QUERY, { protocol: "TCP", timeoutMs: 5_000 }),
    ).rejects.toMatchObject({
      code: "ERR_DNS01_UNAVAILABLE",
      retry: "transient",
      message: `DNS TCP exchange with 127.0.0.1:${port} failed: the server closed the connection without an answer`,
    });
  });

  it("rejects with the caller's reason when aborted", async () => {
    const port = await udpServer(() => {});
    const ac = new AbortController();
    const p = exchangeDns({ kind: "udp-tcp", host: "127.0.0.1", port }, QUERY, {
      protocol: "UDP",
      timeoutMs: 60_000,
      signal: ac.signal,
    });
    ac.abort(new Error("stopping"));
    await expect(p).rejects.toThrow("stopping");
  });
});
