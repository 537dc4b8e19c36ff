import * as dnsPacket from "dns-packet";
import { afterEach, describe, expect, it } from "vitest";
import { makeDnsQuery } from "../../../../src/acme/solvers/dns01/lib/query.js";
import { checkPropagation, resolveChallengeRecord } from "../../../../src/acme/solvers/dns01/propagation.js";
import { type FakeDnsServer, type Script, startFakeDns } from "./fake-dns-server.js";

const SOA = {
  mname: "ns1.example.test",
  rname: "hostmaster.example.test",
  serial: 1,
  refresh: 3600,
  retry: 600,
  expire: 86400,
  minimum: 60,
};

/** A tiny in-memory DNS view: records by name; CNAMEs answered for any type, NXDOMAIN for unknown names. */
function zoneScript(records: dnsPacket.Answer[]): Script {
  return (q) => {
    const name = q.name.toLowerCase();
    const here = records.filter((r) => r.name.toLowerCase() === name);
    if (here.length === 0) return { rcode: "NXDOMAIN" };
    const exact = here.filter((r) => r.type === q.type);
    if (exact.length > 0) return { answers: exact };
    return { answers: here.filter((r) => r.type === "CNAME") };
  };
}

const BASE: dnsPacket.Answer[] = [
  { name: "example.test", type: "SOA", ttl: 60, data: SOA },
  { name: "example.test", type: "NS", ttl: 60, data: "ns1.example.test" },
  { name: "ns1.example.test", type: "A", ttl: 60, data: "127.0.0.1" },
  { name: "www.example.test", type: "A", ttl: 60, data: "127.0.0.1" },
  { name: "delegated.test", type: "SOA", ttl: 60, data: { ...SOA, mname: "ns1.example.test" } },
  { name: "delegated.test", type: "NS", ttl: 60, data: "ns1.example.test" },
  { name: "_acme-challenge.cname.example.test", type: "CNAME", ttl: 60, data: "www.delegated.test" },
  { name: "www.delegated.test", type: "TXT", ttl: 60, data: ["other"] },
  { name: "_acme-challenge.loop.example.test", type: "CNAME", ttl: 60, data: "a.example.test" },
  { name: "a.example.test", type: "CNAME", ttl: 60, data: "_acme-challenge.loop.example.test" },
];

let servers: FakeDnsServer[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  servers = [];
});

async function serve(script: Script): Promise<FakeDnsServer> {
  const s = await startFakeDns(script);
  servers.push(s);
  return s;
}

function optsFor(s: FakeDnsServer, extra: Record<string, unknown> = {}) {
  return {
    recursiveNameservers: [`127.0.0.1:${s.port}`],
    authoritativePort: s.port,
    queryTimeoutMs: 2_000,
    ...extra,
  };
}

describe("resolveChallengeRecord", () => {
  it("puts _acme-challenge before the name without its wildcard and finds the zone by walking up to the SOA", async () => {
    const s = await serve(zoneScript(BASE));
    await expect(resolveChallengeRecord("*.www.example.test", optsFor(s))).resolves.toEqual({
      fqdn: "_acme-challenge.www.example.test.",
      zone: "example.test.",
    });
  });

  it("does not follow CNAMEs unless cnameStrategy is Follow", async () => {
    const s = await serve(zoneScript(BASE));
    await expect(resolveChallengeRecord("cname.example.test", optsFor(s))).resolves.toEqual({
      fqdn: "_acme-challenge.cname.example.test.",
      zone: "example.test.",
    });
  });

  it("follows a CNAME into another zone with cnameStrategy Follow", async () => {
    const s = await serve(zoneScript(BASE));
    await expect(
      resolveChallengeRecord("cname.example.test", optsFor(s, { cnameStrategy: "Follow" })),
    ).resolves.toEqual({
      fqdn: "www.delegated.test.",
      zone: "delegated.test.",
    });
  });

  it("reports a CNAME loop as a transient error naming the chain", async () => {
    const s = await serve(zoneScript(BASE));
    await expect(
      resolveChallengeRecord("loop.example.test", optsFor(s, { cnameStrategy: "Follow" })),
    ).rejects.toMatchObject({
      code: "ERR_DNS01_UNAVAILABLE",
      retry: "transient",
      message: expect.stringContaining(
        "CNAME loop: _acme-challenge.loop.example.test. -> a.example.test. -> _acme-challenge.loop.example.test.",
      ),
    });
  });

  it("reports SERVFAIL from every resolver as a transient error", async () => {
    const s = await serve(() => ({ rcode: "SERVFAIL" }));
    await expect(resolveChallengeRecord("www.example.test", optsFor(s))).rejects.toMatchObject({
      code: "ERR_DNS01_UNAVAILABLE",
      retry: "transient",
      message: expect.stringContaining("SERVFAIL"),
    });
  });

  it("rejects a name that is not a domain name", async () => {
    await expect(
      resolveChallengeRecord("exa mple.test", { recursiveNameservers: ["127.0.0.1:1"] }),
    ).rejects.toMatchObject({
      code: "ERR_RESOURCE_INVALID",
    });
  });
});

describe("checkPropagation", () => {
  const fqdn = "_acme-challenge.www.example.test.";
  const withTxt = (values: string[]) => [
    ...BASE,
    ...values.map((v) => ({ name: fqdn.slice(0, -1), type: "TXT" as const, ttl: 60, data: [v] })),
  ];

  it("is propagated when every authoritative nameserver serves the value, asked without recursion", async () => {
    const s = await serve(zoneScript(withTxt(["one", "two"])));
    await expect(checkPropagation({ fqdn, value: "two" }, optsFor(s))).resolves.toEqual({ propagated: true });
    expect(s.asked).toContain(`udp NS example.test`);
    expect(s.asked).toContain(`udp A ns1.example.test`);
  });

  it("is not propagated while the authoritative server lacks the value", async () => {
    const s = await serve(zoneScript(withTxt(["one"])));
    const r = await checkPropagation({ fqdn, value: "two" }, optsFor(s));
    expect(r).toEqual({
      propagated: false,
      reason: expect.stringContaining("does not serve the challenge TXT value"),
    });
  });

  it("is not propagated on NXDOMAIN and says so", async () => {
    const s = await serve(zoneScript(BASE));
    const r = await checkPropagation({ fqdn, value: "two" }, optsFor(s));
    expect(r).toEqual({ propagated: false, reason: expect.stringContaining("NXDOMAIN") });
  });

  it("reports SERVFAIL from the authoritative server as not propagated with the rcode", async () => {
    const zone = zoneScript(withTxt(["two"]));
    const s = await serve((q, via) => (q.type === "TXT" ? { rcode: "SERVFAIL" } : zone(q, via)));
    const r = await checkPropagation({ fqdn, value: "two" }, optsFor(s));
    expect(r).toEqual({ propagated: false, reason: expect.stringContaining("answered SERVFAIL") });
  });

  it("reports a malformed answer as not propagated", async () => {
    const zone = zoneScript(withTxt(["two"]));
    const s = await serve((q, via) =>
      q.type === "TXT" ? { garbage: Buffer.from("8180000100010000000001", "hex") } : zone(q, via),
    );
    const r = await checkPropagation({ fqdn, value: "two" }, optsFor(s));
    expect(r).toEqual({ propagated: false, reason: expect.stringContaining("sent a malformed DNS answer") });
  });

  it("reports a query timeout as not propagated, naming the timeout", async () => {
    const zone = zoneScript(withTxt(["two"]));
    const s = await serve((q, via) => (q.type === "TXT" ? "drop" : zone(q, via)));
    const r = await checkPropagation({ fqdn, value: "two" }, optsFor(s, { queryTimeoutMs: 300 }));
    expect(r).toEqual({ propagated: false, reason: expect.stringContaining("timed out after 300 ms") });
  });

  it("retries over TCP when the UDP answer is truncated", async () => {
    const zone = zoneScript(withTxt(["two"]));
    const s = await serve((q, via) =>
      q.type === "TXT" ? { ...(zone(q, via) as object), truncateUdp: true } : zone(q, via),
    );
    await expect(checkPropagation({ fqdn, value: "two" }, optsFor(s))).resolves.toEqual({ propagated: true });
    expect(s.asked).toContain(`tcp TXT ${fqdn.slice(0, -1)}`);
  });

  it("asks only the recursive nameservers with recursiveOnly, and needs all of them to serve the value", async () => {
    const has = await serve(zoneScript(withTxt(["two"])));
    const lacks = await serve(zoneScript(BASE));
    const opts = {
      recursiveNameservers: [`127.0.0.1:${has.port}`, `127.0.0.1:${lacks.port}`],
      recursiveOnly: true,
      queryTimeoutMs: 2_000,
    };
    const r = await checkPropagation({ fqdn, value: "two" }, opts);
    expect(r).toEqual({
      propagated: false,
      reason: `127.0.0.1:${lacks.port} answered NXDOMAIN for TXT ${fqdn}`,
    });
    expect(has.asked).toEqual([`udp TXT ${fqdn.slice(0, -1)}`]);
  });

  it("reports a zone whose nameserver has no address", async () => {
    const records = withTxt(["two"]).filter((r) => !(r.name === "ns1.example.test" && r.type === "A"));
    const s = await serve(zoneScript(records));
    const r = await checkPropagation({ fqdn, value: "two" }, optsFor(s));
    expect(r).toEqual({ propagated: false, reason: "nameserver ns1.example.test has no A or AAAA record" });
  });

  it("stops when the caller aborts", async () => {
    const s = await serve(() => "drop");
    const ac = new AbortController();
    const p = checkPropagation(
      { fqdn, value: "two" },
      optsFor(s, { signal: ac.signal, queryTimeoutMs: 60_000 }),
    );
    ac.abort(new Error("shutting down"));
    await expect(p).rejects.toThrow("shutting down");
  });
});

describe("DNS over HTTPS", () => {
  it("asks a DoH resolver by POSTing application/dns-message with ID 0 (RFC 8484) and reads its answer", async () => {
    const seen: { url: string; method?: string; type?: string | null; id?: number; question?: string }[] = [];
    const fakeFetch = async (url: string, init: RequestInit): Promise<Response> => {
      const body = Buffer.from(init.body as Uint8Array);
      const q = dnsPacket.decode(body);
      seen.push({
        url,
        method: init.method,
        type: new Headers(init.headers).get("content-type"),
        id: q.id,
        question: `${q.questions?.[0]?.type} ${q.questions?.[0]?.name}`,
      });
      const answer = dnsPacket.encode({
        type: "response",
        id: 0,
        questions: q.questions,
        answers: [{ name: "_acme-challenge.www.example.test", type: "TXT", ttl: 60, data: ["doh-value"] }],
      });
      return new Response(answer, { status: 200, headers: { "content-type": "application/dns-message" } });
    };
    const opts = {
      recursiveNameservers: ["https://doh.example/dns-query"],
      recursiveOnly: true,
      query: makeDnsQuery({ fetch: fakeFetch }),
    };
    await expect(
      checkPropagation({ fqdn: "_acme-challenge.www.example.test.", value: "doh-value" }, opts),
    ).resolves.toEqual({ propagated: true });
    expect(seen).toEqual([
      {
        url: "https://doh.example/dns-query",
        method: "POST",
        type: "application/dns-message",
        id: 0,
        question: "TXT _acme-challenge.www.example.test",
      },
    ]);
  });

  it("reports an HTTP error from the DoH resolver as not propagated", async () => {
    const fakeFetch = async (): Promise<Response> => new Response("busy", { status: 503 });
    const opts = {
      recursiveNameservers: ["https://doh.example/dns-query"],
      recursiveOnly: true,
      query: makeDnsQuery({ fetch: fakeFetch }),
    };
    await expect(
      checkPropagation({ fqdn: "_acme-challenge.www.example.test.", value: "v" }, opts),
    ).resolves.toEqual({
      propagated: false,
      reason: "DNS-over-HTTPS query to https://doh.example/dns-query answered HTTP 503",
    });
  });
});
