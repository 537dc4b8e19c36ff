import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseManifests } from "../../src/api/manifests.js";
import { findUnknownFields, formatUnknownField } from "../../src/api/unknown-fields.js";

const cert = (spec: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  apiVersion: "cert-manager.io/v1",
  kind: "Certificate",
  metadata: { name: "c", namespace: "apps" },
  spec: { secretName: "c-tls", issuerRef: { name: "ca" }, dnsNames: ["a.example.com"], ...spec },
  ...extra,
});

describe("unknown fields", () => {
  const cases: [string, unknown, string[]][] = [
    ["a misspelled duration is named with the field it meant", cert({ duraton: "2h" }), ['unknown field "spec.duraton" (did you mean "spec.duration"?)']],
    ["a truncated secretName is named with the field it meant", { ...cert({}), spec: { secretNam: "x", issuerRef: { name: "ca" } } }, ['unknown field "spec.secretNam" (did you mean "spec.secretName"?)']],
    ["a key in the wrong case is matched", cert({ dnsnames: ["x"] }), ['unknown field "spec.dnsnames" (did you mean "spec.dnsNames"?)']],
    ["a nested object's typo carries its full path", cert({ privateKey: { algoritm: "ECDSA" } }), ['unknown field "spec.privateKey.algoritm" (did you mean "spec.privateKey.algorithm"?)']],
    ["elements of a list are checked with their index", cert({ otherNames: [{ oid: "1.2.3", utf8Value: "x" }, { oid: "1.2.3", utf8Valu: "x" }] }), ['unknown field "spec.otherNames[1].utf8Valu" (did you mean "spec.otherNames[1].utf8Value"?)']],
    ["a name far from every known one gets no suggestion", cert({ colour: "blue" }), ['unknown field "spec.colour"']],
    ["metadata is checked too", cert({}, { metadata: { name: "c", namspace: "apps" } }), ['unknown field "metadata.namspace" (did you mean "metadata.namespace"?)']],
    ["top-level keys are checked", cert({}, { sepc: {} }), ['unknown field "sepc" (did you mean "spec"?)']],
    ["labels, annotations and Secret data take any key", { apiVersion: "v1", kind: "Secret", metadata: { name: "s", labels: { anything: "x" }, annotations: { "a.b/c": "d" } }, data: { whatever: "eA==" } }, []],
    ["a well-formed Certificate has none", cert({ duration: "2h", privateKey: { algorithm: "ECDSA", size: 256 } }), []],
    ["kinds meshsign does not validate are not judged", { apiVersion: "networking.k8s.io/v1", kind: "Ingress", metadata: { name: "i" }, spec: { anything: 1 } }, []],
  ];
  it.each(cases)("%s", (_name, obj, expected) => {
    expect(findUnknownFields(obj).map(formatUnknownField)).toEqual(expected);
  });

  it("accepts any key in provider configs declared open (a DNS-01 provider's extra settings)", () => {
    const issuer = {
      apiVersion: "cert-manager.io/v1",
      kind: "Issuer",
      metadata: { name: "i", namespace: "apps" },
      spec: { acme: { server: "https://acme.example/dir", privateKeySecretRef: { name: "k" }, solvers: [{ dns01: { cloudDNS: { project: "p", someFutureSetting: true } } }] } },
    };
    expect(findUnknownFields(issuer)).toEqual([]);
  });

  it("finds none in any of the example manifests users copy", () => {
    const dir = path.resolve(import.meta.dirname, "../../examples");
    const found: string[] = [];
    for (const file of readdirSync(dir).filter((f) => /\.ya?ml$/.test(f))) {
      for (const doc of parseManifests(readFileSync(path.join(dir, file), "utf8"), file)) {
        if (doc.status !== "ignored") for (const u of doc.unknownFields ?? []) found.push(`${file}: ${u.path}`);
      }
    }
    expect(found).toEqual([]);
  });

  it("never throws on arbitrary documents, and reports only under the fields that held them", () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.jsonValue(), (metadata, spec) => {
        const obj = JSON.parse(JSON.stringify({ apiVersion: "cert-manager.io/v1", kind: "Certificate", metadata, spec })) as unknown;
        for (const u of findUnknownFields(obj)) {
          expect(u.path).toMatch(/^(metadata|spec)[.[]/);
          if (u.suggestion !== undefined) expect(u.suggestion).not.toBe(u.path);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe("unknown fields in manifests", () => {
  const text = "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: c, namespace: apps}\nspec:\n  secretName: c-tls\n  duraton: 2h\n  issuerRef: {name: ca}\n  dnsNames: [a.example.com]\n";

  it("are reported on a document that is still applied by default", () => {
    const [doc] = parseManifests(text, "c.yaml");
    expect(doc?.status).toBe("valid");
    expect(doc?.status === "valid" && doc.unknownFields).toEqual([{ path: "spec.duraton", suggestion: "spec.duration" }]);
  });

  it("make the document invalid with strictFields, naming the field and the closest known one", () => {
    const [doc] = parseManifests(text, "c.yaml", { strictFields: true });
    expect(doc?.status).toBe("invalid");
    expect(doc?.status === "invalid" && doc.errors).toEqual([{ path: "spec.duraton", message: 'unknown field (did you mean "spec.duration"?)' }]);
    expect(doc?.status === "invalid" && doc.identity?.name).toBe("c");
  });

  it.each([false, true])("come first among a refused document's errors, as they often cause the others (strictFields %s)", (strictFields) => {
    const [doc] = parseManifests(text.replace("secretName", "secretNam"), "c.yaml", { strictFields });
    expect(doc?.status === "invalid" && doc.errors.map((e) => e.path)).toEqual(["spec.secretNam", "spec.duraton", "spec.secretName"]);
    expect(doc?.status === "invalid" && doc.errors[0]?.message).toBe('unknown field (did you mean "spec.secretName"?)');
  });
});
