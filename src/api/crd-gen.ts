import { stringify } from "yaml";
import { z } from "zod";
import type { ResourceType } from "../store/types.js";
import { challengeSchema, orderSchema } from "./schemas/acme.js";
import { certificateSchema } from "./schemas/certificate.js";
import { certificateRequestSchema } from "./schemas/certificate-request.js";
import { clusterIssuerSchema, issuerSchema } from "./schemas/issuer.js";
import { CERTIFICATE_REQUESTS, CERTIFICATES, CHALLENGES, CLUSTER_ISSUERS, ISSUERS, ORDERS } from "./types.js";

/**
 * CustomResourceDefinitions for the cert-manager kinds, generated from the
 * same zod schemas that validate them, so the CRDs in `manifests/crds/` cannot
 * drift from the code (a test compares them). The JSON Schema zod produces is
 * made structural (Kubernetes' rules): no unions or refs (the schemas use
 * none; cross-field rules live in validateResource, as in cert-manager's
 * webhook), free-form parts marked `x-kubernetes-preserve-unknown-fields`.
 */

type JsonSchema = { [key: string]: unknown };

interface CrdSpec {
  readonly type: ResourceType;
  readonly schema: z.ZodType;
  readonly singular: string;
  readonly shortNames?: readonly string[];
  readonly columns: readonly PrinterColumn[];
  readonly description: string;
}

interface PrinterColumn {
  readonly name: string;
  readonly type: "string" | "date" | "integer" | "boolean";
  readonly jsonPath: string;
  readonly priority?: number;
  readonly description?: string;
}

const ready = (name = "Ready"): PrinterColumn => ({ name, type: "string", jsonPath: `.status.conditions[?(@.type == "${name}")].status` });
const statusMessage: PrinterColumn = { name: "Status", type: "string", jsonPath: '.status.conditions[?(@.type == "Ready")].message', priority: 1 };
const age: PrinterColumn = { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp", description: "CreationTimestamp is a timestamp representing the server time when this object was created." };

const CRDS: readonly CrdSpec[] = [
  {
    type: CERTIFICATES,
    schema: certificateSchema,
    singular: "certificate",
    shortNames: ["cert", "certs"],
    description: "A Certificate resource should be created to ensure an up to date and signed X.509 certificate is stored in the Kubernetes Secret resource named in `spec.secretName`.",
    columns: [ready(), { name: "Secret", type: "string", jsonPath: ".spec.secretName" }, { name: "Issuer", type: "string", jsonPath: ".spec.issuerRef.name", priority: 1 }, statusMessage, { name: "Expiration", type: "date", jsonPath: ".status.notAfter", priority: 1 }, age],
  },
  {
    type: CERTIFICATE_REQUESTS,
    schema: certificateRequestSchema,
    singular: "certificaterequest",
    shortNames: ["cr", "crs"],
    description: "A CertificateRequest is used to request a signed certificate from one of the configured issuers.",
    columns: [ready("Approved"), ready("Denied"), ready(), { name: "Issuer", type: "string", jsonPath: ".spec.issuerRef.name" }, { name: "Requester", type: "string", jsonPath: ".spec.username" }, statusMessage, age],
  },
  {
    type: ISSUERS,
    schema: issuerSchema,
    singular: "issuer",
    shortNames: ["iss"],
    description: "An Issuer represents a certificate issuing authority which can be referenced as part of `issuerRef` fields. It is scoped to a single namespace.",
    columns: [ready(), statusMessage, age],
  },
  {
    type: CLUSTER_ISSUERS,
    schema: clusterIssuerSchema,
    singular: "clusterissuer",
    shortNames: ["ciss"],
    description: "A ClusterIssuer represents a certificate issuing authority which can be referenced as part of `issuerRef` fields. It is similar to an Issuer, however it is cluster-scoped.",
    columns: [ready(), statusMessage, age],
  },
  {
    type: ORDERS,
    schema: orderSchema,
    singular: "order",
    description: "Order is a type to represent an Order with an ACME server.",
    columns: [{ name: "State", type: "string", jsonPath: ".status.state" }, { name: "Issuer", type: "string", jsonPath: ".spec.issuerRef.name", priority: 1 }, { name: "Reason", type: "string", jsonPath: ".status.reason", priority: 1 }, age],
  },
  {
    type: CHALLENGES,
    schema: challengeSchema,
    singular: "challenge",
    description: "Challenge is a type to represent a Challenge request with an ACME server.",
    columns: [{ name: "State", type: "string", jsonPath: ".status.state" }, { name: "Domain", type: "string", jsonPath: ".spec.dnsName" }, { name: "Reason", type: "string", jsonPath: ".status.reason", priority: 1 }, age],
  },
];

/** zod's safe-integer bounds say nothing to a reader of the CRD. */
const NUMBER_LIMIT = Number.MAX_SAFE_INTEGER;

/** Rewrites zod's JSON Schema into a Kubernetes structural schema. */
function structural(node: unknown): JsonSchema {
  const src = (typeof node === "object" && node !== null ? node : {}) as JsonSchema;
  const out: JsonSchema = {};
  for (const [k, v] of Object.entries(src)) {
    if (k === "$schema" || k === "id" || k === "additionalProperties") continue;
    if ((k === "minimum" || k === "maximum") && Math.abs(Number(v)) >= NUMBER_LIMIT) continue;
    if (k === "properties") {
      out.properties = Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([p, s]) => [p, structural(s)]));
    } else if (k === "items") {
      out.items = structural(v);
    } else if (k === "$ref" || k === "anyOf" || k === "oneOf" || k === "allOf" || k === "not") {
      throw new Error(`schema construct ${k} is not structural; model it without unions`);
    } else {
      out[k] = v;
    }
  }
  const ap = src.additionalProperties;
  if (ap === true || (typeof ap === "object" && ap !== null && Object.keys(ap).length === 0)) {
    out["x-kubernetes-preserve-unknown-fields"] = true; // free-form (webhook config, pod templates...)
  } else if (typeof ap === "object" && ap !== null) {
    out.additionalProperties = structural(ap);
  }
  if (out.type === undefined && out["x-kubernetes-preserve-unknown-fields"] !== true) out["x-kubernetes-preserve-unknown-fields"] = true;
  return out;
}

function openApiSchema(spec: CrdSpec): JsonSchema {
  const raw = z.toJSONSchema(spec.schema, { target: "openapi-3.0", io: "input", unrepresentable: "any" }) as JsonSchema;
  const s = structural(raw);
  const properties = { ...(s.properties as Record<string, JsonSchema>) };
  // The API server owns these; the standard CRD shapes for them.
  properties.apiVersion = { type: "string", description: "APIVersion defines the versioned schema of this representation of an object." };
  properties.kind = { type: "string", description: "Kind is a string value representing the REST resource this object represents." };
  properties.metadata = { type: "object" };
  return { type: "object", description: spec.description, required: ["spec"], properties };
}

/** The CRD objects, in a stable order. */
export function generateCrds(): JsonSchema[] {
  return CRDS.map((spec) => ({
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: {
      name: `${spec.type.plural}.${spec.type.group}`,
      labels: { "app.kubernetes.io/name": "meshsign", "app.kubernetes.io/component": "crds" },
    },
    spec: {
      group: spec.type.group,
      names: {
        kind: spec.type.kind,
        listKind: `${spec.type.kind}List`,
        plural: spec.type.plural,
        singular: spec.singular,
        ...(spec.shortNames === undefined ? {} : { shortNames: [...spec.shortNames] }),
        categories: spec.type.group === "acme.cert-manager.io" ? ["cert-manager", "cert-manager-acme"] : ["cert-manager"],
      },
      scope: spec.type.namespaced ? "Namespaced" : "Cluster",
      versions: [
        {
          name: spec.type.version,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: spec.columns.map((c) => ({ ...c })),
          schema: { openAPIV3Schema: openApiSchema(spec) },
        },
      ],
    },
  }));
}

/** File name -> YAML text, as committed under `manifests/crds/`. */
export function renderCrdFiles(): Map<string, string> {
  const files = new Map<string, string>();
  for (const crd of generateCrds()) {
    const name = (crd.metadata as { name: string }).name;
    files.set(`${name}.yaml`, `# Generated by \`npm run gen:crds\` from src/api/schemas; do not edit.\n${stringify(crd, { lineWidth: 0 })}`);
  }
  // So `kubectl apply -k manifests/crds` (or a kustomization that includes the folder) installs them all.
  const resources = [...files.keys()].sort();
  files.set(
    "kustomization.yaml",
    `# Generated by \`npm run gen:crds\`; do not edit. Skip these CRDs where cert-manager is installed already.\n${stringify(
      { apiVersion: "kustomize.config.k8s.io/v1beta1", kind: "Kustomization", resources },
      { lineWidth: 0 },
    )}`,
  );
  return files;
}
