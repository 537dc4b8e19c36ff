import { describe, expect, it } from "vitest";
import { formatNameserver, parseNameserver } from "../../../../src/acme/solvers/dns01/lib/nameserver.js";

describe("parseNameserver", () => {
  it.each([
    ["127.0.0.1", { kind: "udp-tcp", host: "127.0.0.1", port: 53 }],
    ["127.0.0.1:5353", { kind: "udp-tcp", host: "127.0.0.1", port: 5353 }],
    ["ns1.example.com", { kind: "udp-tcp", host: "ns1.example.com", port: 53 }],
    ["ns1.example.com.:53", { kind: "udp-tcp", host: "ns1.example.com.", port: 53 }],
    ["[::1]:5353", { kind: "udp-tcp", host: "::1", port: 5353 }],
    ["[2001:db8::53]", { kind: "udp-tcp", host: "2001:db8::53", port: 53 }],
    ["2001:db8::53", { kind: "udp-tcp", host: "2001:db8::53", port: 53 }],
    [" 10.0.0.2:53 ", { kind: "udp-tcp", host: "10.0.0.2", port: 53 }],
  ])("reads %s", (input, want) => {
    expect(parseNameserver(input)).toEqual(want);
  });

  it("accepts a DNS-over-HTTPS URL only where a resolver is meant", () => {
    expect(parseNameserver("https://dns.example/dns-query", { allowDoh: true })).toEqual({
      kind: "doh",
      url: "https://dns.example/dns-query",
    });
    expect(() => parseNameserver("https://dns.example/dns-query")).toThrow(
      /DNS-over-HTTPS URL is not accepted here/,
    );
  });

  it.each([
    ["", "it is empty"],
    ["127.0.0.1:0", "out of range"],
    ["127.0.0.1:65536", "out of range"],
    ["127.0.0.1:dns", "not a number"],
    ["[127.0.0.1]:53", "brackets must hold an IPv6 address"],
    ["[::1:53", "unbalanced brackets"],
    ["bad host:53", "neither an IP address nor a host name"],
    ["http://dns.example/dns-query", "only https://"],
  ])("rejects %j (%s)", (input, why) => {
    expect(() => parseNameserver(input, { allowDoh: true })).toThrow(why);
    try {
      parseNameserver(input, { allowDoh: true });
    } catch (err) {
      expect(err).toMatchObject({ code: "ERR_RESOURCE_INVALID", retry: "terminal" });
    }
  });

  it("formats IPv6 servers with brackets so the port stays readable", () => {
    expect(formatNameserver(parseNameserver("[::1]:5353"))).toBe("[::1]:5353");
    expect(formatNameserver(parseNameserver("10.0.0.2"))).toBe("10.0.0.2:53");
  });
});
