import { describe, expect, it } from "vitest";
import type { Certificate } from "../../../src/engine/lib/api.js";
import {
  DEFAULT_SHIM_OPTIONS,
  isOwnedBy,
  planCertificates,
  type ShimOptions,
  type ShimSource,
} from "../../../src/engine/shims/index.js";
import { loadFixture } from "../lib/builders.js";

const options = (o: Partial<ShimOptions> = {}): ShimOptions => ({ ...DEFAULT_SHIM_OPTIONS, ...o });
const withUid = <T extends ShimSource>(s: T, uid = "uid-1"): T => ({
  ...s,
  metadata: { ...s.metadata, uid },
});
const fixture = (file: string) => withUid(loadFixture(file)[0] as ShimSource);

function ingress(
  annotations: Record<string, string>,
  tls: { hosts?: string[]; secretName?: string }[],
  labels?: Record<string, string>,
): ShimSource {
  return withUid({
    apiVersion: "networking.k8s.io/v1",
    kind: "Ingress",
    metadata: { name: "web", namespace: "apps", annotations, ...(labels ? { labels } : {}) },
    spec: { tls },
  });
}

function gateway(annotations: Record<string, string>, listeners: unknown[]): ShimSource {
  return withUid({
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "Gateway",
    metadata: { name: "gw", namespace: "edge", annotations },
    spec: { listeners },
  } as ShimSource);
}

function istio(annotations: Record<string, string>, servers: unknown[]): ShimSource {
  return withUid({
    apiVersion: "networking.istio.io/v1",
    kind: "Gateway",
    metadata: { name: "ig", namespace: "istio-ingress", annotations },
    spec: { servers },
  } as ShimSource);
}

const CI = { "cert-manager.io/cluster-issuer": "ca" };
const names = (cs: readonly Certificate[]) =>
  cs.map((c) => `${c.metadata.namespace}/${c.metadata.name} ${JSON.stringify(c.spec.dnsNames ?? [])}`);

describe("planCertificates from the example manifests", () => {
  it("an annotated Ingress asks for one Certificate per TLS entry, owned by the Ingress, with its key annotations", () => {
    const src = fixture("ingress-annotations.yaml");
    const plan = planCertificates(src, options());
    expect(plan).toMatchObject({ annotated: true, skipped: [] });
    expect(plan.certificates).toEqual([
      {
        apiVersion: "cert-manager.io/v1",
        kind: "Certificate",
        metadata: {
          name: "hello-example-org-tls",
          namespace: "web",
          ownerReferences: [
            {
              apiVersion: "networking.k8s.io/v1",
              kind: "Ingress",
              name: "hello",
              uid: "uid-1",
              controller: true,
            },
          ],
        },
        spec: {
          secretName: "hello-example-org-tls",
          issuerRef: { name: "acme-http", kind: "ClusterIssuer", group: "cert-manager.io" },
          usages: ["digital signature", "key encipherment"],
          dnsNames: ["hello.example.org"],
          privateKey: { algorithm: "ECDSA", size: 256, rotationPolicy: "Always" },
        },
      },
    ]);
  });

  it("an annotated Gateway API Gateway asks for its listener's Secret with the listener hostname and the HTTP-01 parent hint", () => {
    const plan = planCertificates(fixture("gateway-api-annotations.yaml"), options());
    expect(names(plan.certificates)).toEqual(['istio-ingress/app-example-org-tls ["app.example.org"]']);
    expect(plan.certificates[0]?.metadata.annotations).toEqual({
      "acme.cert-manager.io/http01-parentrefkind": "Gateway",
      "acme.cert-manager.io/http01-parentrefname": "public",
    });
    expect(plan.certificates[0]?.spec.issuerRef).toEqual({
      name: "mesh-ca",
      kind: "ClusterIssuer",
      group: "cert-manager.io",
    });
  });

  it("the example Istio Gateway has no annotation and asks for nothing", () => {
    expect(planCertificates(fixture("istio-gateway.yaml"), options())).toEqual({
      annotated: false,
      certificates: [],
      skipped: [],
      retained: [],
    });
  });

  it("the example Istio Gateway, annotated, asks for its SIMPLE server's credentialName", () => {
    const src = fixture("istio-gateway.yaml");
    const plan = planCertificates(
      { ...src, metadata: { ...src.metadata, annotations: CI } } as ShimSource,
      options(),
    );
    expect(names(plan.certificates)).toEqual(['istio-ingress/shop-example-com-tls ["shop.example.com"]']);
  });
});

describe("which sources are shimmed", () => {
  const tls = [{ hosts: ["a.example.com"], secretName: "a-tls" }];
  it.each([
    ["cert-manager.io/issuer", { "cert-manager.io/issuer": "x" }, true],
    ["cert-manager.io/cluster-issuer", CI, true],
    ["kubernetes.io/tls-acme: true with a default issuer", { "kubernetes.io/tls-acme": "true" }, true],
    ["kubernetes.io/tls-acme: false", { "kubernetes.io/tls-acme": "false" }, false],
    ["no annotation", {}, false],
  ])("an Ingress with %s: %s", (_n, annotations, annotated) => {
    expect(planCertificates(ingress(annotations, tls), options({ defaultIssuerName: "le" })).annotated).toBe(
      annotated,
    );
  });

  it("kubernetes.io/tls-acme on a Gateway does nothing (Ingresses only, as in cert-manager)", () => {
    const l = [
      {
        name: "h",
        hostname: "a.example.com",
        protocol: "HTTPS",
        tls: { mode: "Terminate", certificateRefs: [{ name: "a-tls" }] },
      },
    ];
    expect(
      planCertificates(gateway({ "kubernetes.io/tls-acme": "true" }, l), options({ defaultIssuerName: "le" }))
        .annotated,
    ).toBe(false);
  });

  it("the default issuer flags fill in what tls-acme leaves out", () => {
    const plan = planCertificates(
      ingress({ "kubernetes.io/tls-acme": "true" }, tls),
      options({
        defaultIssuerName: "le",
        defaultIssuerKind: "ClusterIssuer",
        defaultIssuerGroup: "cert-manager.io",
      }),
    );
    expect(plan.certificates[0]?.spec.issuerRef).toEqual({
      name: "le",
      kind: "ClusterIssuer",
      group: "cert-manager.io",
    });
  });
});

describe("issuer annotations", () => {
  const tls = [{ hosts: ["a.example.com"], secretName: "a-tls" }];
  it.each([
    [
      "issuer",
      { "cert-manager.io/issuer": "ns-ca" },
      { name: "ns-ca", kind: "Issuer", group: "cert-manager.io" },
    ],
    [
      "issuer with an external kind and group",
      {
        "cert-manager.io/issuer": "x",
        "cert-manager.io/issuer-kind": "AWSPCAIssuer",
        "cert-manager.io/issuer-group": "awspca.cert-manager.io",
      },
      { name: "x", kind: "AWSPCAIssuer", group: "awspca.cert-manager.io" },
    ],
  ])("%s", (_n, annotations, issuerRef) => {
    expect(planCertificates(ingress(annotations, tls), options()).certificates[0]?.spec.issuerRef).toEqual(
      issuerRef,
    );
  });

  it.each([
    [
      "issuer and cluster-issuer",
      { "cert-manager.io/issuer": "a", "cert-manager.io/cluster-issuer": "b" },
      /both "cert-manager.io\/issuer" and "cert-manager.io\/cluster-issuer" may not be set/,
    ],
    [
      "cluster-issuer and issuer-kind",
      { "cert-manager.io/cluster-issuer": "b", "cert-manager.io/issuer-kind": "X" },
      /issuer-kind/,
    ],
    [
      "cluster-issuer and issuer-group",
      { "cert-manager.io/cluster-issuer": "b", "cert-manager.io/issuer-group": "x.io" },
      /issuer-group/,
    ],
    [
      "tls-acme without a default issuer",
      { "kubernetes.io/tls-acme": "true" },
      /failed to determine issuer name/,
    ],
  ])("refuses %s", (_n, annotations, message) => {
    const plan = planCertificates(ingress(annotations, tls), options());
    expect(plan.certificates).toEqual([]);
    expect(plan.badConfig).toMatch(message);
  });

  it("refuses a bad annotation value, naming the annotation and the value", () => {
    const plan = planCertificates(ingress({ ...CI, "cert-manager.io/duration": "forever" }, tls), options());
    expect(plan).toMatchObject({ annotated: true, certificates: [] });
    expect(plan.badConfig).toBe(
      'Annotation "cert-manager.io/duration" has an invalid value "forever": time: invalid duration "forever"',
    );
  });

  it("refuses an annotation the Certificate's own validation would refuse (a duration under an hour)", () => {
    const plan = planCertificates(ingress({ ...CI, "cert-manager.io/duration": "10m" }, tls), options());
    expect(plan.certificates).toEqual([]);
    expect(plan.badConfig).toMatch(/^Certificate "a-tls" would be invalid: spec.duration/);
  });
});

describe("Ingress TLS entries", () => {
  it("one Certificate per entry; IP hosts become IP SANs; labels copied without the applyset label", () => {
    const plan = planCertificates(
      ingress(
        CI,
        [
          { hosts: ["a.example.com", "10.0.0.1", "a.example.com"], secretName: "a-tls" },
          { hosts: ["b.example.com"], secretName: "b-tls" },
        ],
        { team: "web", "applyset.kubernetes.io/part-of": "set" },
      ),
      options(),
    );
    expect(names(plan.certificates)).toEqual([
      'apps/a-tls ["a.example.com"]',
      'apps/b-tls ["b.example.com"]',
    ]);
    expect(plan.certificates[0]?.spec.ipAddresses).toEqual(["10.0.0.1"]);
    expect(plan.certificates[0]?.metadata.labels).toEqual({ team: "web" });
  });

  it("skips an entry without hosts or secretName, with a reason", () => {
    const plan = planCertificates(
      ingress(CI, [
        { secretName: "a-tls" },
        { hosts: ["b.example.com"] },
        { hosts: ["c.example.com"], secretName: "c-tls" },
      ]),
      options(),
    );
    expect(names(plan.certificates)).toEqual(['apps/c-tls ["c.example.com"]']);
    expect(plan.skipped).toEqual([
      "Skipped a TLS block: spec.tls[0].hosts: Required value",
      "Skipped a TLS block: spec.tls[1].secretName: Required value",
    ]);
    // The Certificate the first entry had before it lost its hosts stays as it is.
    expect(plan.retained).toEqual(["apps/a-tls"]);
  });

  it("refuses two entries naming one Secret", () => {
    const plan = planCertificates(
      ingress(CI, [
        { hosts: ["a.example.com"], secretName: "x" },
        { hosts: ["b.example.com"], secretName: "x" },
      ]),
      options(),
    );
    expect(plan.badConfig).toMatch(
      /this secret name must only appear in a single TLS entry but is also used in spec.tls\[1\].secretName/,
    );
  });

  it("carries the ACME HTTP-01 Ingress hints as Certificate annotations", () => {
    const plan = planCertificates(
      ingress(
        {
          ...CI,
          "acme.cert-manager.io/http01-edit-in-place": "true",
          "acme.cert-manager.io/http01-ingress-class": "nginx",
          "acme.cert-manager.io/http01-ingress-ingressclassname": "nginx-v2",
        },
        [{ hosts: ["a.example.com"], secretName: "a-tls" }],
      ),
      options(),
    );
    expect(plan.certificates[0]?.metadata.annotations).toEqual({
      "acme.cert-manager.io/http01-override-ingress-name": "web",
      "cert-manager.io/issue-temporary-certificate": "true",
      "acme.cert-manager.io/http01-override-ingress-class": "nginx",
      "acme.cert-manager.io/http01-override-ingress-ingressclassname": "nginx-v2",
    });
  });
});

describe("Gateway API listeners", () => {
  const https = (
    name: string,
    hostname: string | undefined,
    secret: string,
    extra: Record<string, unknown> = {},
  ) => ({
    name,
    protocol: "HTTPS",
    port: 443,
    ...(hostname ? { hostname } : {}),
    tls: { mode: "Terminate", certificateRefs: [{ name: secret, kind: "Secret", group: "" }] },
    ...extra,
  });

  it("listeners naming one Secret merge their hostnames into one Certificate", () => {
    const plan = planCertificates(
      gateway(CI, [
        https("a", "a.example.com", "shared"),
        https("b", "b.example.com", "shared"),
        https("c", "c.example.com", "own"),
      ]),
      options(),
    );
    expect(names(plan.certificates)).toEqual([
      'edge/shared ["a.example.com","b.example.com"]',
      'edge/own ["c.example.com"]',
    ]);
  });

  it("skips HTTP listeners and TLS Passthrough silently", () => {
    const plan = planCertificates(
      gateway(CI, [
        { name: "http", protocol: "HTTP", port: 80, hostname: "a.example.com" },
        { name: "pt", protocol: "TLS", hostname: "a.example.com", tls: { mode: "Passthrough" } },
      ]),
      options(),
    );
    expect(plan).toEqual({ annotated: true, certificates: [], skipped: [], retained: [] });
  });

  it.each([
    [
      "no hostname",
      https("h", undefined, "s"),
      /spec.listeners\[0\].hostname: Required value: the hostname cannot be empty/,
    ],
    [
      "no TLS block",
      { name: "h", protocol: "HTTPS", hostname: "a.example.com" },
      /spec.listeners\[0\].tls: Required value/,
    ],
    [
      "no certificateRefs",
      {
        name: "h",
        protocol: "HTTPS",
        hostname: "a.example.com",
        tls: { mode: "Terminate", certificateRefs: [] },
      },
      /listener has no certificateRefs/,
    ],
    [
      "a cross-namespace reference",
      {
        name: "h",
        protocol: "HTTPS",
        hostname: "a.example.com",
        tls: { mode: "Terminate", certificateRefs: [{ name: "s", namespace: "other" }] },
      },
      /cross-namespace secret references are not allowed/,
    ],
    [
      "a non-Secret reference",
      {
        name: "h",
        protocol: "HTTPS",
        hostname: "a.example.com",
        tls: { mode: "Terminate", certificateRefs: [{ name: "s", kind: "ConfigMap" }] },
      },
      /kind: Unsupported value: "ConfigMap"/,
    ],
  ])("skips a listener with %s, with a reason", (_n, listener, message) => {
    const plan = planCertificates(gateway(CI, [listener]), options());
    expect(plan.certificates).toEqual([]);
    expect(plan.skipped).toHaveLength(1);
    expect(plan.skipped[0]).toMatch(/^Skipped a listener block: /);
    expect(plan.skipped[0]).toMatch(message);
  });
});

describe("Istio Gateway servers", () => {
  const server = (mode: string, credentialName: string | undefined, hosts: string[]) => ({
    port: { number: 443, name: "https", protocol: "HTTPS" },
    hosts,
    tls: { mode, ...(credentialName ? { credentialName } : {}) },
  });

  it("SIMPLE and MUTUAL servers ask for their credentialName; hosts lose the namespace/ prefix, *. wildcards stay", () => {
    const plan = planCertificates(
      istio(CI, [
        server("SIMPLE", "shop-tls", ["web/shop.example.com", "*.shop.example.com"]),
        server("MUTUAL", "mtls", ["./api.example.com"]),
        server("PASSTHROUGH", "pt", ["x.example.com"]),
      ]),
      options(),
    );
    expect(names(plan.certificates)).toEqual([
      'istio-ingress/shop-tls ["shop.example.com","*.shop.example.com"]',
      'istio-ingress/mtls ["api.example.com"]',
    ]);
    expect(plan.skipped).toEqual([]);
  });

  it("an OPTIONAL_MUTUAL server (Istio 1.19+: a client certificate is asked for, not required) asks for its credentialName too", () => {
    const plan = planCertificates(
      istio(CI, [server("OPTIONAL_MUTUAL", "partners-tls", ["partners.example.com"])]),
      options(),
    );
    expect(names(plan.certificates)).toEqual(['istio-ingress/partners-tls ["partners.example.com"]']);
  });

  it("servers naming one credentialName merge their hosts", () => {
    const plan = planCertificates(
      istio(CI, [
        server("SIMPLE", "s", ["a.example.com"]),
        server("SIMPLE", "s", ["b.example.com", "a.example.com"]),
      ]),
      options(),
    );
    expect(names(plan.certificates)).toEqual(['istio-ingress/s ["a.example.com","b.example.com"]']);
  });

  it("skips a server without credentialName or with only a bare * host, with a reason", () => {
    const plan = planCertificates(
      istio(CI, [server("SIMPLE", undefined, ["a.example.com"]), server("SIMPLE", "s", ["*"])]),
      options(),
    );
    expect(plan.certificates).toEqual([]);
    expect(plan.skipped).toEqual([
      expect.stringMatching(/spec.servers\[0\].tls.credentialName: Required value/),
      expect.stringMatching(/spec.servers\[1\].hosts/),
    ]);
  });

  it("makes the Certificate where the gateway deployment runs, marked with the source instead of an ownerReference", () => {
    const src = istio(CI, [server("SIMPLE", "s", ["a.example.com"])]);
    const plan = planCertificates(src, options({ istioGatewaySecretNamespace: "istio-system" }));
    const c = plan.certificates[0] as Certificate;
    expect(c.metadata.namespace).toBe("istio-system");
    expect(c.metadata.ownerReferences).toBeUndefined();
    expect(c.metadata.annotations?.["meshsign.io/shim-source"]).toBe(
      "networking.istio.io/v1/Gateway/istio-ingress/ig/uid-1",
    );
    expect(isOwnedBy(c, src)).toBe(true);
    expect(isOwnedBy(c, withUid(src, "uid-2"))).toBe(false);
  });
});

describe("Gateway API ListenerSets", () => {
  const listenerSet = (annotations: Record<string, string>, parentNamespace?: string): ShimSource =>
    withUid({
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "ListenerSet",
      metadata: { name: "team-a", namespace: "edge", annotations },
      spec: {
        parentRef: { name: "gw", ...(parentNamespace ? { namespace: parentNamespace } : {}) },
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
    } as ShimSource);
  const parent = (annotations: Record<string, string>) => gateway(annotations, []);

  it("waits for its parent Gateway", () => {
    expect(planCertificates(listenerSet(CI), options())).toMatchObject({
      waiting: expect.stringMatching(/parent Gateway/),
      certificates: [],
    });
  });

  it("inherits the parent's issuer, and names itself as the HTTP-01 parent", () => {
    const plan = planCertificates(
      listenerSet({}),
      options(),
      parent({ "cert-manager.io/cluster-issuer": "from-gw" }),
    );
    expect(names(plan.certificates)).toEqual(['edge/a-tls ["a.example.com"]']);
    expect(plan.certificates[0]?.spec.issuerRef).toEqual({
      name: "from-gw",
      kind: "ClusterIssuer",
      group: "cert-manager.io",
    });
    expect(plan.certificates[0]?.metadata.annotations).toEqual({
      "acme.cert-manager.io/http01-parentrefkind": "ListenerSet",
      "acme.cert-manager.io/http01-parentrefname": "team-a",
    });
    expect(plan.certificates[0]?.metadata.ownerReferences?.[0]).toMatchObject({
      kind: "ListenerSet",
      name: "team-a",
      controller: true,
    });
  });

  it("keeps its own issuer over the parent's", () => {
    const plan = planCertificates(
      listenerSet({ "cert-manager.io/issuer": "own" }),
      options(),
      parent({ "cert-manager.io/cluster-issuer": "from-gw" }),
    );
    expect(plan.certificates[0]?.spec.issuerRef).toEqual({
      name: "own",
      kind: "Issuer",
      group: "cert-manager.io",
    });
  });

  it("asks for nothing when neither it nor its parent is annotated", () => {
    expect(planCertificates(listenerSet({}), options(), parent({}))).toEqual({
      annotated: false,
      certificates: [],
      skipped: [],
      retained: [],
    });
  });
});
