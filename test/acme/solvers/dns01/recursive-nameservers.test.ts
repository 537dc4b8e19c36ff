import { describe, expect, it } from "vitest";
import { parseRecursiveNameservers } from "../../../../src/acme/solvers/dns01/index.js";

describe("parseRecursiveNameservers", () => {
  it("reads a comma-separated list of host:port, [v6]:port and DoH URLs, spaces and empty entries ignored", () => {
    expect(
      parseRecursiveNameservers("8.8.8.8:53, [2001:4860:4860::8888]:53,,https://dns.google/dns-query "),
    ).toEqual(["8.8.8.8:53", "[2001:4860:4860::8888]:53", "https://dns.google/dns-query"]);
    expect(parseRecursiveNameservers("")).toEqual([]);
  });

  it("names the flag and the bad entry", () => {
    expect(() => parseRecursiveNameservers("8.8.8.8:53,8.8.4.4:99999")).toThrow(
      expect.objectContaining({
        code: "ERR_CONFIG_INVALID",
        message:
          '--dns01-recursive-nameservers: nameserver "8.8.4.4:99999" is invalid: the port is out of range 1-65535',
      }),
    );
    expect(() => parseRecursiveNameservers("tls://1.1.1.1")).toThrow(/only https:\/\/ URLs/);
  });
});
