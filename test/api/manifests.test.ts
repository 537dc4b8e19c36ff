import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { describeDocument, parseManifests } from "../../src/api/manifests.js";

describe("parsing manifest text", () => {
  it("never throws, whatever the bytes, and labels every verdict with its file and index", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: "binary" }), fc.json()), fc.constantFrom("a.yaml", "b.json"), (text, file) => {
        for (const doc of parseManifests(text, file)) {
          expect(doc.file).toBe(file);
          expect(["valid", "invalid", "ignored"]).toContain(doc.status);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("never throws on arbitrary objects dressed as cert-manager kinds", () => {
    const kinds = fc.constantFrom(["cert-manager.io/v1", "Certificate"], ["cert-manager.io/v1", "Issuer"], ["v1", "Secret"], ["cert-manager.io/v1", "ClusterIssuer"]);
    fc.assert(
      fc.property(kinds, fc.jsonValue(), fc.jsonValue(), ([apiVersion, kind], metadata, spec) => {
        const docs = parseManifests(JSON.stringify({ apiVersion, kind, metadata, spec }), "x.json");
        expect(docs).toHaveLength(1);
      }),
      { numRuns: 300 },
    );
  });

  const cases: [string, string, string[]][] = [
    ["two documents and an empty one", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n", ["valid", "valid"]],
    ["a scalar document", "just a string\n", ["invalid"]],
    ["a YAML syntax error", "a: [1, 2\n", ["invalid"]],
    ["an Ingress (read by the shims)", "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: i}\n", ["valid"]],
    ["an HTTPRoute", "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r}\n", ["ignored"]],
    ["an Order (engine-managed)", "apiVersion: acme.cert-manager.io/v1\nkind: Order\nmetadata: {name: o}\n", ["ignored"]],
    ["a document without kind", "apiVersion: v1\nmetadata: {name: a}\n", ["invalid"]],
    ["generateName instead of name", "apiVersion: v1\nkind: ConfigMap\nmetadata: {generateName: a-}\n", ["invalid"]],
  ];
  it.each(cases)("classifies %s", (_name, text, statuses) => {
    expect(parseManifests(text, "f.yaml").map((d) => d.status)).toEqual(statuses);
  });

  it.each([
    ["an Istio Gateway written as networking.istio.io/v1beta1", "networking.istio.io/v1beta1", "networking.istio.io/v1"],
    ["an Istio Gateway written as networking.istio.io/v1alpha3", "networking.istio.io/v1alpha3", "networking.istio.io/v1"],
    ["a Gateway API Gateway written as gateway.networking.k8s.io/v1beta1", "gateway.networking.k8s.io/v1beta1", "gateway.networking.k8s.io/v1"],
  ])("loads %s as v1, as the API server serves it", (_name, apiVersion, served) => {
    const spec = apiVersion.startsWith("networking.istio.io")
      ? "spec: {selector: {istio: ingressgateway}, servers: [{port: {number: 443, name: https, protocol: HTTPS}, hosts: [a.example.com], tls: {mode: SIMPLE, credentialName: a-tls}}]}"
      : "spec: {gatewayClassName: istio, listeners: [{name: https, port: 443, protocol: HTTPS, hostname: a.example.com, tls: {certificateRefs: [{name: a-tls}]}}]}";
    const [doc] = parseManifests(`apiVersion: ${apiVersion}\nkind: Gateway\nmetadata: {name: g, namespace: istio-ingress, annotations: {cert-manager.io/cluster-issuer: ca}}\n${spec}\n`, "g.yaml");
    expect(doc?.status === "valid" && doc.object.apiVersion).toBe(served);
  });

  it.each([
    ["a Certificate of a version cert-manager no longer serves", "cert-manager.io/v1alpha2", "Certificate", "apiVersion: cert-manager.io/v1alpha2 is not served (cert-manager serves Certificate only as cert-manager.io/v1): write apiVersion: cert-manager.io/v1"],
    ["a misspelled kind in cert-manager.io", "cert-manager.io/v1", "Certficate", 'kind: no kind "Certficate" in cert-manager.io/v1: cert-manager.io kinds loaded from manifests are Certificate, CertificateRequest, Issuer, ClusterIssuer'],
  ])("refuses %s rather than ignoring it", (_name, apiVersion, kind, message) => {
    const [doc] = parseManifests(`apiVersion: ${apiVersion}\nkind: ${kind}\nmetadata: {name: c, namespace: ns}\nspec: {secretName: s, dnsNames: [a.example.com], issuerRef: {name: i}}\n`, "c.yaml");
    expect(doc?.status).toBe("invalid");
    expect(doc?.status === "invalid" && doc.errors.map((e) => `${e.path}: ${e.message}`)).toEqual([message]);
  });

  it("keeps the identity of a known cert-manager kind at a wrong version, so its previous good version is kept", () => {
    const [doc] = parseManifests("apiVersion: cert-manager.io/v1beta1\nkind: Certificate\nmetadata: {name: c}\n", "c.yaml", { defaultNamespace: "meshsign" });
    expect(doc?.status === "invalid" && doc.identity).toMatchObject({ type: { kind: "Certificate", version: "v1" }, namespace: "meshsign", name: "c" });
  });

  it("numbers documents as the file does, a List's items by their place in it", () => {
    const text = `apiVersion: v1
kind: List
items:
  - {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}
  - {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}
  - {apiVersion: v1, kind: ConfigMap, metadata: {name: c}}
---
apiVersion: v1
kind: ConfigMap
metadata: {generateName: d-}
`;
    expect(parseManifests(text, "backup.yaml").map(describeDocument)).toEqual([
      "ConfigMap default/a (backup.yaml#0.items[0])",
      "ConfigMap default/b (backup.yaml#0.items[1])",
      "ConfigMap default/c (backup.yaml#0.items[2])",
      "backup.yaml#1",
    ]);
  });

  it("puts namespaced objects without namespace in the default namespace", () => {
    const [doc] = parseManifests("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {a: b}\n", "s.yaml", { defaultNamespace: "meshsign" });
    expect(doc?.status === "valid" && doc.object).toMatchObject({ metadata: { name: "s", namespace: "meshsign" }, data: { a: "Yg==" } });
  });
});
