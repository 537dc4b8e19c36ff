import type { KubeConfig } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { CachedCredentials } from "../../../src/store/kube/lib/credentials.js";

/** A KubeConfig whose credentials change on every application: token-1, token-2, ... */
function rotatingKubeConfig(): { kc: KubeConfig; applied: () => number } {
  let n = 0;
  const kc = {
    applyToHTTPSOptions: async (options: { headers?: Record<string, string>; ca?: Buffer }) => {
      n += 1;
      options.headers = { ...options.headers, Authorization: `Bearer token-${n}` };
      options.ca = Buffer.from("ca");
    },
  } as unknown as KubeConfig;
  return { kc, applied: () => n };
}

describe("CachedCredentials", () => {
  it("applies the kubeconfig once for concurrent and repeated calls within the refresh period", async () => {
    const { kc, applied } = rotatingKubeConfig();
    let now = 1_000;
    const credentials = new CachedCredentials(kc, 10_000, () => now);
    const all = await Promise.all([credentials.get(), credentials.get(), credentials.get()]);
    now += 9_999;
    all.push(await credentials.get());
    expect(applied()).toBe(1);
    for (const c of all) expect(c.headers).toEqual({ authorization: "Bearer token-1" });
    expect(all[0]?.tls).toEqual({ ca: Buffer.from("ca") });
  });

  it("applies the kubeconfig afresh once the refresh period is over", async () => {
    const { kc } = rotatingKubeConfig();
    let now = 1_000;
    const credentials = new CachedCredentials(kc, 10_000, () => now);
    await credentials.get();
    now += 10_000;
    expect((await credentials.get()).headers.authorization).toBe("Bearer token-2");
  });

  it("applies the kubeconfig afresh after invalidate (the API server refused the credentials)", async () => {
    const { kc } = rotatingKubeConfig();
    const credentials = new CachedCredentials(kc, 10_000, () => 1_000);
    await credentials.get();
    credentials.invalidate();
    expect((await credentials.get()).headers.authorization).toBe("Bearer token-2");
  });

  it("turns a failing auth provider into a transient error and tries again on the next call", async () => {
    let fail = true;
    const kc = {
      applyToHTTPSOptions: async (options: { headers?: Record<string, string> }) => {
        if (fail) throw new Error("token file mid-rotation");
        options.headers = { Authorization: "Bearer ok" };
      },
    } as unknown as KubeConfig;
    const credentials = new CachedCredentials(kc, 10_000, () => 1_000);
    await expect(credentials.get()).rejects.toMatchObject({
      code: "ERR_STORE_UNAVAILABLE",
      retry: "transient",
    });
    fail = false;
    expect((await credentials.get()).headers.authorization).toBe("Bearer ok");
  });
});
