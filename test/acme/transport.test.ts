import { readFileSync } from "node:fs";
import type { ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AcmeRequestObservation, createTransport } from "../../src/acme/index.js";
import { issueLeaf, makeCa } from "../lib/openssl-ca.js";
import { TempDir } from "../lib/temp-dir.js";
import { rejection } from "../lib/rejection.js";

const tmp = new TempDir("meshsign-acme-transport-");
let server: Server;
let base: string;
let caBundle: string;
/** Responses the stalling routes left open, ended in afterAll. */
const open: ServerResponse[] = [];

beforeAll(async () => {
  const ca = makeCa(tmp.dir, "transport");
  const leaf = issueLeaf(tmp.dir, ca, "ca-server", { dns: ["localhost"], ips: ["127.0.0.1"] });
  caBundle = readFileSync(ca.certFile, "utf8");
  server = createServer({ cert: readFileSync(leaf.certFile), key: readFileSync(leaf.keyFile) }, (req, res) => {
    if (req.url === "/headers-then-stall") {
      // Headers and the first bytes of the body go out, then nothing: the socket stays open.
      res.writeHead(200, { "content-type": "application/json", "content-length": "100" });
      res.write('{"status":');
      open.push(res);
      return;
    }
    if (req.url === "/trickle") {
      // A byte every 50 ms: never idle for long, never done.
      res.writeHead(200, { "content-type": "application/json" });
      const timer = setInterval(() => res.write(" "), 50);
      res.on("close", () => clearInterval(timer));
      open.push(res);
      return;
    }
    res.writeHead(200, { "content-type": "application/json", "replay-nonce": "abc" });
    res.end('{"ok":true}');
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const res of open) res.destroy();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  tmp.remove();
});


describe("ACME transport", () => {
  it("answers a complete response with its status, headers and body", async () => {
    const transport = createTransport({ caBundle, timeoutMs: 5_000 });
    const res = await transport("GET", `${base}/ok`);
    expect(res.status).toBe(200);
    expect(res.headers["replay-nonce"]).toBe("abc");
    expect(res.body.toString()).toBe('{"ok":true}');
  });

  const stalls: Array<[string, string]> = [
    ["gives up on a CA that sends the headers and then stalls mid-body", "/headers-then-stall"],
    ["gives up on a CA that trickles the body so the socket is never idle", "/trickle"],
  ];
  for (const [name, route] of stalls) {
    it(`${name}, with a transient error naming the CA host and the deadline`, async () => {
      const seen: AcmeRequestObservation[] = [];
      const transport = createTransport({ caBundle, timeoutMs: 300, observe: (o) => seen.push(o) });
      const err = await rejection(transport("POST", `${base}${route}`, { contentType: "application/jose+json", data: "{}" }));
      expect(err.code).toBe("ERR_ACME_UNAVAILABLE");
      expect(err.retry).toBe("transient");
      const host = new URL(base).host;
      expect(err.message).toBe(
        `ACME server ${host} did not complete POST ${route} within its 300 ms deadline (connect, headers and body)`,
      );
      expect(seen.map((o) => [o.method, o.path, o.status])).toEqual([["POST", route, "error"]]);
    });
  }

  it("keeps working after a request missed its deadline", async () => {
    const transport = createTransport({ caBundle, timeoutMs: 300 });
    await rejection(transport("GET", `${base}/headers-then-stall`));
    const res = await transport("GET", `${base}/ok`);
    expect(res.status).toBe(200);
  });
});
