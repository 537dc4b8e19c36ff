import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import type { Certificate, IssuerResource, Secret } from "../../../src/engine/lib/api.js";
import type { KubeObject } from "../../../src/store/types.js";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
export const fixturesDir = path.resolve(repoRoot, "examples");

/** Every YAML document of an example manifest file (examples/). */
export function loadFixture(file: string): KubeObject[] {
  const text = readFileSync(path.join(fixturesDir, file), "utf8");
  return parseAllDocuments(text)
    .map((d) => d.toJS() as KubeObject | null)
    .filter((o): o is KubeObject => o !== null && typeof o === "object");
}

export function certificate(name: string, namespace: string, spec: Partial<Certificate["spec"]> = {}): Certificate {
  return {
    apiVersion: "cert-manager.io/v1",
    kind: "Certificate",
    metadata: { name, namespace },
    spec: { secretName: `${name}-tls`, issuerRef: { name: "selfsigned", kind: "ClusterIssuer" }, dnsNames: [`${name}.example.com`], ...spec },
  };
}

export function clusterIssuer(name: string, spec: IssuerResource["spec"]): IssuerResource {
  return { apiVersion: "cert-manager.io/v1", kind: "ClusterIssuer", metadata: { name }, spec };
}

export function decode(secret: Secret | undefined, key: string): string {
  const v = secret?.data?.[key];
  return v === undefined ? "" : Buffer.from(v, "base64").toString("utf8");
}
