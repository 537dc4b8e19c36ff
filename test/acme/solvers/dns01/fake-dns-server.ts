/**
 * A scripted DNS server on 127.0.0.1 (UDP and TCP on one free port) for unit
 * tests: each question goes to `answer`, which returns the rcode and records
 * to send, or "drop" to stay silent (a timeout). Not a DNS implementation.
 */
import { createSocket } from "node:dgram";
import { createServer, type Server } from "node:net";
import * as dnsPacket from "dns-packet";

export interface ScriptedAnswer {
  readonly rcode?: "NOERROR" | "NXDOMAIN" | "SERVFAIL" | "REFUSED" | "NOTAUTH";
  readonly answers?: dnsPacket.Answer[];
  /** Set TC on the UDP answer so the client retries over TCP. */
  readonly truncateUdp?: boolean;
  /** Sent after the query's ID instead of a well-formed answer. */
  readonly garbage?: Buffer;
}

export type Script = (q: dnsPacket.Question, via: "udp" | "tcp") => ScriptedAnswer | "drop";

export interface FakeDnsServer {
  readonly port: number;
  /** Every question asked, as "udp|tcp TYPE name". */
  readonly asked: string[];
  stop(): Promise<void>;
}

const RCODES = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3, REFUSED: 5, NOTAUTH: 9 } as const;

function respond(query: Buffer, script: Script, via: "udp" | "tcp", asked: string[]): Buffer | undefined {
  const q = dnsPacket.decode(query);
  const question = q.questions?.[0];
  if (question === undefined) return undefined;
  asked.push(`${via} ${question.type} ${question.name}`);
  const a = script(question, via);
  if (a === "drop") return undefined;
  if (a.garbage !== undefined) return Buffer.concat([query.subarray(0, 2), a.garbage]);
  let flags = dnsPacket.AUTHORITATIVE_ANSWER | RCODES[a.rcode ?? "NOERROR"];
  if (via === "udp" && a.truncateUdp === true) flags |= dnsPacket.TRUNCATED_RESPONSE;
  return dnsPacket.encode({
    type: "response",
    id: q.id,
    flags,
    questions: [question],
    answers: via === "udp" && a.truncateUdp === true ? [] : (a.answers ?? []),
  });
}

export async function startFakeDns(script: Script): Promise<FakeDnsServer> {
  const asked: string[] = [];
  const tcp: Server = createServer((sock) => {
    let buf = Buffer.alloc(0);
    sock.on("data", (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const n = buf.readUInt16BE(0);
        const out = respond(buf.subarray(2, 2 + n), script, "tcp", asked);
        buf = buf.subarray(2 + n);
        if (out !== undefined) {
          const len = Buffer.alloc(2);
          len.writeUInt16BE(out.length);
          sock.write(Buffer.concat([len, out]));
        }
      }
    });
    sock.on("error", () => {});
  });
  await new Promise<void>((resolve) => tcp.listen(0, "127.0.0.1", resolve));
  const address = tcp.address();
  if (address === null || typeof address === "string") throw new Error("no TCP port");
  const udp = createSocket("udp4");
  udp.on("message", (msg, rinfo) => {
    const out = respond(msg, script, "udp", asked);
    if (out !== undefined) udp.send(out, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => udp.bind(address.port, "127.0.0.1", resolve));
  return {
    port: address.port,
    asked,
    stop: async () => {
      udp.close();
      await new Promise<void>((resolve) => tcp.close(() => resolve()));
    },
  };
}
