import type { ServiceError } from "@grpc/grpc-js";
import { status } from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { IstioCaClient } from "../../src/csr-service/client.js";
import { buildCsr, generateKeySync } from "../../src/pki/keys.js";
import { type InProcessServer, startInProcessServer } from "../lib/inprocess-server.js";

/*
 * Overload on the real CreateCertificate server: a storm of callers degrades
 * into answers and RESOURCE_EXHAUSTED refusals with a retry hint, never into
 * timeouts or other errors, and one identity asking too often is refused
 * while the others are served.
 */

let server: InProcessServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

type Outcome = { ok: true } | { ok: false; code: number; details: string; pushback: string[] };

async function request(s: InProcessServer, client: IstioCaClient, sa: string): Promise<Outcome> {
  const token = await s.devIssuer.mintToken({ namespace: "default", serviceAccount: sa });
  const csr = buildCsr(generateKeySync({ type: "ec", curve: "P-256" }), {
    uris: [`spiffe://cluster.local/ns/default/sa/${sa}`],
  });
  try {
    await client.createCertificate({ csr, token });
    return { ok: true };
  } catch (err) {
    const e = err as ServiceError;
    return { ok: false, code: e.code, details: e.details, pushback: e.metadata?.get("grpc-retry-pushback-ms").map(String) ?? [] };
  }
}

function clientOf(s: InProcessServer): IstioCaClient {
  return new IstioCaClient(
    { address: `127.0.0.1:${s.port}`, rootsPem: s.rootsPem, serverName: "localhost" },
    { "grpc.use_local_subchannel_pool": 1 },
  );
}

describe("the per-identity rate limit on the server", () => {
  it("refuses an identity past its burst with RESOURCE_EXHAUSTED and a pushback, and still serves other identities", async () => {
    server = await startInProcessServer({ identityBurst: 2, identityRateLimit: 1 });
    const client = clientOf(server);
    try {
      const outcomes = [];
      for (let i = 0; i < 3; i++) outcomes.push(await request(server, client, "chatty"));
      expect(outcomes.slice(0, 2)).toEqual([{ ok: true }, { ok: true }]);
      const refused = outcomes[2];
      expect(refused).toMatchObject({ ok: false, code: status.RESOURCE_EXHAUSTED });
      if (refused?.ok !== false) return;
      expect(refused.details).toMatch(/too many certificates for spiffe:\/\/cluster\.local\/ns\/default\/sa\/chatty.*\(ERR_RATE_LIMITED\)/);
      expect(Number(refused.pushback[0])).toBeGreaterThan(0);
      expect(Number(refused.pushback[0])).toBeLessThanOrEqual(1000);
      expect(await request(server, client, "quiet")).toEqual({ ok: true });
      // Refusals are counted, not logged as errors.
      const errors = server.logLines.filter((l) => (JSON.parse(l) as { level: number }).level >= 50);
      expect(errors).toEqual([]);
    } finally {
      client.close();
    }
  });
});

describe("a storm of callers", () => {
  it("is served or refused RESOURCE_EXHAUSTED with a retry hint, with no timeouts or other errors, and the server serves afterwards", async () => {
    server = await startInProcessServer({ maxInFlight: 2, maxQueued: 8 });
    const s = server;
    const clients = Array.from({ length: 4 }, () => clientOf(s));
    try {
      const outcomes = await Promise.all(
        Array.from({ length: 200 }, (_, i) => request(s, clients[i % clients.length] as IstioCaClient, `storm-${i}`)),
      );
      const served = outcomes.filter((o) => o.ok).length;
      const refused = outcomes.filter((o): o is Extract<Outcome, { ok: false }> => !o.ok);
      expect(served).toBeGreaterThanOrEqual(10);
      expect(refused.length).toBeGreaterThan(0);
      expect(served + refused.length).toBe(200);
      for (const r of refused) {
        expect(r.code).toBe(status.RESOURCE_EXHAUSTED);
        expect(r.details).toMatch(/\(ERR_OVERLOADED\)$/);
        expect(Number(r.pushback[0])).toBeGreaterThanOrEqual(1000);
      }
      expect(await request(s, clients[0] as IstioCaClient, "after-the-storm")).toEqual({ ok: true });
    } finally {
      for (const c of clients) c.close();
    }
  });
});
