import { afterEach, describe, expect, it } from "vitest";
import { CERTIFICATES, GATEWAYS, INGRESSES, ISTIO_GATEWAYS, LISTENER_SETS } from "../../../src/api/types.js";
import type { EventRecorder } from "../../../src/engine/events.js";
import type { Certificate } from "../../../src/engine/lib/api.js";
import { DEFAULT_SHIM_OPTIONS, ShimController, type ShimOptions } from "../../../src/engine/shims/index.js";
import { MeshsignError } from "../../../src/errors/index.js";
import { MemoryStore } from "../../../src/store/memory/index.js";
import type { KubeObject, ResourceType, Store } from "../../../src/store/types.js";
import { certificate, loadFixture } from "../lib/builders.js";

interface Recorded {
  readonly object: string;
  readonly type: string;
  readonly reason: string;
  readonly message: string;
}

const stops: (() => void)[] = [];
afterEach(() => {
  for (const s of stops.splice(0)) s();
});

async function setup(options: Partial<ShimOptions> = {}, store: Store = new MemoryStore()) {
  const events: Recorded[] = [];
  const recorder: EventRecorder = {
    record: (o, type, reason, message) =>
      events.push({ object: `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`, type, reason, message }),
  };
  const skipped: string[] = [];
  const controller = new ShimController({
    store,
    options: { ...DEFAULT_SHIM_OPTIONS, ...options },
    events: recorder,
    onKindSkipped: (t, reason) => skipped.push(`${t.plural}.${t.group}: ${reason}`),
  });
  await controller.start();
  stops.push(() => controller.stop());
  const settle = async () => {
    // Store writes come back as watch events, which may queue more work.
    for (let i = 0; i < 5; i++) {
      await controller.idle();
      await new Promise((r) => setImmediate(r));
    }
  };
  const cert = (ns: string, name: string) => store.get<Certificate>(CERTIFICATES, ns, name);
  return { store, events, skipped, settle, cert };
}

function ingress(
  name: string,
  annotations: Record<string, string>,
  tls: { hosts: string[]; secretName: string }[],
): KubeObject {
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "Ingress",
    metadata: { name, namespace: "apps", annotations },
    spec: { tls },
  } as KubeObject;
}

const CI = { "cert-manager.io/cluster-issuer": "ca" };

describe("ShimController", () => {
  it("creates the Certificates of the example Ingress, Gateway and (annotated) Istio Gateway, each owned by its source", async () => {
    const { store, events, settle, cert } = await setup();
    const [ing, gw, ig] = [
      loadFixture("ingress-annotations.yaml")[0],
      loadFixture("gateway-api-annotations.yaml")[0],
      loadFixture("istio-gateway.yaml")[0],
    ] as KubeObject[];
    const createdIng = await store.create(INGRESSES, ing as KubeObject);
    await store.create(GATEWAYS, gw as KubeObject);
    await store.create(ISTIO_GATEWAYS, {
      ...(ig as KubeObject),
      metadata: { ...(ig as KubeObject).metadata, annotations: CI },
    });
    await settle();
    expect((await cert("web", "hello-example-org-tls"))?.metadata.ownerReferences).toEqual([
      {
        apiVersion: "networking.k8s.io/v1",
        kind: "Ingress",
        name: "hello",
        uid: createdIng.metadata.uid,
        controller: true,
      },
    ]);
    expect((await cert("istio-ingress", "app-example-org-tls"))?.spec.dnsNames).toEqual(["app.example.org"]);
    expect((await cert("istio-ingress", "shop-example-com-tls"))?.spec.dnsNames).toEqual([
      "shop.example.com",
    ]);
    expect(events.filter((e) => e.reason === "CreateCertificate").map((e) => e.object)).toEqual([
      "Ingress web/hello",
      "Gateway istio-ingress/public",
      "Gateway istio-ingress/shop-gateway",
    ]);
  });

  it("updates the Certificate when the source changes, keeping fields and annotations it does not manage", async () => {
    const { store, events, settle, cert } = await setup();
    const ing = await store.create(
      INGRESSES,
      ingress("web", CI, [{ hosts: ["a.example.com"], secretName: "a-tls" }]),
    );
    await settle();
    const made = (await cert("apps", "a-tls")) as Certificate;
    await store.update(CERTIFICATES, {
      ...made,
      metadata: { ...made.metadata, annotations: { "example.com/note": "kept" } },
      spec: { ...made.spec, isCA: false },
    });
    await store.update(INGRESSES, {
      ...ing,
      spec: { tls: [{ hosts: ["a.example.com", "b.example.com"], secretName: "a-tls" }] },
    } as KubeObject);
    await settle();
    const updated = (await cert("apps", "a-tls")) as Certificate;
    expect(updated.spec.dnsNames).toEqual(["a.example.com", "b.example.com"]);
    expect(updated.spec.isCA).toBe(false);
    expect(updated.metadata.annotations).toEqual({ "example.com/note": "kept" });
    expect(events.map((e) => e.reason)).toEqual(["CreateCertificate", "UpdateCertificate"]);
  });

  it("removing an ACME HTTP-01 hint from the Ingress removes it from the Certificate, keeping the user's own annotations", async () => {
    const { store, settle, cert } = await setup();
    const hints = {
      ...CI,
      "acme.cert-manager.io/http01-edit-in-place": "true",
      "acme.cert-manager.io/http01-ingress-class": "traefik",
    };
    const ing = await store.create(
      INGRESSES,
      ingress("web", hints, [{ hosts: ["a.example.com"], secretName: "a-tls" }]),
    );
    await settle();
    const made = (await cert("apps", "a-tls")) as Certificate;
    expect(made.metadata.annotations?.["acme.cert-manager.io/http01-override-ingress-class"]).toBe("traefik");
    await store.update(CERTIFICATES, {
      ...made,
      metadata: { ...made.metadata, annotations: { ...made.metadata.annotations, "example.com/note": "kept" } },
    });
    // The cluster moved from traefik to the Issuer's class, and off edit-in-place.
    await store.update(INGRESSES, { ...ing, metadata: { ...ing.metadata, annotations: CI } });
    await settle();
    expect((await cert("apps", "a-tls"))?.metadata.annotations).toEqual({ "example.com/note": "kept" });
  });

  it("deletes the Certificate of a removed TLS entry, and all of them when the annotation goes", async () => {
    const { store, events, settle, cert } = await setup();
    const ing = await store.create(
      INGRESSES,
      ingress("web", CI, [
        { hosts: ["a.example.com"], secretName: "a-tls" },
        { hosts: ["b.example.com"], secretName: "b-tls" },
      ]),
    );
    await settle();
    const one = await store.update(INGRESSES, {
      ...ing,
      spec: { tls: [{ hosts: ["a.example.com"], secretName: "a-tls" }] },
    } as KubeObject);
    await settle();
    expect(await cert("apps", "b-tls")).toBeUndefined();
    expect(await cert("apps", "a-tls")).toBeDefined();
    await store.update(INGRESSES, { ...one, metadata: { ...one.metadata, annotations: {} } });
    await settle();
    expect(await cert("apps", "a-tls")).toBeUndefined();
    expect(events.filter((e) => e.reason === "DeleteCertificate").map((e) => e.message)).toEqual([
      'Successfully deleted unrequired Certificate "b-tls"',
      'Successfully deleted unrequired Certificate "a-tls"',
    ]);
  });

  it("keeps the Certificate of a TLS entry or listener that is skipped but still names its Secret, as cert-manager does", async () => {
    const { store, events, settle, cert } = await setup();
    const ing = await store.create(
      INGRESSES,
      ingress("web", CI, [{ hosts: ["a.example.com"], secretName: "a-tls" }]),
    );
    const gw = await store.create(GATEWAYS, {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "Gateway",
      metadata: { name: "gw", namespace: "apps", annotations: CI },
      spec: {
        gatewayClassName: "istio",
        listeners: [
          {
            name: "https",
            protocol: "HTTPS",
            port: 443,
            hostname: "g.example.com",
            tls: { mode: "Terminate", certificateRefs: [{ name: "g-tls" }] },
          },
        ],
      },
    } as KubeObject);
    await settle();
    // An edit that loses the hosts (a bad patch, a templating slip): skipped with a Warning, nothing deleted.
    await store.update(INGRESSES, { ...ing, spec: { tls: [{ secretName: "a-tls" }] } } as KubeObject);
    const listeners = (gw as unknown as { spec: { listeners: Record<string, unknown>[] } }).spec.listeners;
    await store.update(GATEWAYS, {
      ...gw,
      spec: { gatewayClassName: "istio", listeners: listeners.map(({ hostname: _h, ...l }) => l) },
    } as KubeObject);
    await settle();
    expect((await cert("apps", "a-tls"))?.spec.dnsNames).toEqual(["a.example.com"]);
    expect((await cert("apps", "g-tls"))?.spec.dnsNames).toEqual(["g.example.com"]);
    expect(events.filter((e) => e.reason === "DeleteCertificate")).toEqual([]);
    expect(events.filter((e) => e.type === "Warning").map((e) => e.message)).toEqual([
      "Skipped a TLS block: spec.tls[0].hosts: Required value",
      "Skipped a listener block: spec.listeners[0].hostname: Required value: the hostname cannot be empty",
    ]);
  });

  it("deletes the Certificates made across namespaces when the Istio Gateway goes", async () => {
    const { store, settle, cert } = await setup({ istioGatewaySecretNamespace: "istio-system" });
    const ig = loadFixture("istio-gateway.yaml")[0] as KubeObject;
    await store.create(ISTIO_GATEWAYS, { ...ig, metadata: { ...ig.metadata, annotations: CI } });
    await settle();
    expect(
      (await cert("istio-system", "shop-example-com-tls"))?.metadata.annotations?.["meshsign.io/shim-source"],
    ).toMatch(/^networking.istio.io\/v1\/Gateway\/istio-ingress\/shop-gateway\//);
    await store.delete(ISTIO_GATEWAYS, "istio-ingress", "shop-gateway");
    await settle();
    expect(await cert("istio-system", "shop-example-com-tls")).toBeUndefined();
  });

  it("deletes the Certificates made across namespaces for an Istio Gateway deleted while it was not running", async () => {
    const store = new MemoryStore();
    const first = await setup({ istioGatewaySecretNamespace: "istio-system" }, store);
    const ig = loadFixture("istio-gateway.yaml")[0] as KubeObject;
    await store.create(ISTIO_GATEWAYS, { ...ig, metadata: { ...ig.metadata, annotations: CI } });
    await first.settle();
    expect(await first.cert("istio-system", "shop-example-com-tls")).toBeDefined();
    for (const s of stops.splice(0)) s();
    // Deleted while no shim runs (meshsign restarting, or another replica leading).
    await store.delete(ISTIO_GATEWAYS, "istio-ingress", "shop-gateway");
    await store.create(CERTIFICATES, certificate("by-hand", "istio-system"));
    const second = await setup({ istioGatewaySecretNamespace: "istio-system" }, store);
    await second.settle();
    expect(await second.cert("istio-system", "shop-example-com-tls")).toBeUndefined();
    expect(await second.cert("istio-system", "by-hand")).toBeDefined();
  });

  it("an Istio Gateway deleted and re-created at once gets its cross-namespace Certificate back, owned by the new one", async () => {
    const { store, events, settle, cert } = await setup({ istioGatewaySecretNamespace: "istio-system" });
    const ig = loadFixture("istio-gateway.yaml")[0] as KubeObject;
    const annotated = { ...ig, metadata: { ...ig.metadata, annotations: CI } };
    await store.create(ISTIO_GATEWAYS, annotated);
    await settle();
    // kubectl replace --force, or a GitOps tool re-creating the object: the new one comes before the shim handles the deletion.
    // Another source's reconcile keeps the shim busy while both events arrive.
    const [, , again] = await Promise.all([
      store.create(INGRESSES, ingress("web", CI, [{ hosts: ["a.example.com"], secretName: "a-tls" }])),
      store.delete(ISTIO_GATEWAYS, "istio-ingress", "shop-gateway"),
      store.create(ISTIO_GATEWAYS, annotated),
    ]);
    await settle();
    const c = await cert("istio-system", "shop-example-com-tls");
    expect(c?.metadata.annotations?.["meshsign.io/shim-source"]).toBe(
      `networking.istio.io/v1/Gateway/istio-ingress/shop-gateway/${again.metadata.uid}`,
    );
    expect(events.at(-1)?.reason).toBe("CreateCertificate");
  });

  it("an Istio Gateway server moved from MUTUAL to OPTIONAL_MUTUAL keeps its Certificate", async () => {
    const { store, events, settle, cert } = await setup();
    const gateway = (mode: string) =>
      ({
        apiVersion: "networking.istio.io/v1",
        kind: "Gateway",
        metadata: { name: "partners", namespace: "istio-ingress", annotations: CI },
        spec: {
          servers: [
            {
              port: { number: 443, name: "https", protocol: "HTTPS" },
              hosts: ["partners.example.com"],
              tls: { mode, credentialName: "partners-tls" },
            },
          ],
        },
      }) as KubeObject;
    const made = await store.create(ISTIO_GATEWAYS, gateway("MUTUAL"));
    await settle();
    expect(await cert("istio-ingress", "partners-tls")).toBeDefined();
    // Onboarding clients to mTLS gradually: the gateway still serves the same Secret.
    await store.update(ISTIO_GATEWAYS, { ...gateway("OPTIONAL_MUTUAL"), metadata: made.metadata });
    await settle();
    expect((await cert("istio-ingress", "partners-tls"))?.spec.dnsNames).toEqual(["partners.example.com"]);
    expect(events.filter((e) => e.reason === "DeleteCertificate")).toEqual([]);
  });

  it("leaves a hand-made Certificate of the same name alone, with a Warning Event", async () => {
    const { store, events, settle, cert } = await setup();
    await store.create(
      CERTIFICATES,
      certificate("a-tls", "apps", { secretName: "a-tls", dnsNames: ["hand.example.com"] }),
    );
    await store.create(INGRESSES, ingress("web", CI, [{ hosts: ["a.example.com"], secretName: "a-tls" }]));
    await settle();
    expect((await cert("apps", "a-tls"))?.spec.dnsNames).toEqual(["hand.example.com"]);
    expect(events).toEqual([
      {
        object: "Ingress apps/web",
        type: "Warning",
        reason: "CertificateConflict",
        message:
          'Certificate "a-tls" already exists (not made by a shim) and is not owned by this Ingress; it is left alone',
      },
    ]);
  });

  it("does not make a second writer of a Secret another Certificate already writes", async () => {
    const { store, events, settle, cert } = await setup();
    await store.create(CERTIFICATES, certificate("shop", "apps", { secretName: "a-tls" }));
    await store.create(INGRESSES, ingress("web", CI, [{ hosts: ["a.example.com"], secretName: "a-tls" }]));
    await settle();
    expect(await cert("apps", "a-tls")).toBeUndefined();
    expect(events.map((e) => `${e.type} ${e.reason}: ${e.message}`)).toEqual([
      'Warning CertificateConflict: Secret "a-tls" is already written by Certificate "shop" (not made by a shim); Certificate "a-tls" not made for this Ingress',
    ]);
  });

  it("two Ingresses naming one Secret: the first owns the Certificate, the second gets an Event, neither fights", async () => {
    const { store, events, settle, cert } = await setup();
    const first = await store.create(
      INGRESSES,
      ingress("first", CI, [{ hosts: ["a.example.com"], secretName: "a-tls" }]),
    );
    await settle();
    await store.create(INGRESSES, ingress("second", CI, [{ hosts: ["b.example.com"], secretName: "a-tls" }]));
    await settle();
    const c = (await cert("apps", "a-tls")) as Certificate;
    expect(c.metadata.ownerReferences?.[0]?.uid).toBe(first.metadata.uid);
    expect(c.spec.dnsNames).toEqual(["a.example.com"]);
    expect(events.at(-1)).toEqual({
      object: "Ingress apps/second",
      type: "Warning",
      reason: "CertificateConflict",
      message:
        'Certificate "a-tls" already exists (made for Ingress apps/first) and is not owned by this Ingress; it is left alone',
    });
  });

  it("a bad annotation value gives a Warning naming it and changes nothing", async () => {
    const { store, events, settle, cert } = await setup();
    const ing = await store.create(
      INGRESSES,
      ingress("web", CI, [{ hosts: ["a.example.com"], secretName: "a-tls" }]),
    );
    await settle();
    await store.update(INGRESSES, {
      ...ing,
      metadata: { ...ing.metadata, annotations: { ...CI, "cert-manager.io/private-key-size": "huge" } },
    });
    await settle();
    expect(await cert("apps", "a-tls")).toBeDefined();
    expect(events.at(-1)).toEqual({
      object: "Ingress apps/web",
      type: "Warning",
      reason: "BadConfig",
      message:
        'Annotation "cert-manager.io/private-key-size" has an invalid value "huge": invalid integer "huge"',
    });
  });

  it("re-creates an owned Certificate deleted by hand", async () => {
    const { store, settle, cert } = await setup();
    await store.create(INGRESSES, ingress("web", CI, [{ hosts: ["a.example.com"], secretName: "a-tls" }]));
    await settle();
    await store.delete(CERTIFICATES, "apps", "a-tls");
    await settle();
    expect(await cert("apps", "a-tls")).toBeDefined();
  });

  it("does not make Certificates again for a source that is being deleted (foreground cascading removes them)", async () => {
    const { store, events, settle, cert } = await setup();
    const ing = ingress("web", CI, [{ hosts: ["a.example.com"], secretName: "a-tls" }]);
    // An ingress controller's finalizer (e.g. a cloud load balancer's) keeps it Terminating for a while.
    await store.create(INGRESSES, {
      ...ing,
      metadata: { ...ing.metadata, finalizers: ["example.com/load-balancer"] },
    });
    await settle();
    expect(await cert("apps", "a-tls")).toBeDefined();
    await store.delete(INGRESSES, "apps", "web");
    // What the garbage collector does to dependents first with propagationPolicy Foreground (Argo CD's default).
    await store.delete(CERTIFICATES, "apps", "a-tls");
    await settle();
    expect(await cert("apps", "a-tls")).toBeUndefined();
    expect(events.filter((e) => e.reason === "CreateCertificate")).toHaveLength(1);
  });

  it("a ListenerSet gets its Certificates once its parent Gateway exists, with the Gateway's issuer", async () => {
    const { store, settle, cert } = await setup();
    await store.create(LISTENER_SETS, {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "ListenerSet",
      metadata: { name: "team-a", namespace: "edge" },
      spec: {
        parentRef: { name: "gw" },
        listeners: [
          {
            name: "a",
            protocol: "HTTPS",
            port: 443,
            hostname: "a.example.com",
            tls: { mode: "Terminate", certificateRefs: [{ name: "a-tls" }] },
          },
        ],
      },
    } as KubeObject);
    await settle();
    expect(await cert("edge", "a-tls")).toBeUndefined();
    await store.create(GATEWAYS, {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "Gateway",
      metadata: { name: "gw", namespace: "edge", annotations: CI },
      spec: { gatewayClassName: "istio", listeners: [] },
    } as KubeObject);
    await settle();
    const c = (await cert("edge", "a-tls")) as Certificate;
    expect(c.spec.issuerRef).toEqual({ name: "ca", kind: "ClusterIssuer", group: "cert-manager.io" });
    expect(c.metadata.ownerReferences?.[0]).toMatchObject({ kind: "ListenerSet", name: "team-a" });
  });

  it("skips a kind whose API is not served, once, and starts the others", async () => {
    const memory = new MemoryStore();
    const store: Store = new Proxy(memory, {
      get(target, prop, receiver) {
        if (prop === "list" || prop === "watch") {
          return (type: ResourceType, ...rest: unknown[]) => {
            if (type === GATEWAYS) {
              if (prop === "list")
                return Promise.reject(new MeshsignError("ERR_NOT_FOUND", "object not found"));
              throw new Error("watch of an unserved kind");
            }
            return (Reflect.get(target, prop, receiver) as (...a: unknown[]) => unknown).call(
              target,
              type,
              ...rest,
            );
          };
        }
        const v = Reflect.get(target, prop, receiver);
        return typeof v === "function" ? v.bind(target) : v;
      },
    });
    const { skipped, settle, cert } = await setup({}, store);
    expect(skipped).toEqual([
      "gateways.gateway.networking.k8s.io: gateway.networking.k8s.io/v1 gateways is not served (CRD not installed); restart meshsign after installing it",
    ]);
    await memory.create(INGRESSES, ingress("web", CI, [{ hosts: ["a.example.com"], secretName: "a-tls" }]));
    await settle();
    expect(await cert("apps", "a-tls")).toBeDefined();
  });
});
