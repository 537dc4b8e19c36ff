import { parseAllDocuments } from "yaml";
import type { KubeObject, ResourceType } from "../store/types.js";
import { normalizeObject } from "./normalize.js";
import { ALL_RESOURCE_TYPES, apiVersionOf, CERTIFICATE_REQUESTS, CERTIFICATES, CLUSTER_ISSUERS, CONFIGMAPS, GATEWAYS, INGRESSES, ISSUERS, ISTIO_GATEWAYS, LISTENER_SETS, NAMESPACES, SECRETS, resourceTypeFor } from "./types.js";
import { findUnknownFields, type UnknownField } from "./unknown-fields.js";
import { type FieldError, validateResource } from "./validate.js";

/**
 * Parsing of standalone manifests (`meshsign serve --manifests DIR`): YAML
 * (several documents per file, `---`) or JSON (one object, or a `v1 List`).
 * Every document gets a verdict; nothing here throws on bad input.
 *
 * - `valid`: a kind the loader applies, validated (and defaulted to
 *   `defaultNamespace` when namespaced without a namespace, as kubectl does).
 * - `invalid`: broke a rule; `errors` has field paths. `identity` is set when
 *   apiVersion/kind/name were readable, so the previous good version of that
 *   object is kept rather than deleted.
 * - Unknown fields (a misspelled `duraton`) are `unknownFields` on the
 *   verdict, each with the closest known name; with `strictFields` they
 *   make the document `invalid` instead, as `kubectl apply
 *   --validate=strict` does.
 * - Ingresses, Gateway API Gateways and ListenerSets, and Istio Gateways are
 *   loaded too: the certificate shims read their annotations (and only the
 *   fields they read are checked).
 * - `ignored`: not a meshsign kind (an HTTPRoute, an IstioOperator...), or a
 *   kind meshsign manages itself (Order, Event...).
 *   Reported once, never an error: users keep such files next to their
 *   Certificates.
 */

/** The kinds the manifest loader creates, in the order it applies them (the shims' sources after the Certificates they may conflict with). */
export const MANIFEST_KINDS: readonly ResourceType[] = [NAMESPACES, SECRETS, CONFIGMAPS, CLUSTER_ISSUERS, ISSUERS, CERTIFICATES, CERTIFICATE_REQUESTS, INGRESSES, GATEWAYS, LISTENER_SETS, ISTIO_GATEWAYS];

export interface ManifestIdentity {
  readonly type: ResourceType;
  readonly namespace: string | undefined;
  readonly name: string;
}

/** Where a document is: its place among the file's YAML documents (from 0) and, inside a `kind: List`, among the List's items. */
interface DocumentPlace {
  readonly file: string;
  readonly index: number;
  readonly item?: number;
}

export type ManifestDocument = DocumentPlace &
  (
    | { readonly status: "valid"; readonly identity: ManifestIdentity; readonly object: KubeObject; readonly unknownFields: readonly UnknownField[] }
    | { readonly status: "invalid"; readonly identity: ManifestIdentity | undefined; readonly errors: readonly FieldError[]; readonly unknownFields?: readonly UnknownField[] }
    | { readonly status: "ignored"; readonly kind: string; readonly reason: string }
  );

export interface ParseManifestOptions {
  /** Namespace for namespaced objects that name none. Default "default". */
  readonly defaultNamespace?: string;
  /** Unknown fields make a document invalid rather than only being reported. Default false. */
  readonly strictFields?: boolean;
}

/** Parses one file's text; `file` is only used to label the results. */
export function parseManifests(text: string, file: string, options: ParseManifestOptions = {}): ManifestDocument[] {
  const raw = file.endsWith(".json") ? parseJson(text) : parseYaml(text);
  const out: ManifestDocument[] = [];
  for (const entry of raw) {
    const place: DocumentPlace = { file, index: entry.index, ...(entry.item !== undefined ? { item: entry.item } : {}) };
    if ("error" in entry) out.push({ ...place, status: "invalid", identity: undefined, errors: [{ path: "", message: entry.error }] });
    else if (entry.value !== null && entry.value !== undefined) out.push(classify(entry.value, place, options));
  }
  return out;
}

/** "Certificate istio-ingress/shop (gateway.yaml#2)", or "(backup.yaml#0.items[3])" for an item of a List. */
export function describeDocument(doc: ManifestDocument): string {
  const where = `${doc.file}#${doc.index}${doc.item === undefined ? "" : `.items[${doc.item}]`}`;
  if (doc.status === "ignored") return `${doc.kind} (${where})`;
  const id = doc.identity;
  if (id === undefined) return where;
  return `${id.type.kind} ${id.namespace === undefined ? "" : `${id.namespace}/`}${id.name} (${where})`;
}

type RawEntry = { index: number; item?: number } & ({ value: unknown } | { error: string });

function parseYaml(text: string): RawEntry[] {
  const entries: RawEntry[] = [];
  parseAllDocuments(text, { prettyErrors: false }).forEach((doc, index) => {
    if (doc.errors.length > 0) {
      const e = doc.errors[0];
      const pos = e?.linePos?.[0];
      entries.push({ index, error: `YAML syntax: ${e?.message.split("\n")[0] ?? "unreadable"}${pos === undefined ? "" : ` at line ${pos.line}, column ${pos.col}`}` });
      return;
    }
    let value: unknown;
    try {
      // Aliases are resolved with a cap, so an alias bomb is an error rather than gigabytes.
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      entries.push({ index, error: `YAML: ${(err as Error).message.split("\n")[0]}` });
      return;
    }
    entries.push(...expandList(value, index));
  });
  return entries;
}

function parseJson(text: string): RawEntry[] {
  try {
    return expandList(JSON.parse(text) as unknown, 0);
  } catch (err) {
    return [{ index: 0, error: `JSON syntax: ${(err as Error).message}` }];
  }
}

/**
 * A `kind: List` (what `kubectl get -o yaml` prints) stands for its items, each labelled with its
 * place in the List, so the documents after it keep their own numbers.
 */
function expandList(value: unknown, index: number): RawEntry[] {
  if (isRecord(value) && value.kind === "List" && Array.isArray(value.items)) return value.items.map((v: unknown, item: number) => ({ index, item, value: v }));
  return [{ index, value }];
}

function classify(value: unknown, place: DocumentPlace, options: ParseManifestOptions): ManifestDocument {
  if (!isRecord(value)) return { ...place, status: "invalid", identity: undefined, errors: [{ path: "", message: "a document must be an object with apiVersion, kind and metadata" }] };
  let apiVersion = typeof value.apiVersion === "string" ? value.apiVersion : "";
  const kind = typeof value.kind === "string" ? value.kind : "";
  let obj: Record<string, unknown> = value;
  const converted = sameSchemaVersion(apiVersion, kind);
  if (converted !== undefined) {
    apiVersion = converted;
    obj = { ...value, apiVersion };
  }
  const type = resourceTypeFor(apiVersion, kind);
  if (apiVersion !== "" && kind !== "") {
    if (type === undefined) {
      const wrong = ownGroupProblem(apiVersion, kind, value.metadata, options.defaultNamespace ?? "default");
      if (wrong !== undefined) return { ...place, status: "invalid", identity: wrong.identity, errors: [wrong.error] };
      return { ...place, status: "ignored", kind: `${apiVersion} ${kind}`, reason: "not a meshsign kind" };
    }
    if (!MANIFEST_KINDS.includes(type)) return { ...place, status: "ignored", kind: `${apiVersion} ${kind}`, reason: "managed by meshsign itself, not loaded from manifests" };
  }
  const meta = isRecord(value.metadata) ? value.metadata : undefined;
  if (type?.namespaced === true && meta !== undefined && (meta.namespace === undefined || meta.namespace === "")) {
    obj = { ...obj, metadata: { ...meta, namespace: options.defaultNamespace ?? "default" } };
  }
  const name = typeof meta?.name === "string" && meta.name !== "" ? meta.name : undefined;
  const nsValue = (obj.metadata as Record<string, unknown> | undefined)?.namespace;
  const identity: ManifestIdentity | undefined =
    type !== undefined && name !== undefined ? { type, namespace: type.namespaced && typeof nsValue === "string" ? nsValue : undefined, name } : undefined;
  if (meta !== undefined && meta.generateName !== undefined && name === undefined) {
    return { ...place, status: "invalid", identity, errors: [{ path: "metadata.name", message: "is required in manifests (generateName would create a new object on every reload)" }] };
  }
  const unknownFields = findUnknownFields(obj);
  const result = validateResource(obj);
  // A refused document lists its unknown fields first, strict or not: they are often the cause of the
  // other errors (`secretNam` leaves secretName missing). Under strictFields they refuse it on their own.
  const unknownErrors: FieldError[] = unknownFields.map((u) => ({ path: u.path, message: u.suggestion === undefined ? "unknown field" : `unknown field (did you mean ${JSON.stringify(u.suggestion)}?)` }));
  if (!result.ok) return { ...place, status: "invalid", identity, errors: [...unknownErrors, ...result.errors], unknownFields };
  if (identity === undefined) return { ...place, status: "invalid", identity, errors: [...unknownErrors, { path: "metadata.name", message: "is required" }], unknownFields };
  if (options.strictFields === true && unknownErrors.length > 0) return { ...place, status: "invalid", identity, errors: unknownErrors, unknownFields };
  return { ...place, status: "valid", identity, object: normalizeObject(result.value), unknownFields };
}

/**
 * Older versions the API server still serves, with the same schema, of kinds meshsign reads at v1:
 * Istio's Gateway is identical at v1alpha3, v1beta1 and v1, and Gateway API's Gateway at v1beta1 and v1
 * (neither has a conversion webhook). In Kubernetes mode the API server hands meshsign v1 whatever
 * version was applied; a manifest is converted the same way instead of being ignored.
 */
const SAME_SCHEMA_VERSIONS: Readonly<Record<string, string>> = {
  "networking.istio.io/v1alpha3 Gateway": "networking.istio.io/v1",
  "networking.istio.io/v1beta1 Gateway": "networking.istio.io/v1",
  "gateway.networking.k8s.io/v1beta1 Gateway": "gateway.networking.k8s.io/v1",
};

function sameSchemaVersion(apiVersion: string, kind: string): string | undefined {
  return Object.hasOwn(SAME_SCHEMA_VERSIONS, `${apiVersion} ${kind}`) ? SAME_SCHEMA_VERSIONS[`${apiVersion} ${kind}`] : undefined;
}

/** API groups whose every kind is meshsign's: a document there that meshsign does not know is a mistake, not another tool's object. */
const OWN_GROUPS = new Set(ALL_RESOURCE_TYPES.filter((t) => t.group.endsWith("cert-manager.io")).map((t) => t.group));

/**
 * A cert-manager.io or acme.cert-manager.io document of a version or kind meshsign does not serve
 * (`cert-manager.io/v1alpha2`, `kind: Certficate`): kubectl answers `no matches for kind`; ignoring it
 * would silently drop the Certificate and delete the object an earlier version of it created.
 */
function ownGroupProblem(apiVersion: string, kind: string, metadata: unknown, defaultNamespace: string): { identity: ManifestIdentity | undefined; error: FieldError } | undefined {
  const slash = apiVersion.indexOf("/");
  const group = slash < 0 ? "" : apiVersion.slice(0, slash);
  if (!OWN_GROUPS.has(group)) return undefined;
  const served = ALL_RESOURCE_TYPES.find((t) => t.group === group && t.kind === kind);
  if (served !== undefined) {
    const name = isRecord(metadata) && typeof metadata.name === "string" && metadata.name !== "" ? metadata.name : undefined;
    const ns = isRecord(metadata) && typeof metadata.namespace === "string" && metadata.namespace !== "" ? metadata.namespace : defaultNamespace;
    // The object is known: keep its previous good version, as for any other invalid document.
    const identity = name === undefined || !MANIFEST_KINDS.includes(served) ? undefined : { type: served, namespace: served.namespaced ? ns : undefined, name };
    return { identity, error: { path: "apiVersion", message: `${apiVersion} is not served (cert-manager serves ${kind} only as ${apiVersionOf(served)}): write apiVersion: ${apiVersionOf(served)}` } };
  }
  const kinds = ALL_RESOURCE_TYPES.filter((t) => t.group === group && MANIFEST_KINDS.includes(t)).map((t) => t.kind);
  const known = kinds.length > 0 ? `: ${group} kinds loaded from manifests are ${kinds.join(", ")}` : "";
  return { identity: undefined, error: { path: "kind", message: `no kind ${JSON.stringify(kind)} in ${apiVersion}${known}` } };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
