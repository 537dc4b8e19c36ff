import { createSocket } from "node:dgram";
import * as dnsPacket from "dns-packet";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DnsLagProxy, peakOverlap, startDnsLagProxy } from "../../bench/lib/dns-lag-proxy.js";

/*
 * The acme-dns01 benchmark's lagging resolver: a TXT answer for an _acme-challenge name is held back
 * until its values have been at the server for the delay, everything else passes; and the count of
 * waits open at once that its target is judged on.
 */

describe("peakOverlap", () => {
  it.each([
    { name: "no intervals", intervals: [], peak: 0 },
    {
      name: "one after another (touching)",
      intervals: [
        { start: 0, end: 10 },
        { start: 10, end: 20 },
      ],
      peak: 1,
    },
    {
      name: "all at once",
      intervals: [
        { start: 0, end: 10 },
        { start: 1, end: 9 },
        { start: 2, end: 12 },
      ],
      peak: 3,
    },
    {
      name: "two waves",
      intervals: [
        { start: 0, end: 10 },
        { start: 0, end: 10 },
        { start: 11, end: 20 },
      ],
      peak: 2,
    },
  ])("counts $name", ({ intervals, peak }) => {
    expect(peakOverlap(intervals)).toBe(peak);
  });
});

/** A DNS server answering every TXT query with one value, and A queries with 127.0.0.1. */
const upstream = createSocket("udp4");
let proxy: DnsLagProxy;

beforeAll(async () => {
  upstream.on("message", (msg, from) => {
    const q = dnsPacket.decode(msg);
    const question = q.questions?.[0];
    const answers: dnsPacket.Answer[] =
      question?.type === "TXT"
        ? [{ type: "TXT", name: question.name, ttl: 60, data: "value-1" }]
        : [{ type: "A", name: question?.name ?? "", ttl: 60, data: "127.0.0.1" }];
    upstream.send(
      dnsPacket.encode({
        type: "response",
        id: q.id,
        flags: dnsPacket.AUTHORITATIVE_ANSWER,
        questions: q.questions,
        answers,
      }),
      from.port,
      from.address,
    );
  });
  await new Promise<void>((r) => upstream.bind(0, "127.0.0.1", () => r()));
});

afterAll(async () => {
  await proxy?.stop();
  upstream.close();
});

async function ask(nameserver: string, name: string, type: "TXT" | "A"): Promise<dnsPacket.Packet> {
  const [host, port] = [
    nameserver.slice(0, nameserver.lastIndexOf(":")),
    Number(nameserver.slice(nameserver.lastIndexOf(":") + 1)),
  ];
  const sock = createSocket("udp4");
  try {
    return await new Promise((resolve) => {
      sock.once("message", (m) => resolve(dnsPacket.decode(m)));
      sock.send(dnsPacket.encode({ type: "query", id: 7, questions: [{ type, name }] }), port, host);
    });
  } finally {
    sock.close();
  }
}

describe("the lagging resolver", () => {
  it("holds a challenge TXT answer back until the delay has passed, and passes other queries at once", async () => {
    proxy = await startDnsLagProxy({ upstream: `127.0.0.1:${upstream.address().port}`, delayMs: 300 });
    const name = "_acme-challenge.w-1.example.test";
    expect((await ask(proxy.nameserver, name, "TXT")).answers).toEqual([]);
    expect((await ask(proxy.nameserver, "www.example.test", "TXT")).answers).toHaveLength(1);
    expect((await ask(proxy.nameserver, name, "A")).answers).toHaveLength(1);
    expect(proxy.heldBack).toBe(1);
    expect(proxy.waits).toHaveLength(1);
    expect(proxy.waits[0]?.passedMs).toBeUndefined();
    // Asked again until the delay has passed (event-driven: the answer decides, not a clock here).
    let answers: dnsPacket.Answer[] = [];
    while (answers.length === 0) {
      await new Promise((r) => setTimeout(r, 50));
      answers = (await ask(proxy.nameserver, name, "TXT")).answers ?? [];
    }
    expect(answers).toHaveLength(1);
    const wait = proxy.waits[0];
    expect((wait?.passedMs ?? 0) - (wait?.seenMs ?? 0)).toBeGreaterThanOrEqual(300);
  });
});
