import * as dnsPacket from "dns-packet";
import { afterEach, describe, expect, it } from "vitest";
import {
  createDns01Provider,
  type Dns01BuildContext,
  type Dns01ChallengeInfo,
  type Dns01Config,
  isDns01ProviderSupported,
} from "../../../../../src/acme/solvers/dns01/index.js";
import { buildTxtUpdate } from "../../../../../src/acme/solvers/dns01/rfc2136/message.js";
import { type FakeDnsServer, type Script, startFakeDns } from "../fake-dns-server.js";

const SECRET = Buffer.alloc(32, 1).toString("base64");

function ctx(secrets: Record<string, string> = { "tsig/secret": SECRET }): Dns01BuildContext {
  return {
    secretNamespace: "ns1",
    issuerKind: "Issuer",
    readSecretKey: async (n, k) => secrets[`${n}/${k}`],
  };
}

const CHALLENGE: Dns01ChallengeInfo = {
  uid: "u",
  namespace: "ns1",
  dnsName: "example.test",
  key: "k",
  resourceNamespace: "ns1",
  allowAmbientCredentials: false,
};
const RECORD = { fqdn: "_acme-challenge.example.test.", zone: "example.test.", value: "v" };

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

describe("buildTxtUpdate", () => {
  it("adds one TXT record with class IN and TTL 60 in an UPDATE for the zone's SOA", () => {
    const msg = buildTxtUpdate({
      id: 7,
      zone: "example.test.",
      fqdn: "_acme-challenge.example.test.",
      value: "abc",
      action: "add",
      ttl: 60,
    });
    const p = dnsPacket.decode(msg) as dnsPacket.DecodedPacket & { opcode?: string };
    expect(p.opcode).toBe("UPDATE");
    expect(p.questions).toEqual([{ name: "example.test", type: "SOA", class: "IN" }]);
    expect(p.answers).toEqual([]);
    expect(p.authorities).toMatchObject([
      { name: "_acme-challenge.example.test", type: "TXT", class: "IN", ttl: 60, data: [Buffer.from("abc")] },
    ]);
  });

  it("deletes exactly one value with class NONE and TTL 0 (RFC 2136 2.5.4)", () => {
    const msg = buildTxtUpdate({
      id: 7,
      zone: "example.test.",
      fqdn: "_acme-challenge.example.test.",
      value: "abc",
      action: "delete",
      ttl: 60,
    });
    const p = dnsPacket.decode(msg);
    expect(p.authorities).toMatchObject([
      { type: "TXT", class: "UNKNOWN_254", ttl: 0, data: [Buffer.from("abc")] },
    ]);
  });

  it("splits a value longer than 255 bytes into several character-strings", () => {
    const msg = buildTxtUpdate({
      id: 7,
      zone: "example.test.",
      fqdn: "a.example.test.",
      value: "x".repeat(300),
      action: "add",
      ttl: 60,
    });
    const data = dnsPacket.decode(msg).authorities?.[0];
    expect(data?.type === "TXT" && Array.isArray(data.data) ? data.data.map((b) => b.length) : []).toEqual([
      255, 45,
    ]);
  });
});

describe("rfc2136 provider", () => {
  it("is registered when the dns01 index is imported", () => {
    expect(isDns01ProviderSupported({ rfc2136: { nameserver: "127.0.0.1" } } as Dns01Config)).toBe(true);
  });

  it.each([
    [{ nameserver: "https://dns.example/dns-query" }, "DNS-over-HTTPS URL is not accepted"],
    [{ nameserver: "127.0.0.1:99999" }, "out of range"],
    [{ nameserver: "127.0.0.1", tsigKeyName: "k." }, "must be set together"],
    [
      { nameserver: "127.0.0.1", tsigKeyName: "k.", tsigSecretSecretRef: { name: "tsig" } },
      "tsigSecretSecretRef.key is required",
    ],
    [
      {
        nameserver: "127.0.0.1",
        tsigKeyName: "bad key",
        tsigSecretSecretRef: { name: "tsig", key: "secret" },
      },
      "is not a domain name",
    ],
    [{ nameserver: "127.0.0.1", tsigAlgorithm: "HMACSHA384" }, "tsigAlgorithm"],
  ])("rejects config %j (%s)", async (rfc2136, why) => {
    await expect(createDns01Provider({ rfc2136 } as Dns01Config, ctx())).rejects.toMatchObject({
      code: "ERR_RESOURCE_INVALID",
      message: expect.stringContaining(why),
    });
  });

  it("says which Secret is missing, as a transient error, and never prints the secret", async () => {
    const config = {
      rfc2136: {
        nameserver: "127.0.0.1",
        tsigKeyName: "k.",
        tsigSecretSecretRef: { name: "absent", key: "secret" },
      },
    };
    await expect(createDns01Provider(config as Dns01Config, ctx())).rejects.toMatchObject({
      code: "ERR_NOT_FOUND",
      retry: "transient",
      message: "rfc2136: Secret ns1/absent key secret does not exist",
    });
    const bad = {
      rfc2136: {
        nameserver: "127.0.0.1",
        tsigKeyName: "k.",
        tsigSecretSecretRef: { name: "tsig", key: "secret" },
      },
    };
    const err = await createDns01Provider(bad as Dns01Config, ctx({ "tsig/secret": "not base64!" })).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({
      code: "ERR_RESOURCE_INVALID",
      message: "rfc2136: the TSIG secret in Secret ns1/tsig key secret is not base64",
    });
  });

  it("accepts a base64 secret with a trailing newline (kubectl --from-file)", async () => {
    const config = {
      rfc2136: {
        nameserver: "127.0.0.1",
        tsigKeyName: "k.",
        tsigSecretSecretRef: { name: "tsig", key: "secret" },
      },
    };
    await expect(
      createDns01Provider(config as Dns01Config, ctx({ "tsig/secret": `${SECRET}\n` })),
    ).resolves.toMatchObject({ name: "rfc2136" });
  });

  it("refuses a record outside its zone before sending anything", async () => {
    const p = await createDns01Provider({ rfc2136: { nameserver: "127.0.0.1:9" } } as Dns01Config, ctx());
    await expect(p.present({ ...RECORD, zone: "other.test." }, CHALLENGE)).rejects.toMatchObject({
      code: "ERR_RESOURCE_INVALID",
      message: expect.stringContaining("not inside zone other.test."),
    });
  });

  it.each([
    ["SERVFAIL", "ERR_DNS01_UNAVAILABLE", "transient"],
    ["REFUSED", "ERR_DNS01_REFUSED", "terminal"],
    ["NOTAUTH", "ERR_DNS01_REFUSED", "terminal"],
  ] as const)("turns rcode %s into %s (%s)", async (rcode, code, retry) => {
    const s = await serve(() => ({ rcode }));
    const p = await createDns01Provider(
      { rfc2136: { nameserver: `127.0.0.1:${s.port}` } } as Dns01Config,
      ctx(),
    );
    await expect(p.present(RECORD, CHALLENGE)).rejects.toMatchObject({
      code,
      retry,
      message: expect.stringContaining(rcode),
    });
    expect(s.asked).toEqual(["udp SOA example.test"]);
  });

  it("turns a timeout into a transient error naming the server", async () => {
    const s = await serve(() => "drop");
    const { createRfc2136Provider } = await import("../../../../../src/acme/solvers/dns01/rfc2136/index.js");
    const p = await createRfc2136Provider({ nameserver: `127.0.0.1:${s.port}` }, ctx(), { timeoutMs: 200 });
    await expect(p.cleanUp(RECORD, CHALLENGE)).rejects.toMatchObject({
      code: "ERR_DNS01_UNAVAILABLE",
      retry: "transient",
      message: `rfc2136: removing TXT _acme-challenge.example.test. in zone example.test. at 127.0.0.1:${s.port}: DNS UDP exchange with 127.0.0.1:${s.port} timed out after 200 ms`,
    });
  });

  it("sends over TCP with protocol TCP", async () => {
    const s = await serve(() => ({}));
    const p = await createDns01Provider(
      { rfc2136: { nameserver: `127.0.0.1:${s.port}`, protocol: "TCP" } } as Dns01Config,
      ctx(),
    );
    await p.present(RECORD, CHALLENGE);
    expect(s.asked).toEqual(["tcp SOA example.test"]);
  });

  it("retries over TCP when the UDP answer is truncated", async () => {
    const s = await serve(() => ({ truncateUdp: true }));
    const p = await createDns01Provider(
      { rfc2136: { nameserver: `127.0.0.1:${s.port}` } } as Dns01Config,
      ctx(),
    );
    await p.present(RECORD, CHALLENGE);
    expect(s.asked).toEqual(["udp SOA example.test", "tcp SOA example.test"]);
  });

  it("does not take an unsigned NOERROR as success when the update was TSIG-signed", async () => {
    const s = await serve(() => ({}));
    const config = {
      rfc2136: {
        nameserver: `127.0.0.1:${s.port}`,
        tsigKeyName: "k.",
        tsigSecretSecretRef: { name: "tsig", key: "secret" },
      },
    };
    const p = await createDns01Provider(config as Dns01Config, ctx());
    await expect(p.present(RECORD, CHALLENGE)).rejects.toMatchObject({
      code: "ERR_DNS01_REFUSED",
      message: expect.stringContaining("not TSIG-signed (TSIG key k., HMACMD5)"),
    });
  });

  it.each(["hmacsha256", "HMACSHA256", "HmacSha256"])(
    "takes tsigAlgorithm %s as HMACSHA256 (any case, as cert-manager upper-cases it)",
    async (tsigAlgorithm) => {
      const s = await serve(() => ({}));
      const config = {
        rfc2136: {
          nameserver: `127.0.0.1:${s.port}`,
          tsigKeyName: "k.",
          tsigAlgorithm,
          tsigSecretSecretRef: { name: "tsig", key: "secret" },
        },
      };
      const p = await createDns01Provider(config as Dns01Config, ctx());
      await expect(p.present(RECORD, CHALLENGE)).rejects.toMatchObject({
        message: expect.stringContaining("(TSIG key k., HMACSHA256)"),
      });
    },
  );

  it("refuses an unknown tsigAlgorithm with the list of allowed ones", async () => {
    const config = { rfc2136: { nameserver: "127.0.0.1", tsigAlgorithm: "hmacsha384" } };
    await expect(createDns01Provider(config as Dns01Config, ctx())).rejects.toMatchObject({
      code: "ERR_RESOURCE_INVALID",
      message:
        "rfc2136: tsigAlgorithm: must be one of HMACMD5, HMACSHA1, HMACSHA256, HMACSHA512 (in any case)",
    });
  });
});
