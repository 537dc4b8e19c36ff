/**
 * The RFC 2136 provider against a real Knot DNS server: dynamic UPDATE signed
 * with each TSIG algorithm, only its own TXT value added and removed, the
 * server's refusals turned into errors that name them, and the propagation
 * check seeing what the provider wrote.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  checkPropagation,
  createDns01Provider,
  type Dns01BuildContext,
  type Dns01ChallengeInfo,
  type Dns01Config,
  type Dns01Provider,
  type PropagationOptions,
  resolveChallengeRecord,
} from "../../src/acme/solvers/dns01/index.js";
import { createRfc2136Provider } from "../../src/acme/solvers/dns01/rfc2136/index.js";
import { KNOT_TSIG_ALGORITHMS, type Knot, type KnotTsigAlgorithm, startKnot } from "./harness/knot.js";

let knot: Knot;
let prop: PropagationOptions;

const secrets = new Map<string, string>();

function ctx(): Dns01BuildContext {
  return {
    secretNamespace: "istio-ingress",
    issuerKind: "Issuer",
    readSecretKey: async (name, key) => secrets.get(`${name}/${key}`),
  };
}

const CHALLENGE: Dns01ChallengeInfo = {
  uid: "uid-1",
  namespace: "istio-ingress",
  dnsName: "www.example.test",
  key: "token.thumbprint",
  resourceNamespace: "istio-ingress",
  allowAmbientCredentials: false,
};

beforeAll(async () => {
  knot = await startKnot({ ipv6: true });
  for (const k of knot.tsigKeys) secrets.set(`tsig-${k.algorithm.toLowerCase()}/secret`, k.secret);
  secrets.set("tsig-wrong/secret", Buffer.alloc(32, 7).toString("base64"));
  prop = { recursiveNameservers: [knot.nameserver], authoritativePort: knot.port, queryTimeoutMs: 5_000 };
});

afterAll(async () => {
  await knot?.stop();
});

async function provider(rfc2136: Record<string, unknown>): Promise<Dns01Provider> {
  return createDns01Provider({ rfc2136 } as Dns01Config, ctx());
}

function signedWith(
  algorithm: KnotTsigAlgorithm,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    nameserver: knot.nameserver,
    tsigKeyName: knot.key(algorithm).name,
    tsigAlgorithm: algorithm,
    tsigSecretSecretRef: { name: `tsig-${algorithm.toLowerCase()}`, key: "secret" },
    ...extra,
  };
}

describe("rfc2136 provider against knotd", () => {
  it.each(KNOT_TSIG_ALGORITHMS)("presents and cleans up a TXT record signed with %s", async (algorithm) => {
    const p = await provider(signedWith(algorithm));
    const record = {
      fqdn: `_acme-challenge.${algorithm.toLowerCase()}.example.test.`,
      zone: "example.test.",
      value: `value-${algorithm}`,
    };
    await p.present(record, CHALLENGE);
    expect(await knot.txt(record.fqdn)).toEqual([record.value]);
    // Idempotent: presenting again leaves one record, cleaning up twice is no error.
    await p.present(record, CHALLENGE);
    expect(await knot.txt(record.fqdn)).toEqual([record.value]);
    await p.cleanUp(record, CHALLENGE);
    expect(await knot.txt(record.fqdn)).toEqual([]);
    await p.cleanUp(record, CHALLENGE);
  });

  it("signs with HMAC-MD5 when tsigAlgorithm is unset (cert-manager's default)", async () => {
    const { tsigAlgorithm: _unset, ...config } = signedWith("HMACMD5");
    const p = await provider(config);
    const record = {
      fqdn: "_acme-challenge.default-alg.example.test.",
      zone: "example.test.",
      value: "md5-default",
    };
    await p.present(record, CHALLENGE);
    expect(await knot.txt(record.fqdn)).toEqual([record.value]);
    await p.cleanUp(record, CHALLENGE);
  });

  it("writes over TCP with protocol TCP", async () => {
    const p = await provider(signedWith("HMACSHA256", { protocol: "TCP" }));
    const record = { fqdn: "_acme-challenge.tcp.example.test.", zone: "example.test.", value: "over-tcp" };
    await p.present(record, CHALLENGE);
    expect(await knot.txt(record.fqdn)).toEqual([record.value]);
    await p.cleanUp(record, CHALLENGE);
    expect(await knot.txt(record.fqdn)).toEqual([]);
  });

  it("keeps two values under one name (a wildcard and its apex) and removes only its own", async () => {
    const p = await provider(signedWith("HMACSHA512"));
    const fqdn = "_acme-challenge.both.example.test.";
    const apex = { fqdn, zone: "example.test.", value: "apex-value" };
    const wildcard = { fqdn, zone: "example.test.", value: "wildcard-value" };
    await p.present(apex, CHALLENGE);
    await p.present(wildcard, CHALLENGE);
    expect((await knot.txt(fqdn)).sort()).toEqual(["apex-value", "wildcard-value"]);
    await p.cleanUp(apex, CHALLENGE);
    expect(await knot.txt(fqdn)).toEqual(["wildcard-value"]);
    await p.cleanUp(wildcard, CHALLENGE);
    expect(await knot.txt(fqdn)).toEqual([]);
  });

  it("fails terminally with BADSIG/NOTAUTH named when the TSIG secret is wrong", async () => {
    const p = await provider(
      signedWith("HMACSHA256", { tsigSecretSecretRef: { name: "tsig-wrong", key: "secret" } }),
    );
    const record = { fqdn: "_acme-challenge.wrong.example.test.", zone: "example.test.", value: "never" };
    const err = await p.present(record, CHALLENGE).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "ERR_DNS01_REFUSED", retry: "terminal" });
    expect((err as Error).message).toMatch(/NOTAUTH, TSIG BADSIG/);
    expect((err as Error).message).toContain("the TSIG secret does not match");
    expect((err as Error).message).not.toContain(secrets.get("tsig-wrong/secret"));
    expect(await knot.txt(record.fqdn)).toEqual([]);
  });

  it("fails terminally with BADKEY named when the server does not know the key", async () => {
    const p = await provider(signedWith("HMACSHA256", { tsigKeyName: "unknown-key." }));
    const err = await p
      .present(
        { fqdn: "_acme-challenge.badkey.example.test.", zone: "example.test.", value: "never" },
        CHALLENGE,
      )
      .catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: "ERR_DNS01_REFUSED",
      retry: "terminal",
      message: expect.stringMatching(/NOTAUTH, TSIG BADKEY/),
    });
  });

  it("fails terminally with BADTIME named when meshsign's clock is an hour off", async () => {
    const p = await createRfc2136Provider(signedWith("HMACSHA256"), ctx(), {
      now: () => Date.now() - 3_600_000,
    });
    const record = { fqdn: "_acme-challenge.badtime.example.test.", zone: "example.test.", value: "never" };
    const err = await p.present(record, CHALLENGE).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: "ERR_DNS01_REFUSED",
      retry: "terminal",
      message: expect.stringMatching(/NOTAUTH, TSIG BADTIME.*clocks/),
    });
    expect(await knot.txt(record.fqdn)).toEqual([]);
  });

  it("fails terminally naming the refusal when an unsigned update is not allowed", async () => {
    const p = await provider({ nameserver: knot.nameserver });
    const err = await p
      .present(
        { fqdn: "_acme-challenge.unsigned.example.test.", zone: "example.test.", value: "never" },
        CHALLENGE,
      )
      .catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: "ERR_DNS01_REFUSED",
      retry: "terminal",
      message: expect.stringMatching(/refused the update: (NOTAUTH|REFUSED)/),
    });
  });

  it("fails terminally with NOTAUTH when the zone is not the server's", async () => {
    const p = await provider(signedWith("HMACSHA256"));
    const err = await p
      .present(
        { fqdn: "_acme-challenge.elsewhere.test.", zone: "elsewhere.test.", value: "never" },
        CHALLENGE,
      )
      .catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: "ERR_DNS01_REFUSED",
      retry: "terminal",
      message: expect.stringMatching(/refused the update: (NOTAUTH|REFUSED)/),
    });
  });

  it("reaches the server at an IPv6 nameserver written [::1]:port", async () => {
    const p = await provider(signedWith("HMACSHA256", { nameserver: knot.nameserver6 }));
    const record = { fqdn: "_acme-challenge.v6.example.test.", zone: "example.test.", value: "over-ipv6" };
    await p.present(record, CHALLENGE);
    expect(await knot.txt(record.fqdn)).toEqual([record.value]);
    await p.cleanUp(record, CHALLENGE);
    expect(await knot.txt(record.fqdn)).toEqual([]);
  });

  it("fails transiently when nothing answers at the nameserver", async () => {
    const p = await provider(signedWith("HMACSHA256", { nameserver: "127.0.0.1:9" }));
    const err = await p
      .present(
        { fqdn: "_acme-challenge.down.example.test.", zone: "example.test.", value: "never" },
        CHALLENGE,
      )
      .catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: "ERR_DNS01_UNAVAILABLE",
      retry: "transient",
      message: expect.stringContaining("127.0.0.1:9"),
    });
  });
});

describe("rfc2136 provider and the propagation check", () => {
  it("is propagated after present and not after cleanUp", async () => {
    const p = await provider(signedWith("HMACSHA256"));
    const { fqdn, zone } = await resolveChallengeRecord("*.shop.example.test", prop);
    const record = { fqdn, zone, value: "propagation-check" };
    await p.present(record, CHALLENGE);
    await expect(checkPropagation(record, prop)).resolves.toEqual({ propagated: true });
    await p.cleanUp(record, CHALLENGE);
    const after = await checkPropagation(record, prop);
    expect(after.propagated).toBe(false);
  });

  it("writes the record where the CNAME points when cnameStrategy is Follow", async () => {
    const p = await provider(signedWith("HMACSHA1"));
    const { fqdn, zone } = await resolveChallengeRecord("alias.example.test", {
      ...prop,
      cnameStrategy: "Follow",
    });
    expect({ fqdn, zone }).toEqual({ fqdn: "alias.delegated.test.", zone: "delegated.test." });
    const record = { fqdn, zone, value: "delegated-value" };
    await p.present(record, CHALLENGE);
    expect(await knot.txt("alias.delegated.test.")).toEqual(["delegated-value"]);
    await expect(checkPropagation(record, prop)).resolves.toEqual({ propagated: true });
    await p.cleanUp(record, CHALLENGE);
    expect(await knot.txt("alias.delegated.test.")).toEqual([]);
  });
});
