/**
 * Installs CRDs on a test API server: meshsign's own (the generated ones from
 * manifests/crds/ when present, else a minimal cert-manager.io/v1 Certificate
 * CRD, schema-free with the status subresource, so store tests can run first),
 * and, for the certificate shims and the ACME HTTP-01 Gateway path, the Gateway
 * API standard channel and Istio's Gateway, as released (found by
 * `test/kube/setup.sh` in the Go module cache).
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import type { KubeConfig } from "@kubernetes/client-node";
import { parseAllDocuments } from "yaml";
import { KubeStore } from "../../../src/store/kube/index.js";
import type { KubeObject, ResourceType } from "../../../src/store/types.js";
import { harnessEnv, repoRoot } from "../harness.js";

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
  const crds = files.flatMap((f) => crdsIn(readFileSync(path.join(dir, f), "utf8")));
  return crds.length > 0 ? { crds, generated: true } : { crds: [minimalCertificateCrd], generated: false };
}

/** Creates meshsign's CRDs and waits until each is Established. Returns their names. */
export async function installCrds(kc: KubeConfig): Promise<string[]> {
  return installCrdList(kc, crdDocuments().crds);
}

/**
 * The Gateway API standard channel of the release setup.sh downloaded (GatewayClass, Gateway,
 * ListenerSet, HTTPRoute, GRPCRoute, TLSRoute, ReferenceGrant, BackendTLSPolicy, ...).
 */
export function gatewayApiCrdDocuments(): V1CustomResourceDefinition[] {
  const dir = recordedPath("MESHSIGN_GATEWAY_API_CRDS", "gateway-api-crds");
  const files = readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort();
  return files.flatMap((f) => crdsIn(readFileSync(path.join(dir, f), "utf8")));
}

/** Creates the Gateway API standard-channel CRDs and waits until each is Established. Returns their names. */
export async function installGatewayApiCrds(kc: KubeConfig): Promise<string[]> {
  return installCrdList(kc, gatewayApiCrdDocuments());
}

/** Istio's CRDs named in `names` (default: its Gateway, `gateways.networking.istio.io`), from the pinned istio.io/istio module. */
export function istioCrdDocuments(
  names: readonly string[] = ["gateways.networking.istio.io"],
): V1CustomResourceDefinition[] {
  const file = recordedPath("MESHSIGN_ISTIO_CRDS", "istio-crds");
  const crds = crdsIn(readFileSync(file, "utf8")).filter((c) => names.includes(c.metadata?.name ?? ""));
  const missing = names.filter((n) => !crds.some((c) => c.metadata?.name === n));
  if (missing.length > 0) throw new Error(`${file} has no CRD ${missing.join(", ")}`);
  return crds;
}

/** Creates Istio's Gateway CRD (or the named Istio CRDs) and waits until Established. Returns their names. */
export async function installIstioCrds(kc: KubeConfig, names?: readonly string[]): Promise<string[]> {
  return installCrdList(kc, istioCrdDocuments(names));
}

function crdsIn(text: string): V1CustomResourceDefinition[] {
  const crds: V1CustomResourceDefinition[] = [];
  for (const doc of parseAllDocuments(text)) {
    const obj = doc.toJS() as V1CustomResourceDefinition | null;
    // Other kinds (the Gateway API's ValidatingAdmissionPolicy for safe upgrades) are not installed.
    if (obj?.kind === "CustomResourceDefinition") crds.push(obj);
  }
  return crds;
}

function recordedPath(key: string, target: string): string {
  const p = harnessEnv()[key];
  if (!p || !existsSync(p)) {
    throw new Error(
      `${key} not found: run \`bash test/kube/setup.sh ${target}\` (npm run test:kube does) or set ${key}`,
    );
  }
  return p;
}

async function installCrdList(
  kc: KubeConfig,
  crds: readonly V1CustomResourceDefinition[],
): Promise<string[]> {
  const store = new KubeStore({ kubeConfig: kc });
  try {
    return await install(store, crds);
  } finally {
    await store.close();
  }
}

async function install(store: KubeStore, crds: readonly V1CustomResourceDefinition[]): Promise<string[]> {
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
