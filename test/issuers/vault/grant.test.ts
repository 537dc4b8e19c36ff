import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { MeshsignError } from "../../../src/errors/index.js";
import type { SignRequest } from "../../../src/issuers/issuer.js";
import {
  relayedVaultIssuer,
  type VaultGrant,
  type VaultIssuer,
  vaultGrant,
  vaultIssuerFactory,
} from "../../../src/issuers/vault/index.js";
import { RelayedToken } from "../../../src/issuers/vault/lib/relayed-token.js";
import { buildCsr, type CertificateTemplate, generateKeySync, publicKeySpki } from "../../../src/pki/index.js";
import { FakeVault } from "./lib/fake-vault.js";
import { rejection } from "../../lib/rejection.js";

/*
 * One Vault login shared by several processes: the owner (meshsign's
 * primary) grants its token, each "worker" calls Vault itself with it, and a
 * 403 anywhere turns into one login in the owner. The IPC channel is played
 * by JSON round trips and direct calls, as cluster messages carry them.
 */

const SVID = "spiffe://cluster.local/ns/default/sa/web";
const fake = new FakeVault();

beforeAll(() => fake.start());
afterAll(() => fake.stop());
beforeEach(() => {
  fake.requests.length = 0;
  fake.signStatus = 200;
  fake.tokenTtlS = 3600;
  fake.renewTtlS = undefined;
});

const appRole = {
  appRole: { path: "approle", roleId: "role", secretRef: { name: "approle", key: "secretId" } },
};
const secrets: Record<string, Record<string, string>> = {
  approle: { secretId: "secret" },
  token: { token: "static-token" },
};

async function owner(auth: Record<string, unknown> = appRole): Promise<VaultIssuer> {
  const built = await vaultIssuerFactory(
    { server: fake.url, path: "pki_int/sign/mesh", auth },
    { secretNamespace: "ns", readSecret: async (n) => secrets[n] },
  );
  return built.issuer as VaultIssuer;
}

function request(): SignRequest {
  const key = generateKeySync({ type: "ec", curve: "P-256" });
  const now = Date.now();
  const template: CertificateTemplate = {
    publicKeySpki: publicKeySpki(key),
    subject: [],
    uris: [SVID],
    isCA: false,
    keyUsage: ["digitalSignature"],
    extKeyUsage: ["serverAuth"],
    notBefore: new Date(now),
    notAfter: new Date(now + 3_600_000),
  };
  return { requestId: "r", csrPem: buildCsr(key, { subject: [], uris: [SVID] }), template };
}

/** `n` workers built from the owner's grant, whose questions the owner answers as primary-vault.ts does. */
async function workers(o: VaultIssuer, n: number) {
  const share = o.share();
  if (share === undefined) throw new Error("the owner has no session to share");
  const grant = JSON.parse(JSON.stringify(await vaultGrant(share))) as VaultGrant;
  const asked: number[] = [];
  const all = Array.from({ length: n }, () => {
    const w = relayedVaultIssuer(grant, (generation) => {
      asked.push(generation);
      share.session.reissue(generation).then(
        (t) => w.relay.offer(t),
        (err: MeshsignError) => w.relay.refused(generation, err.message),
      );
    });
    return w;
  });
  // The owner's broadcast of every new token.
  share.session.onToken((t) => {
    for (const w of all) w.relay.offer(t);
  });
  return { all, asked, share };
}


describe("a Vault issuer shared with worker processes", () => {
  it("signs in each worker with the owner's one login, over the worker's own connections", async () => {
    const o = await owner();
    const { all } = await workers(o, 2);
    const results = await Promise.all(all.flatMap((w) => Array.from({ length: 5 }, () => w.issuer.sign(request()))));
    expect(results.every((r) => r.status === "issued")).toBe(true);
    expect(fake.count("auth/approle/login")).toBe(1);
    const tokens = new Set(fake.requests.filter((r) => r.path === "pki_int/sign/mesh").map((r) => r.headers["x-vault-token"]));
    expect(tokens.size).toBe(1);
    for (const w of all) w.issuer.close();
    o.close();
  });

  it("logs in once when Vault refuses the token to many calls in two workers at once, and every call signs", async () => {
    const o = await owner();
    const { all, asked } = await workers(o, 2);
    for (const t of [...fake.valid]) if (t !== "static-token") fake.valid.delete(t);
    const results = await Promise.all(all.flatMap((w) => Array.from({ length: 10 }, () => w.issuer.sign(request()))));
    expect(results.every((r) => r.status === "issued")).toBe(true);
    expect(fake.count("auth/approle/login")).toBe(2);
    // Each worker asked at most once for all its calls (none if the owner's new token came first).
    expect(asked.length).toBeGreaterThanOrEqual(1);
    expect(asked.length).toBeLessThanOrEqual(2);
    expect(new Set(asked)).toEqual(new Set([1]));
    for (const w of all) w.issuer.close();
    o.close();
  });

  it("refuses terminally, without asking the owner, when a static token is refused", async () => {
    const o = await owner({ tokenSecretRef: { name: "token", key: "token" } });
    const { all, asked } = await workers(o, 1);
    fake.signStatus = 403;
    const err = await rejection((all[0] as (typeof all)[number]).issuer.sign(request()));
    expect(err).toMatchObject({ code: "ERR_ISSUER_REJECTED", retry: "terminal" });
    expect(err.message).not.toContain("static-token");
    expect(asked).toEqual([]);
    for (const w of all) w.issuer.close();
    o.close();
  });

  it("renews the owner's token on a timer while shared, with nobody asking for it", async () => {
    fake.tokenTtlS = 1;
    const o = await owner();
    const share = o.share();
    const stop = share?.session.keepFresh();
    await new Promise((r) => setTimeout(r, 1_200));
    expect(o.tokenStats.renewals).toBeGreaterThanOrEqual(1);
    stop?.();
    o.close();
  });
});

describe("RelayedToken", () => {
  const initial = { generation: 1, token: "t1" };

  it("asks once for all calls waiting after a refusal, and gives them the newer token", async () => {
    const asked: number[] = [];
    const relay = new RelayedToken({ initial, canReobtain: true, ask: (g) => asked.push(g), timeoutMs: 5_000 });
    relay.invalidate("t1");
    const waiting = Promise.all([relay.token(), relay.token(), relay.token()]);
    relay.offer({ generation: 2, token: "t2" });
    expect(await waiting).toEqual(["t2", "t2", "t2"]);
    expect(asked).toEqual([1]);
    // A refusal of a token no longer held changes nothing.
    relay.invalidate("t1");
    expect(await relay.token()).toBe("t2");
  });

  it("refuses the waiting calls as UNAVAILABLE when the owner cannot log in or does not answer", async () => {
    const relay = new RelayedToken({ initial, canReobtain: true, ask: () => {}, timeoutMs: 50 });
    relay.invalidate("t1");
    const first = rejection(relay.token());
    relay.refused(1, "Vault AppRole login failed: connection to Vault refused");
    expect(await first).toMatchObject({ code: "ERR_ISSUER_UNAVAILABLE", message: "Vault AppRole login failed: connection to Vault refused" });
    expect(await rejection(relay.token())).toMatchObject({ code: "ERR_ISSUER_UNAVAILABLE", message: "no new Vault token within 50 ms" });
  });

  it("gives up a wait whose call is cancelled", async () => {
    const relay = new RelayedToken({ initial, canReobtain: true, ask: () => {}, timeoutMs: 5_000 });
    relay.invalidate("t1");
    const ac = new AbortController();
    const waiting = rejection(relay.token(ac.signal));
    ac.abort();
    expect(await waiting).toMatchObject({ code: "ERR_ISSUER_UNAVAILABLE" });
    relay.close();
  });
});
