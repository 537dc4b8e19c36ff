import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { generateCrds, renderCrdFiles } from "../../src/api/crd-gen.js";

const crdDir = path.resolve(import.meta.dirname, "../../manifests/crds");

/** Every schema node, with its path. */
function* nodes(schema: unknown, at = "$"): Generator<[string, Record<string, unknown>]> {
  if (typeof schema !== "object" || schema === null) return;
  const s = schema as Record<string, unknown>;
  yield [at, s];
  for (const [k, v] of Object.entries((s.properties as Record<string, unknown>) ?? {})) yield* nodes(v, `${at}.${k}`);
  if (s.items !== undefined) yield* nodes(s.items, `${at}[]`);
  if (typeof s.additionalProperties === "object") yield* nodes(s.additionalProperties, `${at}{}`);
}

describe("the generated CRDs", () => {
  it("are committed exactly as the generator writes them (run `npm run gen:crds` after a schema change)", () => {
    const expected = renderCrdFiles();
    const committed = readdirSync(crdDir).filter((f) => f.endsWith(".yaml")).sort();
    expect(committed).toEqual([...expected.keys()].sort());
    for (const [name, text] of expected) expect(readFileSync(path.join(crdDir, name), "utf8"), name).toBe(text);
  });

  const crds = generateCrds().map((c) => [(c.metadata as { name: string }).name, c] as const);

  it.each(crds)("%s has a structural schema: typed nodes, no refs or unions, no properties next to additionalProperties", (_name, crd) => {
    const version = (crd.spec as { versions: { schema: { openAPIV3Schema: unknown }; subresources: unknown }[] }).versions[0];
    expect(version?.subresources).toEqual({ status: {} });
    for (const [at, node] of nodes(version?.schema.openAPIV3Schema)) {
      for (const banned of ["$ref", "anyOf", "oneOf", "allOf", "$schema"]) expect(node[banned], `${at} has ${banned}`).toBeUndefined();
      expect(node.type !== undefined || node["x-kubernetes-preserve-unknown-fields"] === true, `${at} has no type`).toBe(true);
      expect(node.properties !== undefined && node.additionalProperties !== undefined, `${at} mixes properties and additionalProperties`).toBe(false);
    }
  });

  it("keep free-form solver config as preserved unknown fields", () => {
    const issuer = generateCrds().find((c) => (c.metadata as { name: string }).name === "issuers.cert-manager.io");
    const text = JSON.stringify(issuer);
    expect(text).toContain('"config":{"type":"object","x-kubernetes-preserve-unknown-fields":true}');
  });

  it("show cert-manager's printer columns for Certificates", () => {
    const cert = generateCrds().find((c) => (c.metadata as { name: string }).name === "certificates.cert-manager.io");
    const columns = (cert?.spec as { versions: { additionalPrinterColumns: { name: string }[] }[] } | undefined)?.versions[0]?.additionalPrinterColumns.map((c) => c.name);
    expect(columns).toEqual(["Ready", "Secret", "Issuer", "Status", "Expiration", "Age"]);
  });
});
