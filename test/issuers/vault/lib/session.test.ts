/**
 * VaultSession's sharing of one login between concurrent callers, over a
 * scripted transport (the HTTP behaviour is covered against a fake Vault in
 * ../vault-issuer.test.ts).
 */
import { describe, expect, it } from "vitest";
import type { VaultCall, VaultResponse, VaultTransport } from "../../../../src/issuers/vault/lib/http.js";
import { VaultSession } from "../../../../src/issuers/vault/lib/session.js";

/** A transport whose login answers only when the test says so, and is cancelled like the real one. */
function slowLogin(): { transport: VaultTransport; answer: () => void; calls: VaultCall[] } {
  const calls: VaultCall[] = [];
  const pending: (() => void)[] = [];
  const transport = {
    call(c: VaultCall): Promise<VaultResponse> {
      calls.push(c);
      return new Promise<VaultResponse>((resolve) => {
        c.signal?.addEventListener("abort", () =>
          resolve({ kind: "transport", reason: "the call to Vault was cancelled" }),
        );
        pending.push(() =>
          resolve({
            kind: "response",
            status: 200,
            json: { auth: { client_token: "t-1", lease_duration: 3600, renewable: true } },
          }),
        );
      });
    },
  } as unknown as VaultTransport;
  const answer = () => {
    for (const f of pending.splice(0)) f();
  };
  return { transport, answer, calls };
}

describe("VaultSession", () => {
  it("does not fail a caller waiting for a shared login when another caller of it gives up", async () => {
    const { transport, answer, calls } = slowLogin();
    const session = new VaultSession({
      transport,
      now: Date.now,
      source: { kind: "login", path: "auth/approle/login", describe: "AppRole", body: async () => ({}) },
    });
    const first = new AbortController();
    const impatient = session.token(first.signal);
    const patient = session.token();
    await new Promise((r) => setTimeout(r, 10));
    first.abort();
    await expect(impatient).rejects.toMatchObject({ code: "ERR_ISSUER_UNAVAILABLE", retry: "transient" });
    answer();
    await expect(patient).resolves.toBe("t-1");
    expect(calls.filter((c) => c.path === "auth/approle/login")).toHaveLength(1);
  });

  it("refuses a caller that gave up before asking, and the login it started still ends observed", async () => {
    const { transport, answer } = slowLogin();
    const session = new VaultSession({
      transport,
      now: Date.now,
      source: { kind: "login", path: "auth/approle/login", describe: "AppRole", body: async () => ({}) },
    });
    await expect(session.token(AbortSignal.abort())).rejects.toMatchObject({ code: "ERR_ISSUER_UNAVAILABLE" });
    answer();
    await expect(session.token()).resolves.toBe("t-1");
  });

  it("keeps using a token still valid while logging in again fails for a while, and asks again only after a pause", async () => {
    let now = 1_000_000;
    const answers: VaultResponse[] = [
      { kind: "response", status: 200, json: { auth: { client_token: "t-1", lease_duration: 60, renewable: false } } },
    ];
    const calls: VaultCall[] = [];
    const transport = {
      async call(c: VaultCall): Promise<VaultResponse> {
        calls.push(c);
        return (
          answers.shift() ?? {
            kind: "response",
            status: 429,
            json: { errors: ['request path "auth/approle/login": rate limit quota exceeded'] },
          }
        );
      },
    } as unknown as VaultTransport;
    const session = new VaultSession({
      transport,
      now: () => now,
      source: { kind: "login", path: "auth/approle/login", describe: "AppRole", body: async () => ({}) },
    });
    await expect(session.token()).resolves.toBe("t-1");
    // Past two thirds of the TTL the session logs in again; Vault's login quota refuses it for now.
    now += 45_000;
    await expect(session.token()).resolves.toBe("t-1");
    await expect(session.token()).resolves.toBe("t-1");
    expect(calls).toHaveLength(2);
    // Once the token has expired there is nothing left to fall back on.
    now += 20_000;
    await expect(session.token()).rejects.toMatchObject({ code: "ERR_ISSUER_UNAVAILABLE", retry: "transient" });
  });
});
