/**
 * The Cloudflare DNS-01 provider against a STAND-IN for Cloudflare's API.
 *
 * Cloudflare's API cannot be reached from the test machines and no emulator
 * exists, so the server below implements only the documented API v4 endpoints
 * the provider uses (GET /zones?name=, GET/POST /zones/:id/dns_records,
 * DELETE /zones/:id/dns_records/:id), with Cloudflare's response envelope
 * `{success, errors[{code, message, error_chain}], messages, result}` and its
 * two authentication schemes (API token as `Authorization: Bearer`, global API
 * key as `X-Auth-Email` + `X-Auth-Key`), checking the headers on every call.
 * It proves the provider's requests and its handling of the answers, not
 * Cloudflare's own behaviour.
 */
import { randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createCloudflareFactory } from "../../../../src/acme/solvers/dns01/cloudflare/index.js";
import { zoneNameCandidates } from "../../../../src/acme/solvers/dns01/cloudflare/lib/zone-names.js";
import {
  type Dns01BuildContext,
  type Dns01ChallengeInfo,
  isDns01ProviderSupported,
} from "../../../../src/acme/solvers/dns01/index.js";
import { isMeshsignError } from "../../../../src/errors/index.js";

const TOKEN = "cf-token-for-tests-only";
const EMAIL = "dns@example.com";
const GLOBAL_KEY = "cf-global-key-for-tests-only";

interface StoredRecord {
  id: string;
  zoneId: string;
  type: string;
  name: string;
  content: string;
  ttl: number;
}

/** The stand-in's state and what it saw. */
class StandIn {
  readonly zones = [
    { id: "zone-example", name: "example.com" },
    { id: "zone-sub", name: "sub.example.com" },
  ];
  readonly records: StoredRecord[] = [];
  readonly seen: Array<{ method: string; path: string; auth: string }> = [];
  /** Answer the next N requests with 503. */
  failNext = 0;
  server: http.Server | undefined;

  get url(): string {
    const port = (this.server?.address() as AddressInfo | undefined)?.port ?? 0;
    return `http://127.0.0.1:${port}/client/v4`;
  }

  reset(): void {
    this.records.length = 0;
    this.seen.length = 0;
    this.failNext = 0;
  }

  handle(req: http.IncomingMessage, body: string): { status: number; json: unknown } {
    const url = new URL(req.url ?? "/", "http://stand-in");
    const auth = req.headers.authorization;
    const email = req.headers["x-auth-email"];
    const key = req.headers["x-auth-key"];
    this.seen.push({
      method: req.method ?? "",
      path: url.pathname + url.search,
      auth: auth !== undefined ? "token" : email !== undefined ? "key" : "none",
    });
    const ok = (result: unknown) => ({
      status: 200,
      json: { success: true, errors: [], messages: [], result },
    });
    const fail = (status: number, errors: unknown[]) => ({
      status,
      json: { success: false, errors, messages: [], result: null },
    });
    if (this.failNext > 0) {
      this.failNext--;
      return fail(503, [{ code: 10502, message: "Service temporarily unavailable" }]);
    }
    if (auth !== undefined) {
      if (auth !== `Bearer ${TOKEN}`) return fail(403, [{ code: 10000, message: "Authentication error" }]);
    } else if (email !== undefined || key !== undefined) {
      if (email !== EMAIL || key !== GLOBAL_KEY) {
        return fail(400, [
          {
            code: 6003,
            message: "Invalid request headers",
            error_chain: [{ code: 6103, message: "Invalid format for X-Auth-Key header" }],
          },
        ]);
      }
    } else {
      return fail(400, [
        { code: 9106, message: "Missing X-Auth-Key, X-Auth-Email or Authorization headers" },
      ]);
    }

    const parts = url.pathname.replace(/^\/client\/v4\//, "").split("/");
    if (req.method === "GET" && parts.length === 1 && parts[0] === "zones") {
      return ok(this.zones.filter((z) => z.name === url.searchParams.get("name")));
    }
    const zone = this.zones.find((z) => z.id === parts[1]);
    if (parts[0] !== "zones" || parts[2] !== "dns_records")
      return fail(404, [{ code: 7003, message: "Could not route" }]);
    if (zone === undefined)
      return fail(404, [
        { code: 7003, message: "Could not route to /zones, perhaps your object identifier is invalid?" },
      ]);
    if (req.method === "GET" && parts.length === 3) {
      const type = url.searchParams.get("type");
      const name = url.searchParams.get("name");
      return ok(
        this.records
          .filter(
            (r) =>
              r.zoneId === zone.id &&
              (type === null || r.type === type) &&
              (name === null || r.name === name),
          )
          .map((r) => ({
            id: r.id,
            zone_id: r.zoneId,
            type: r.type,
            name: r.name,
            content: r.content,
            ttl: r.ttl,
          })),
      );
    }
    if (req.method === "POST" && parts.length === 3) {
      const rec = JSON.parse(body) as { type?: unknown; name?: unknown; content?: unknown; ttl?: unknown };
      if (
        rec.type !== "TXT" ||
        typeof rec.name !== "string" ||
        typeof rec.content !== "string" ||
        typeof rec.ttl !== "number"
      ) {
        return fail(400, [{ code: 9000, message: "DNS record type/name/content/ttl invalid" }]);
      }
      if (!rec.name.endsWith(zone.name))
        return fail(400, [{ code: 9007, message: "Record name is not in the zone" }]);
      if (
        this.records.some((r) => r.zoneId === zone.id && r.name === rec.name && r.content === rec.content)
      ) {
        return fail(400, [{ code: 81058, message: "An identical record already exists." }]);
      }
      const stored = {
        id: randomUUID().replaceAll("-", ""),
        zoneId: zone.id,
        type: rec.type,
        name: rec.name,
        content: rec.content,
        ttl: rec.ttl,
      };
      this.records.push(stored);
      return ok({ ...stored, zone_id: zone.id });
    }
    if (req.method === "DELETE" && parts.length === 4) {
      const i = this.records.findIndex((r) => r.zoneId === zone.id && r.id === parts[3]);
      if (i < 0) return fail(404, [{ code: 81044, message: "Record does not exist." }]);
      this.records.splice(i, 1);
      return ok({ id: parts[3] });
    }
    return fail(405, [{ code: 10405, message: "Method not allowed" }]);
  }
}

const standIn = new StandIn();

beforeAll(async () => {
  standIn.server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const { status, json } = standIn.handle(req, Buffer.concat(chunks).toString());
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(json));
    });
  });
  await new Promise<void>((r) => standIn.server?.listen(0, "127.0.0.1", r));
});

afterAll(async () => {
  await new Promise((r) => standIn.server?.close(r));
});

beforeEach(() => standIn.reset());

const SECRETS: Record<string, Record<string, string>> = {
  "cloudflare-api-token": { "api-token": `${TOKEN}\n` },
  // Written as UTF-16 (PowerShell's Out-File, .NET's Encoding.Unicode) and read back as UTF-8.
  "cloudflare-utf16-token": { "api-token": [...TOKEN].map((c) => `${c}\0`).join("") },
  "cloudflare-wrong-token": { "api-token": "not-the-token" },
  "cloudflare-api-key": { "api-key": GLOBAL_KEY },
};

const ctx: Dns01BuildContext = {
  secretNamespace: "istio-ingress",
  issuerKind: "Issuer",
  readSecretKey: async (name, key) => SECRETS[name]?.[key],
};

const challenge: Dns01ChallengeInfo = {
  uid: "uid-1",
  namespace: "istio-ingress",
  dnsName: "example.com",
  key: "key-authorization",
  resourceNamespace: "istio-ingress",
  allowAmbientCredentials: false,
};

const byToken = { apiTokenSecretRef: { name: "cloudflare-api-token", key: "api-token" } };

function build(cloudflare: Record<string, unknown>) {
  return createCloudflareFactory({ baseUrl: standIn.url, timeoutMs: 10_000 })(
    cloudflare,
    { cloudflare },
    ctx,
  );
}

const apex = { fqdn: "_acme-challenge.example.com.", zone: "example.com.", value: "apex-value" };
const wildcard = { ...apex, value: "wildcard-value" };

describe("Cloudflare provider against the stand-in API", () => {
  it("is registered under cloudflare", () => {
    expect(isDns01ProviderSupported({ cloudflare: byToken })).toBe(true);
  });

  it("keeps two values under one name, removes only its own, and leaves a foreign record alone", async () => {
    standIn.records.push({
      id: "foreign",
      zoneId: "zone-example",
      type: "TXT",
      name: "_acme-challenge.example.com",
      content: "foreign",
      ttl: 1,
    });
    const p = await build(byToken);
    await Promise.all([p.present(apex, challenge), p.present(wildcard, challenge)]);
    const contents = () => standIn.records.map((r) => r.content).sort();
    expect(contents()).toEqual(["apex-value", "foreign", "wildcard-value"]);
    expect(standIn.records.find((r) => r.content === "apex-value")).toMatchObject({
      type: "TXT",
      ttl: 120,
      name: "_acme-challenge.example.com",
    });

    await p.present(apex, challenge);
    expect(standIn.seen.filter((s) => s.method === "POST")).toHaveLength(2);

    await p.cleanUp(wildcard, challenge);
    expect(contents()).toEqual(["apex-value", "foreign"]);
    await p.cleanUp(apex, challenge);
    await p.cleanUp(apex, challenge);
    expect(contents()).toEqual(["foreign"]);
    expect(new Set(standIn.seen.map((s) => s.auth))).toEqual(new Set(["token"]));
  });

  it("finds the nearest zone by walking up the labels", async () => {
    const p = await build(byToken);
    const record = { fqdn: "_acme-challenge.www.sub.example.com.", zone: "sub.example.com.", value: "v" };
    await p.present(record, challenge);
    expect(standIn.records[0]).toMatchObject({
      zoneId: "zone-sub",
      name: "_acme-challenge.www.sub.example.com",
    });
    expect(standIn.seen.filter((s) => s.path.startsWith("/client/v4/zones?")).map((s) => s.path)).toEqual([
      "/client/v4/zones?name=_acme-challenge.www.sub.example.com",
      "/client/v4/zones?name=www.sub.example.com",
      "/client/v4/zones?name=sub.example.com",
    ]);
    // The zone is remembered: clean-up asks no zone lookups.
    standIn.seen.length = 0;
    await p.cleanUp(record, challenge);
    expect(standIn.seen.filter((s) => s.path.startsWith("/client/v4/zones?"))).toHaveLength(0);
    expect(standIn.records).toHaveLength(0);
  });

  it("authenticates with email and the global API key in X-Auth-Email and X-Auth-Key", async () => {
    const p = await build({ email: EMAIL, apiKeySecretRef: { name: "cloudflare-api-key", key: "api-key" } });
    await p.present(apex, challenge);
    await p.cleanUp(apex, challenge);
    expect(new Set(standIn.seen.map((s) => s.auth))).toEqual(new Set(["key"]));
    expect(standIn.records).toHaveLength(0);
  });

  it("recognises its value when Cloudflare answers the content quoted", async () => {
    standIn.records.push({
      id: "q",
      zoneId: "zone-example",
      type: "TXT",
      name: "_acme-challenge.example.com",
      content: '"apex-value"',
      ttl: 120,
    });
    const p = await build(byToken);
    await p.present(apex, challenge);
    expect(standIn.seen.filter((s) => s.method === "POST")).toHaveLength(0);
    await p.cleanUp(apex, challenge);
    expect(standIn.records).toHaveLength(0);
  });

  it("surfaces Cloudflare's error codes and messages, terminal for a refused token, without the token", async () => {
    const p = await build({ apiTokenSecretRef: { name: "cloudflare-wrong-token", key: "api-token" } });
    const err = await p.present(apex, challenge).catch((e: unknown) => e);
    expect(isMeshsignError(err, "ERR_DNS01_REFUSED")).toBe(true);
    expect((err as { retry: string }).retry).toBe("terminal");
    expect((err as Error).message).toBe(
      "Cloudflare zone lookup _acme-challenge.example.com refused: 10000: Authentication error",
    );
    expect((err as Error).message).not.toContain("not-the-token");
  });

  it("refuses a token with characters no header can carry, terminal, without the token in the message", async () => {
    const tokenRef = { apiTokenSecretRef: { name: "cloudflare-utf16-token", key: "api-token" } };
    const err = await build(tokenRef)
      .then((p) => p.present(apex, challenge))
      .catch((e: unknown) => e);
    expect(isMeshsignError(err, "ERR_DNS01_REFUSED")).toBe(true);
    expect((err as { retry: string }).retry).toBe("terminal");
    expect((err as Error).message).toBe(
      'cloudflare.apiTokenSecretRef: key "api-token" of Secret istio-ingress/cloudflare-utf16-token holds a character that is not printable ASCII (a file saved as UTF-16?)',
    );
    expect(JSON.stringify(err, Object.getOwnPropertyNames(err))).not.toContain(TOKEN.slice(0, 8));
    expect(standIn.seen).toHaveLength(0);
  });

  it("includes the error chain Cloudflare gives", async () => {
    const p = await createCloudflareFactory({ baseUrl: standIn.url })(
      { email: "someone-else@example.com", apiKeySecretRef: { name: "cloudflare-api-key", key: "api-key" } },
      { cloudflare: {} },
      ctx,
    );
    await expect(p.present(apex, challenge)).rejects.toThrow(
      "refused: 6003: Invalid request headers <- 6103: Invalid format for X-Auth-Key header",
    );
  });

  it("answers transient for a 5xx, and succeeds on the retry", async () => {
    const p = await build(byToken);
    standIn.failNext = 1;
    const err = await p.present(apex, challenge).catch((e: unknown) => e);
    expect(isMeshsignError(err, "ERR_DNS01_UNAVAILABLE")).toBe(true);
    expect((err as { retry: string }).retry).toBe("transient");
    expect((err as Error).message).toContain("10502: Service temporarily unavailable");
    await p.present(apex, challenge);
    expect(standIn.records).toHaveLength(1);
  });

  it("answers transient when the API cannot be reached", async () => {
    const p = await createCloudflareFactory({ baseUrl: "http://127.0.0.1:1/client/v4", timeoutMs: 10_000 })(
      byToken,
      { cloudflare: byToken },
      ctx,
    );
    const err = await p.present(apex, challenge).catch((e: unknown) => e);
    expect(isMeshsignError(err, "ERR_DNS01_UNAVAILABLE")).toBe(true);
  });

  it("refuses a value that is not base64url before any call", async () => {
    const p = await build(byToken);
    await expect(p.present({ ...apex, value: "a b" }, challenge)).rejects.toThrow("not a DNS-01 record");
    expect(standIn.seen).toHaveLength(0);
  });

  it("fails terminal naming the names it looked up when no zone matches", async () => {
    const p = await build(byToken);
    await expect(
      p.present({ fqdn: "_acme-challenge.example.org.", zone: "example.org.", value: "v" }, challenge),
    ).rejects.toThrow(
      "no Cloudflare zone found for _acme-challenge.example.org (looked up _acme-challenge.example.org, example.org)",
    );
  });
});

describe("Cloudflare solver configuration", () => {
  it.each([
    [
      "email is required with the global API key",
      { apiKeySecretRef: { name: "cloudflare-api-key", key: "api-key" } },
      "cloudflare: email is required with apiKeySecretRef (the global API key's account)",
    ],
    [
      "a missing Secret is named with its namespace",
      { apiTokenSecretRef: { name: "nope", key: "api-token" } },
      'cloudflare.apiTokenSecretRef: key "api-token" of Secret istio-ingress/nope is missing or empty',
    ],
    [
      "both references at once are refused",
      { ...byToken, email: EMAIL, apiKeySecretRef: { name: "cloudflare-api-key", key: "api-key" } },
      "cloudflare: exactly one of apiKeySecretRef or apiTokenSecretRef must be set",
    ],
  ])("%s", async (_, cloudflare, message) => {
    const err = await build(cloudflare).catch((e: unknown) => e);
    expect(isMeshsignError(err, "ERR_DNS01_REFUSED")).toBe(true);
    expect((err as Error).message).toBe(message);
  });

  it.each([
    [
      "_acme-challenge.www.example.com.",
      ["_acme-challenge.www.example.com", "www.example.com", "example.com"],
    ],
    ["Example.COM", ["example.com"]],
    ["com.", []],
  ])("zone candidates of %s", (fqdn, want) => {
    expect(zoneNameCandidates(fqdn)).toEqual(want);
  });
});
