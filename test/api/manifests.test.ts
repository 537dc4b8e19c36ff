import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseManifests } from "../../src/api/manifests.js";

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

  it("puts namespaced objects without namespace in the default namespace", () => {
    const [doc] = parseManifests("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {a: b}\n", "s.yaml", { defaultNamespace: "meshsign" });
    expect(doc?.status === "valid" && doc.object).toMatchObject({ metadata: { name: "s", namespace: "meshsign" }, data: { a: "Yg==" } });
  });
});
