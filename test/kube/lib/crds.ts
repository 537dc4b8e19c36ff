/**
 * Installs meshsign's CRDs on a test API server: the generated ones from
 * manifests/crds/ when present, else a minimal cert-manager.io/v1 Certificate
 * CRD (schema-free, with the status subresource) so store tests can run first.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import type { KubeConfig } from "@kubernetes/client-node";
import { parseAllDocuments } from "yaml";
import { KubeStore } from "../../../src/store/kube/index.js";
import type { KubeObject, ResourceType } from "../../../src/store/types.js";
import { repoRoot } from "../harness.js";

const CustomResourceDefinitions: ResourceType = {
  group: "apiextensions.k8s.io",
  version: "v1",
  kind: "CustomResourceDefinition",
  plural: "customresourcedefinitions",
  namespaced: false,
};

/** Plain JSON, as the API takes it (client-node's typed model would drop x-kubernetes-* keys). */
interface V1CustomResourceDefinition extends KubeObject {
  spec: Record<string, unknown>;
  status?: { conditions?: Array<{ type: string; status: string }> };
}

export const minimalCertificateCrd: V1CustomResourceDefinition = {
  apiVersion: "apiextensions.k8s.io/v1",
  kind: "CustomResourceDefinition",
  metadata: { name: "certificates.cert-manager.io" },
  spec: {
    group: "cert-manager.io",
    names: {
      kind: "Certificate",
      listKind: "CertificateList",
      plural: "certificates",
      singular: "certificate",
    },
    scope: "Namespaced",
    versions: [
      {
        name: "v1",
        served: true,
        storage: true,
        subresources: { status: {} },
        schema: {
          openAPIV3Schema: {
            type: "object",
            properties: {
              spec: { type: "object", "x-kubernetes-preserve-unknown-fields": true },
              status: { type: "object", "x-kubernetes-preserve-unknown-fields": true },
            },
          },
        },
      },
    ],
  },
};

/** The CRD documents under manifests/crds/, or the minimal Certificate CRD. */
export function crdDocuments(): { crds: V1CustomResourceDefinition[]; generated: boolean } {
  const dir = path.join(repoRoot, "manifests", "crds");
  const files = existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => /\.ya?ml$/.test(f))
        .sort()
    : [];
  const crds: V1CustomResourceDefinition[] = [];
  for (const file of files) {
    for (const doc of parseAllDocuments(readFileSync(path.join(dir, file), "utf8"))) {
      const obj = doc.toJS() as V1CustomResourceDefinition | null;
      if (obj?.kind === "CustomResourceDefinition") crds.push(obj);
    }
  }
  return crds.length > 0 ? { crds, generated: true } : { crds: [minimalCertificateCrd], generated: false };
}

/** Creates the CRDs and waits until each is Established. Returns their names. */
export async function installCrds(kc: KubeConfig): Promise<string[]> {
  const store = new KubeStore({ kubeConfig: kc });
  try {
    return await install(store);
  } finally {
    await store.close();
  }
}

async function install(store: KubeStore): Promise<string[]> {
  const { crds } = crdDocuments();
  for (const crd of crds) await store.create(CustomResourceDefinitions, crd);
  const names = crds.map((c) => c.metadata?.name ?? "");
  for (const name of names) {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const crd = await store.get<V1CustomResourceDefinition>(CustomResourceDefinitions, undefined, name);
      if (crd?.status?.conditions?.some((c) => c.type === "Established" && c.status === "True")) break;
      if (Date.now() > deadline) throw new Error(`CRD ${name} not Established within 60 s`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  return names;
}
