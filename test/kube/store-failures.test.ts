/**
 * KubeStore's failure paths that a healthy API server does not show on
 * demand: 410 Gone on a watch, failing lists, 5xx and an unreachable server.
 * A scripted fake API server on loopback plays them.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { KubeConfig } from "@kubernetes/client-node";
import { afterEach, describe, expect, it } from "vitest";
import { KubeStore } from "../../src/store/kube/index.js";
import type { KubeObject, ResourceType, WatchEvent } from "../../src/store/types.js";
import { eventually } from "./lib/eventually.js";
import { rejection } from "../lib/rejection.js";

const ConfigMaps: ResourceType = {
  group: "",
  version: "v1",
  kind: "ConfigMap",
  plural: "configmaps",
  namespaced: true,
};

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => void;

const servers: http.Server[] = [];
const stores: KubeStore[] = [];

afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }
});

async function fakeApiServer(handler: Handler): Promise<KubeStore> {
  const server = http.createServer((req, res) => handler(req, res, new URL(req.url ?? "/", "http://x")));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const { port } = server.address() as AddressInfo;
  return storeFor(`http://127.0.0.1:${port}`);
}

function storeFor(server: string): KubeStore {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    // client-node only allows plain HTTP with skipTLSVerify.
    clusters: [{ name: "c", server, skipTLSVerify: true }],
    users: [{ name: "u", token: "t" }],
    contexts: [{ name: "x", cluster: "c", user: "u" }],
    currentContext: "x",
  });
  const store = new KubeStore({ kubeConfig: kc, requestTimeoutMs: 2_000 });
  stores.push(store);
  return store;
}

function cm(name: string, rv: string): KubeObject {
  return { apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: "a", resourceVersion: rv } };
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

/** A watch that answers, as the API server does at once, and then stays quiet. */
function idleWatch(res: http.ServerResponse): void {
  res.writeHead(200, { "content-type": "application/json" });
  res.flushHeaders();
}

function list(res: http.ServerResponse, rv: string, items: KubeObject[]): void {
  json(res, 200, { apiVersion: "v1", kind: "ConfigMapList", metadata: { resourceVersion: rv }, items });
}


describe("KubeStore watch recovery", () => {
  it("re-lists after 410 Gone and delivers the difference as DELETED, MODIFIED and ADDED", async () => {
    let lists = 0;
    let watches = 0;
    const store = await fakeApiServer((_req, res, url) => {
      if (url.searchParams.get("watch") === "true") {
        watches++;
        if (watches === 1) {
          // The resourceVersion the client holds is older than the server's history.
          res.writeHead(200, { "content-type": "application/json" });
          res.end(
            `${JSON.stringify({ type: "ERROR", object: { kind: "Status", code: 410, reason: "Expired" } })}\n`,
          );
        } else {
          // Later watches stay open with nothing to say.
          idleWatch(res);
        }
        return;
      }
      lists++;
      if (lists === 1) list(res, "10", [cm("keep", "1"), cm("gone", "2"), cm("changed", "3")]);
      else list(res, "20", [cm("keep", "1"), cm("changed", "15"), cm("new", "16")]);
    });
    const events: string[] = [];
    const w = store.watch(
      ConfigMaps,
      (e: WatchEvent<KubeObject>) => events.push(`${e.type} ${e.object.metadata.name}`),
      {
        namespace: "a",
      },
    );
    await w.synced;
    await eventually(async () => (events.length >= 6 ? true : undefined), 10_000);
    w.stop();
    expect(events.slice(0, 3).sort()).toEqual(["ADDED changed", "ADDED gone", "ADDED keep"]);
    expect(events.slice(3).sort()).toEqual(["ADDED new", "DELETED gone", "MODIFIED changed"]);
    expect(lists).toBe(2);
  });

  it("retries a failing initial list with back-off and resolves synced once it succeeds", async () => {
    let lists = 0;
    const store = await fakeApiServer((_req, res, url) => {
      if (url.searchParams.get("watch") === "true") return idleWatch(res);
      lists++;
      if (lists < 3) json(res, 503, { kind: "Status", code: 503, reason: "ServiceUnavailable" });
      else list(res, "5", [cm("late", "4")]);
    });
    const events: string[] = [];
    const w = store.watch(ConfigMaps, (e) => events.push(`${e.type} ${e.object.metadata.name}`), {
      namespace: "a",
    });
    await w.synced;
    w.stop();
    expect(lists).toBe(3);
    expect(events).toEqual(["ADDED late"]);
  });
});

describe("KubeStore error mapping", () => {
  it.each([
    [500, "InternalError", "ERR_STORE_UNAVAILABLE", "transient"],
    [503, "ServiceUnavailable", "ERR_STORE_UNAVAILABLE", "transient"],
    [429, "TooManyRequests", "ERR_STORE_UNAVAILABLE", "transient"],
    [401, "Unauthorized", "ERR_STORE_UNAVAILABLE", "terminal"],
    [403, "Forbidden", "ERR_STORE_UNAVAILABLE", "terminal"],
    [422, "Invalid", "ERR_RESOURCE_INVALID", "terminal"],
    [409, "AlreadyExists", "ERR_ALREADY_EXISTS", "terminal"],
    [409, "Conflict", "ERR_CONFLICT", "transient"],
  ])("maps HTTP %i %s to %s (%s)", async (status, reason, code, retry) => {
    const store = await fakeApiServer((_req, res) =>
      json(res, status, { kind: "Status", code: status, reason }),
    );
    const err = await rejection(store.create(ConfigMaps, cm("x", "")));
    expect([err.code, err.retry]).toEqual([code, retry]);
  });

  it("maps an unreachable API server to a transient ERR_STORE_UNAVAILABLE", async () => {
    // Bind then close a port so nothing listens there.
    const probe = http.createServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", () => resolve()));
    const { port } = probe.address() as AddressInfo;
    await new Promise((resolve) => probe.close(resolve));
    const err = await rejection(storeFor(`http://127.0.0.1:${port}`).get(ConfigMaps, "a", "x"));
    expect([err.code, err.retry]).toEqual(["ERR_STORE_UNAVAILABLE", "transient"]);
  });

  it("maps a malformed 200 response to a transient ERR_STORE_UNAVAILABLE", async () => {
    const store = await fakeApiServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end("{not json");
    });
    const err = await rejection(store.get(ConfigMaps, "a", "x"));
    expect([err.code, err.retry]).toEqual(["ERR_STORE_UNAVAILABLE", "transient"]);
  });

  it("never sends a request for a label selector with an injected term", async () => {
    let requests = 0;
    const store = await fakeApiServer((_req, res) => {
      requests++;
      list(res, "1", []);
    });
    const err = await rejection(
      // Built by hand: parseLabelSelector and labelSelectorFromSet would refuse it already.
      store.list(ConfigMaps, {
        namespace: "a",
        labelSelector: { requirements: [{ key: "app", operator: "Equals", values: ["x,evil=1"] }] },
      }),
    );
    expect(err.code).toBe("ERR_RESOURCE_INVALID");
    expect(requests).toBe(0);
  });
});
