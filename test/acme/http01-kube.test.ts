import { beforeEach, describe, expect, it } from "vitest";
import { ensureHttp01Route, type Http01RouteParams, removeHttp01Route } from "../../src/acme/index.js";
import { adler32 } from "../../src/acme/lib/adler32.js";
import type { AcmeSolver, Challenge } from "../../src/api/types.js";
import { CHALLENGES, HTTP_ROUTES, INGRESSES, SERVICES } from "../../src/api/types.js";
import { isMeshsignError } from "../../src/errors/index.js";
import { MemoryStore } from "../../src/store/memory/index.js";
import type { KubeObject } from "../../src/store/types.js";

const TOKEN = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA";
const PATH = `/.well-known/acme-challenge/${TOKEN}`;
const MESHSIGN = { name: "meshsign", namespace: "meshsign" } as const;

interface Obj extends KubeObject {
  spec?: Record<string, unknown> & { rules?: unknown[] };
}

let store: MemoryStore;
beforeEach(() => {
  store = new MemoryStore();
});

async function challenge(
  solver: AcmeSolver,
  over: { namespace?: string; dnsName?: string } = {},
): Promise<Challenge> {
  const ch: Challenge = {
    apiVersion: "acme.cert-manager.io/v1",
    kind: "Challenge",
    metadata: { name: "web-1-2-3", namespace: over.namespace ?? "meshsign" },
    spec: {
      url: "https://acme.example/chall/1",
      authorizationURL: "https://acme.example/authz/1",
      dnsName: over.dnsName ?? "app.example.com",
      type: "HTTP-01",
      token: TOKEN,
      key: `${TOKEN}.thumbprint`,
      solver,
      issuerRef: { name: "letsencrypt", kind: "ClusterIssuer" },
    },
  };
  return store.create(CHALLENGES, ch);
}

function params(ch: Challenge): Http01RouteParams {
  return { challenge: ch, service: MESHSIGN };
}

async function only(type: typeof INGRESSES, namespace: string): Promise<Obj> {
  const items = await store.list<Obj>(type, { namespace });
  expect(items).toHaveLength(1);
  return items[0] as Obj;
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error("expected a rejection");
    },
    (err: unknown) => err,
  );
}

describe("adler32", () => {
  it("matches the RFC 1950 checksum Go's hash/adler32 gives", () => {
    expect(adler32("Wikipedia")).toBe(0x11e60398);
    expect(adler32("")).toBe(1);
  });
});

describe("ensureHttp01Route with a new Ingress", () => {
  it("creates an Ingress owned by the Challenge with cert-manager's labels, routing the token path to meshsign", async () => {
    const ch = await challenge({ http01: { ingress: { ingressClassName: "nginx" } } });
    const route = await ensureHttp01Route(store, params(ch));
    const ing = await only(INGRESSES, "meshsign");
    expect(route).toEqual({ kind: "Ingress", namespace: "meshsign", name: ing.metadata.name, edited: false });
    expect(ing.metadata.name).toMatch(/^cm-acme-http-solver-[0-9a-f]{10}$/);
    expect(ing.metadata.labels).toEqual({
      "acme.cert-manager.io/http01-solver": "true",
      "acme.cert-manager.io/http-domain": String(adler32("app.example.com")),
      "acme.cert-manager.io/http-token": String(adler32(TOKEN)),
    });
    expect(ing.metadata.annotations).toEqual({
      "nginx.ingress.kubernetes.io/whitelist-source-range": "0.0.0.0/0,::/0",
    });
    expect(ing.metadata.ownerReferences).toEqual([
      {
        apiVersion: "acme.cert-manager.io/v1",
        kind: "Challenge",
        name: "web-1-2-3",
        uid: ch.metadata.uid,
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
    expect(ing.spec).toEqual({
      ingressClassName: "nginx",
      rules: [
        {
          host: "app.example.com",
          http: {
            paths: [
              {
                path: PATH,
                pathType: "ImplementationSpecific",
                backend: { service: { name: "meshsign", port: { number: 8089 } } },
              },
            ],
          },
        },
      ],
    });
    expect(await store.list(SERVICES)).toEqual([]);
  });

  it("sets the class annotation for `class` and merges the ingressTemplate's metadata", async () => {
    const ch = await challenge({
      http01: {
        ingress: {
          class: "traefik",
          ingressTemplate: {
            metadata: { labels: { team: "web" }, annotations: { "a/whitelist-source-range": "10.0.0.0/8" } },
          },
        },
      },
    });
    await ensureHttp01Route(store, params(ch));
    const ing = await only(INGRESSES, "meshsign");
    expect(ing.metadata.annotations).toEqual({
      "kubernetes.io/ingress.class": "traefik",
      "a/whitelist-source-range": "10.0.0.0/8",
    });
    expect(ing.metadata.labels?.team).toBe("web");
    expect(ing.spec?.ingressClassName).toBeUndefined();
  });

  it("bridges to meshsign's Service with an ExternalName Service when the Challenge is in another namespace", async () => {
    const ch = await challenge({ http01: { ingress: {} } }, { namespace: "shop" });
    await ensureHttp01Route(store, {
      ...params(ch),
      service: { ...MESHSIGN, port: 8090 },
      clusterDomain: "corp.local",
    });
    const ing = await only(INGRESSES, "shop");
    const svc = await only(SERVICES, "shop");
    expect(svc.metadata.name).toBe(ing.metadata.name);
    expect(svc.metadata.ownerReferences?.[0]?.uid).toBe(ch.metadata.uid);
    expect(svc.spec).toEqual({
      type: "ExternalName",
      externalName: "meshsign.meshsign.svc.corp.local",
      ports: [{ name: "http", protocol: "TCP", port: 8090, targetPort: 8090 }],
    });
    expect(ing.spec?.rules).toEqual([
      {
        host: "app.example.com",
        http: {
          paths: [
            {
              path: PATH,
              pathType: "ImplementationSpecific",
              backend: { service: { name: svc.metadata.name, port: { number: 8090 } } },
            },
          ],
        },
      },
    ]);
  });

  it("writes nothing when called again", async () => {
    const ch = await challenge({ http01: { ingress: {} } }, { namespace: "shop" });
    await ensureHttp01Route(store, params(ch));
    const before = [await only(INGRESSES, "shop"), await only(SERVICES, "shop")];
    await ensureHttp01Route(store, params(ch));
    expect([await only(INGRESSES, "shop"), await only(SERVICES, "shop")]).toEqual(before);
  });

  it("puts back a route someone changed, keeping labels it did not set", async () => {
    const ch = await challenge({ http01: { ingress: {} } });
    await ensureHttp01Route(store, params(ch));
    const ing = await only(INGRESSES, "meshsign");
    await store.update(INGRESSES, {
      ...ing,
      metadata: { ...ing.metadata, labels: { ...ing.metadata.labels, extra: "kept" } },
      spec: { rules: [] },
    });
    await ensureHttp01Route(store, params(ch));
    const fixed = await only(INGRESSES, "meshsign");
    expect(fixed.spec?.rules).toHaveLength(1);
    expect(fixed.metadata.labels?.extra).toBe("kept");
  });

  it("has no host on the rule for an IP address identifier", async () => {
    const ch = await challenge({ http01: { ingress: {} } }, { dnsName: "192.0.2.10" });
    await ensureHttp01Route(store, params(ch));
    const rule = (await only(INGRESSES, "meshsign")).spec?.rules?.[0] as Record<string, unknown>;
    expect(rule.host).toBeUndefined();
  });

  it("refuses to take over an object of the same name that the Challenge does not own", async () => {
    const ch = await challenge({ http01: { ingress: {} } });
    await ensureHttp01Route(store, params(ch));
    const ing = await only(INGRESSES, "meshsign");
    await store.update(INGRESSES, { ...ing, metadata: { ...ing.metadata, ownerReferences: [] } });
    const err = await rejection(ensureHttp01Route(store, params(ch)));
    expect(isMeshsignError(err, "ERR_CONFLICT")).toBe(true);
  });
});

describe("removeHttp01Route with a new Ingress", () => {
  it("deletes the Ingress and the bridge Service, and is a no-op the second time", async () => {
    const ch = await challenge({ http01: { ingress: {} } }, { namespace: "shop" });
    await ensureHttp01Route(store, params(ch));
    await removeHttp01Route(store, params(ch));
    expect(await store.list(INGRESSES)).toEqual([]);
    expect(await store.list(SERVICES)).toEqual([]);
    await removeHttp01Route(store, params(ch));
  });
});

describe("an Ingress edited in place (http01.ingress.name)", () => {
  const userIngress = (rules: unknown[]): Obj => ({
    apiVersion: "networking.k8s.io/v1",
    kind: "Ingress",
    metadata: { name: "web", namespace: "meshsign", labels: { app: "web" } },
    spec: { ingressClassName: "nginx", rules },
  });
  const appPath = {
    path: "/",
    pathType: "Prefix",
    backend: { service: { name: "web", port: { number: 80 } } },
  };
  const otherHost = { host: "other.example.com", http: { paths: [appPath] } };

  it("adds the challenge path first on the host's rule, then removal restores the Ingress", async () => {
    const original = await store.create(
      INGRESSES,
      userIngress([{ host: "app.example.com", http: { paths: [appPath] } }, otherHost]),
    );
    const ch = await challenge({ http01: { ingress: { name: "web" } } });
    const route = await ensureHttp01Route(store, params(ch));
    expect(route).toEqual({ kind: "Ingress", namespace: "meshsign", name: "web", edited: true });
    const edited = await store.get<Obj>(INGRESSES, "meshsign", "web");
    expect(edited?.spec?.rules).toEqual([
      {
        host: "app.example.com",
        http: {
          paths: [
            {
              path: PATH,
              pathType: "ImplementationSpecific",
              backend: { service: { name: "meshsign", port: { number: 8089 } } },
            },
            appPath,
          ],
        },
      },
      otherHost,
    ]);
    const rv = edited?.metadata.resourceVersion;
    await ensureHttp01Route(store, params(ch));
    expect((await store.get(INGRESSES, "meshsign", "web"))?.metadata.resourceVersion).toBe(rv);

    await removeHttp01Route(store, params(ch));
    const restored = await store.get<Obj>(INGRESSES, "meshsign", "web");
    expect(restored?.spec).toEqual(original.spec);
    expect(restored?.metadata.labels).toEqual({ app: "web" });
  });

  it("adds a rule for a host the Ingress does not serve, and removal takes the rule away", async () => {
    const original = await store.create(INGRESSES, userIngress([otherHost]));
    const ch = await challenge({ http01: { ingress: { name: "web" } } });
    await ensureHttp01Route(store, params(ch));
    expect((await store.get<Obj>(INGRESSES, "meshsign", "web"))?.spec?.rules).toHaveLength(2);
    await removeHttp01Route(store, params(ch));
    expect((await store.get<Obj>(INGRESSES, "meshsign", "web"))?.spec).toEqual(original.spec);
  });

  it("replaces a path for the same token that points elsewhere", async () => {
    const stale = {
      path: PATH,
      pathType: "ImplementationSpecific",
      backend: { service: { name: "old", port: { number: 1 } } },
    };
    await store.create(
      INGRESSES,
      userIngress([{ host: "app.example.com", http: { paths: [stale, appPath] } }]),
    );
    const ch = await challenge({ http01: { ingress: { name: "web" } } });
    await ensureHttp01Route(store, params(ch));
    const rules = (await store.get<Obj>(INGRESSES, "meshsign", "web"))?.spec?.rules as Array<{
      http: { paths: unknown[] };
    }>;
    expect(rules[0]?.http.paths).toEqual([
      {
        path: PATH,
        pathType: "ImplementationSpecific",
        backend: { service: { name: "meshsign", port: { number: 8089 } } },
      },
      appPath,
    ]);
  });

  it("says which Ingress is missing, as a transient error", async () => {
    const ch = await challenge({ http01: { ingress: { name: "absent" } } });
    const err = await rejection(ensureHttp01Route(store, params(ch)));
    expect(isMeshsignError(err, "ERR_NOT_FOUND")).toBe(true);
    expect((err as Error).message).toBe(
      "Ingress meshsign/absent named by the solver's http01.ingress.name does not exist",
    );
    expect((err as { retry: string }).retry).toBe("transient");
    await removeHttp01Route(store, params(ch));
  });
});

describe("an HTTPRoute (http01.gatewayHTTPRoute)", () => {
  const solver: AcmeSolver = {
    http01: {
      gatewayHTTPRoute: {
        labels: { gateway: "public" },
        parentRefs: [{ name: "public", namespace: "istio-ingress", kind: "Gateway", sectionName: "http" }],
      },
    },
  };

  it("routes the exact token path for the host to meshsign's Service in meshsign's namespace", async () => {
    const ch = await challenge(solver, { namespace: "shop" });
    const route = await ensureHttp01Route(store, params(ch));
    const hr = await only(HTTP_ROUTES, "shop");
    expect(route).toEqual({ kind: "HTTPRoute", namespace: "shop", name: hr.metadata.name, edited: false });
    expect(hr.metadata.labels).toEqual({
      "acme.cert-manager.io/http01-solver": "true",
      "acme.cert-manager.io/http-domain": String(adler32("app.example.com")),
      "acme.cert-manager.io/http-token": String(adler32(TOKEN)),
      gateway: "public",
    });
    expect(hr.metadata.ownerReferences?.[0]).toMatchObject({
      kind: "Challenge",
      uid: ch.metadata.uid,
      controller: true,
    });
    expect(hr.spec).toEqual({
      parentRefs: [{ name: "public", namespace: "istio-ingress", kind: "Gateway", sectionName: "http" }],
      hostnames: ["app.example.com"],
      rules: [
        {
          matches: [{ path: { type: "Exact", value: PATH } }],
          backendRefs: [
            { group: "", kind: "Service", name: "meshsign", namespace: "meshsign", port: 8089, weight: 1 },
          ],
        },
      ],
    });
    expect(await store.list(SERVICES)).toEqual([]);
  });

  it("is not rewritten when the API server added defaults", async () => {
    const ch = await challenge(solver);
    await ensureHttp01Route(store, params(ch));
    const hr = await only(HTTP_ROUTES, "meshsign");
    const parentRefs = ((hr.spec?.parentRefs ?? []) as Array<Record<string, unknown>>).map((p) => ({
      group: "gateway.networking.k8s.io",
      ...p,
    }));
    const defaulted = await store.update(HTTP_ROUTES, { ...hr, spec: { ...hr.spec, parentRefs } });
    await ensureHttp01Route(store, params(ch));
    expect((await only(HTTP_ROUTES, "meshsign")).metadata.resourceVersion).toBe(
      defaulted.metadata.resourceVersion,
    );
  });

  it("is deleted by removeHttp01Route", async () => {
    const ch = await challenge(solver);
    await ensureHttp01Route(store, params(ch));
    await removeHttp01Route(store, params(ch));
    expect(await store.list(HTTP_ROUTES)).toEqual([]);
  });

  it("needs at least one parentRef", async () => {
    const ch = await challenge({ http01: { gatewayHTTPRoute: {} } });
    const err = await rejection(ensureHttp01Route(store, params(ch)));
    expect(isMeshsignError(err, "ERR_RESOURCE_INVALID")).toBe(true);
  });
});

describe("input checks", () => {
  it("refuses a DNS-01 Challenge", async () => {
    const ch = await challenge({ dns01: { webhook: { groupName: "g", solverName: "s" } } });
    const err = await rejection(ensureHttp01Route(store, params(ch)));
    expect(isMeshsignError(err, "ERR_RESOURCE_INVALID")).toBe(true);
  });

  it("refuses a Challenge that was not stored (no uid)", async () => {
    const ch = await challenge({ http01: { ingress: {} } });
    const { uid: _uid, ...metadata } = ch.metadata;
    const err = await rejection(ensureHttp01Route(store, { ...params(ch), challenge: { ...ch, metadata } }));
    expect(isMeshsignError(err, "ERR_RESOURCE_INVALID")).toBe(true);
  });

  it("refuses a port outside 1-65535", async () => {
    const ch = await challenge({ http01: { ingress: {} } });
    const err = await rejection(
      ensureHttp01Route(store, { ...params(ch), service: { ...MESHSIGN, port: 0 } }),
    );
    expect(isMeshsignError(err, "ERR_CONFIG_INVALID")).toBe(true);
  });
});
