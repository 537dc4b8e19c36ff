/**
 * The Gateway API standard channel and Istio's Gateway CRD install on the test
 * API server, and the fixtures' Gateways are accepted by their schemas, so the
 * shim and ACME HTTP-01 suites can rely on them.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { KubeStore } from "../../src/store/kube/index.js";
import type { KubeObject, ResourceType } from "../../src/store/types.js";
import { type KubeApiServer, repoRoot, startKubeApiServer } from "./harness.js";
import { installGatewayApiCrds, installIstioCrds } from "./lib/crds.js";

const Namespaces: ResourceType = {
  group: "",
  version: "v1",
  kind: "Namespace",
  plural: "namespaces",
  namespaced: false,
};
const GatewayApiGateways: ResourceType = {
  group: "gateway.networking.k8s.io",
  version: "v1",
  kind: "Gateway",
  plural: "gateways",
  namespaced: true,
};
const IstioGateways: ResourceType = {
  group: "networking.istio.io",
  version: "v1",
  kind: "Gateway",
  plural: "gateways",
  namespaced: true,
};

let api: KubeApiServer;
let store: KubeStore;

beforeAll(async () => {
  api = await startKubeApiServer();
  store = new KubeStore({ kubeConfig: kc() });
});

afterAll(async () => {
  await store?.close();
  await api?.stop();
});

function fixture(name: string): KubeObject {
  return parse(readFileSync(path.join(repoRoot, "examples", name), "utf8")) as KubeObject;
}

describe("Gateway CRDs on the test API server", () => {
  it("installs the Gateway API standard channel, ListenerSet included, and Istio's Gateway", async () => {
    const gatewayApi = await installGatewayApiCrds(kc());
    expect(gatewayApi).toEqual(
      expect.arrayContaining([
        "gateways.gateway.networking.k8s.io",
        "gatewayclasses.gateway.networking.k8s.io",
        "httproutes.gateway.networking.k8s.io",
        "listenersets.gateway.networking.k8s.io",
      ]),
    );
    expect(await installIstioCrds(kc())).toEqual(["gateways.networking.istio.io"]);
  });

  it("accepts the fixtures' Gateway API Gateway and Istio Gateway", async () => {
    await store.create(Namespaces, {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: "istio-ingress" },
    });
    const gw = await store.create(GatewayApiGateways, fixture("gateway-api-annotations.yaml"));
    expect(gw.metadata.uid).toBeTruthy();
    const istio = await store.create(IstioGateways, fixture("istio-gateway.yaml"));
    expect(istio.metadata.uid).toBeTruthy();
    expect(
      (await store.list(IstioGateways, { namespace: "istio-ingress" })).map((g) => g.metadata.name),
    ).toEqual(["shop-gateway"]);
  });
});

function kc(): KubeConfig {
  const k = new KubeConfig();
  k.loadFromFile(api.kubeconfigPath);
  return k;
}
