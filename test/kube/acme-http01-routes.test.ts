/**
 * HTTP-01 routes in Kubernetes mode against a real kube-apiserver with
 * meshsign's CRDs and the Gateway API v1.6.3 standard-channel CRDs: the
 * Ingress, bridge Service and HTTPRoute are accepted by the API server's
 * validation with the shape cert-manager gives them, a second ensure writes
 * nothing even after the server's defaulting, and removal deletes them or
 * restores the user's Ingress.
 */
import { KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureHttp01Route, type Http01RouteParams, removeHttp01Route } from "../../src/acme/index.js";
import { adler32 } from "../../src/acme/lib/adler32.js";
import type { AcmeSolver, Challenge } from "../../src/api/types.js";
import { CHALLENGES, HTTP_ROUTES, INGRESSES, NAMESPACES, SERVICES } from "../../src/api/types.js";
import { KubeStore } from "../../src/store/kube/index.js";
import type { KubeObject } from "../../src/store/types.js";
import { type KubeApiServer, startKubeApiServer } from "./harness.js";
import { installCrds, installGatewayApiCrds } from "./lib/crds.js";

const TOKEN = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA";
const PATH = `/.well-known/acme-challenge/${TOKEN}`;
const MESHSIGN = { name: "meshsign", namespace: "meshsign" } as const;

interface Obj extends KubeObject {
  spec?: Record<string, unknown>;
}

let api: KubeApiServer;
let store: KubeStore;
let seq = 0;

beforeAll(async () => {
  api = await startKubeApiServer();
  const kc = new KubeConfig();
  kc.loadFromFile(api.kubeconfigPath);
  await installCrds(kc);
  await installGatewayApiCrds(kc);
  store = new KubeStore({ kubeConfig: kc });
  for (const name of ["meshsign", "shop"]) {
    await store.create(NAMESPACES, { apiVersion: "v1", kind: "Namespace", metadata: { name } });
  }
});

afterAll(async () => {
  await store?.close();
  await api?.stop();
});

async function challenge(solver: AcmeSolver, namespace: string): Promise<Challenge> {
  seq++;
  return store.create<Challenge>(CHALLENGES, {
    apiVersion: "acme.cert-manager.io/v1",
    kind: "Challenge",
    metadata: { name: `web-${seq}`, namespace },
    spec: {
      url: `https://acme.example/chall/${seq}`,
      authorizationURL: `https://acme.example/authz/${seq}`,
      dnsName: "app.example.com",
      type: "HTTP-01",
      token: TOKEN,
      key: `${TOKEN}.thumbprint`,
      solver,
      issuerRef: { name: "letsencrypt", kind: "ClusterIssuer", group: "cert-manager.io" },
    },
  });
}

const params = (ch: Challenge): Http01RouteParams => ({ challenge: ch, service: MESHSIGN });

const solverLabels = {
  "acme.cert-manager.io/http01-solver": "true",
  "acme.cert-manager.io/http-domain": String(adler32("app.example.com")),
  "acme.cert-manager.io/http-token": String(adler32(TOKEN)),
};

describe("HTTP-01 routes on the API server", () => {
  it("creates an Ingress and an ExternalName bridge in the Challenge's namespace, then deletes both", async () => {
    const ch = await challenge({ http01: { ingress: { ingressClassName: "nginx" } } }, "shop");
    const route = await ensureHttp01Route(store, params(ch));
    const ing = await store.get<Obj>(INGRESSES, "shop", route.name);
    const svc = await store.get<Obj>(SERVICES, "shop", route.name);
    expect(ing?.metadata.labels).toEqual(solverLabels);
    expect(ing?.metadata.ownerReferences).toEqual([
      {
        apiVersion: "acme.cert-manager.io/v1",
        kind: "Challenge",
        name: ch.metadata.name,
        uid: ch.metadata.uid,
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
    expect(ing?.spec).toMatchObject({
      ingressClassName: "nginx",
      rules: [
        {
          host: "app.example.com",
          http: {
            paths: [
              {
                path: PATH,
                pathType: "ImplementationSpecific",
                backend: { service: { name: route.name, port: { number: 8089 } } },
              },
            ],
          },
        },
      ],
    });
    expect(svc?.spec).toMatchObject({
      type: "ExternalName",
      externalName: "meshsign.meshsign.svc.cluster.local",
      ports: [{ port: 8089, targetPort: 8089 }],
    });

    const versions = [ing?.metadata.resourceVersion, svc?.metadata.resourceVersion];
    await ensureHttp01Route(store, params(ch));
    expect([
      (await store.get(INGRESSES, "shop", route.name))?.metadata.resourceVersion,
      (await store.get(SERVICES, "shop", route.name))?.metadata.resourceVersion,
    ]).toEqual(versions);

    await removeHttp01Route(store, params(ch));
    expect(await store.get(INGRESSES, "shop", route.name)).toBeUndefined();
    expect(await store.get(SERVICES, "shop", route.name)).toBeUndefined();
  });

  it("edits a user's Ingress in place and restores it on removal", async () => {
    const appPath = {
      path: "/",
      pathType: "Prefix",
      backend: { service: { name: "web", port: { number: 80 } } },
    };
    const original = await store.create<Obj>(INGRESSES, {
      apiVersion: "networking.k8s.io/v1",
      kind: "Ingress",
      metadata: { name: "web", namespace: "meshsign" },
      spec: { ingressClassName: "nginx", rules: [{ host: "app.example.com", http: { paths: [appPath] } }] },
    } as Obj);
    const ch = await challenge({ http01: { ingress: { name: "web" } } }, "meshsign");
    expect(await ensureHttp01Route(store, params(ch))).toMatchObject({
      kind: "Ingress",
      name: "web",
      edited: true,
    });
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
    ]);
    await removeHttp01Route(store, params(ch));
    expect((await store.get<Obj>(INGRESSES, "meshsign", "web"))?.spec).toEqual(original.spec);
    expect(await store.list(SERVICES, { namespace: "meshsign" })).toEqual([]);
  });

  it("creates an HTTPRoute the Gateway API schema accepts, unchanged by a second ensure, then deletes it", async () => {
    const ch = await challenge(
      {
        http01: {
          gatewayHTTPRoute: {
            labels: { gateway: "public" },
            parentRefs: [{ name: "public", namespace: "istio-ingress", kind: "Gateway" }],
          },
        },
      },
      "shop",
    );
    const route = await ensureHttp01Route(store, params(ch));
    expect(route.kind).toBe("HTTPRoute");
    const hr = await store.get<Obj>(HTTP_ROUTES, "shop", route.name);
    expect(hr?.metadata.labels).toEqual({ ...solverLabels, gateway: "public" });
    expect(hr?.metadata.ownerReferences?.[0]).toMatchObject({ kind: "Challenge", uid: ch.metadata.uid });
    expect(hr?.spec).toMatchObject({
      parentRefs: [{ name: "public", namespace: "istio-ingress", kind: "Gateway" }],
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

    await ensureHttp01Route(store, params(ch));
    expect((await store.get(HTTP_ROUTES, "shop", route.name))?.metadata.resourceVersion).toBe(
      hr?.metadata.resourceVersion,
    );
    expect(await store.get(SERVICES, "shop", route.name)).toBeUndefined();

    await removeHttp01Route(store, params(ch));
    expect(await store.get(HTTP_ROUTES, "shop", route.name)).toBeUndefined();
  });
});
