import { request } from "node:http";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { CHALLENGES, type Challenge, CLUSTER_ISSUERS } from "../../src/api/types.js";
import { type AcmeSolverListener, startAcmeSolverListener } from "../../src/server/acme-solver.js";
import { MemoryStore } from "../../src/store/memory/index.js";

const TOKEN = "tok".padEnd(43, "A");
const silent = pino({ level: "silent" });
const listeners: AcmeSolverListener[] = [];
afterEach(async () => {
  for (const l of listeners.splice(0)) await l.stop();
});

async function until<T>(f: () => T | undefined): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const v = f();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error("timed out");
}

describe("meshsign serve's HTTP-01 solver listener", () => {
  it("tells its owner each token it answered for, and nothing for a fetch it refused", async () => {
    const store = new MemoryStore();
    await store.create(CLUSTER_ISSUERS, {
      apiVersion: "cert-manager.io/v1",
      kind: "ClusterIssuer",
      metadata: { name: "le" },
      spec: { acme: { server: "https://acme.test/dir", privateKeySecretRef: { name: "k" }, solvers: [{ http01: {} }] } },
    });
    await store.create(CHALLENGES, {
      apiVersion: "acme.cert-manager.io/v1",
      kind: "Challenge",
      metadata: { name: "c", namespace: "apps" },
      spec: {
        url: "https://acme.test/chall/1",
        authorizationURL: "https://acme.test/authz/1",
        dnsName: "shop.example.com",
        type: "HTTP-01",
        token: TOKEN,
        key: `${TOKEN}.thumb`,
        solver: { http01: {} },
        issuerRef: { name: "le", kind: "ClusterIssuer", group: "cert-manager.io" },
      },
    } as unknown as Challenge);
    const served: string[] = [];
    const listener = startAcmeSolverListener({ store, address: "127.0.0.1:0", log: silent, onServed: (t) => served.push(t) });
    listeners.push(listener);
    const port = await until(() => listener.port());
    // As the CA's VA asks: the name it validates in Host (fetch may not set Host).
    const get = (host: string) =>
      new Promise<[number, string]>((resolve, reject) => {
        const req = request({ port, host: "127.0.0.1", path: `/.well-known/acme-challenge/${TOKEN}`, headers: { host } }, (res) => {
          let body = "";
          res.on("data", (b: Buffer) => {
            body += b.toString();
          });
          res.on("end", () => resolve([res.statusCode ?? 0, body]));
        });
        req.on("error", reject);
        req.end();
      });
    expect((await get("other.example.com"))[0]).toBe(404);
    expect(served).toEqual([]);
    expect(await get("shop.example.com")).toEqual([200, `${TOKEN}.thumb`]);
    expect(served).toEqual([TOKEN]);
  });
});
