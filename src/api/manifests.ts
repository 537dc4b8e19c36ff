import { parseAllDocuments } from "yaml";
import type { KubeObject, ResourceType } from "../store/types.js";
import { normalizeObject } from "./normalize.js";
import { CERTIFICATE_REQUESTS, CERTIFICATES, CLUSTER_ISSUERS, CONFIGMAPS, GATEWAYS, INGRESSES, ISSUERS, ISTIO_GATEWAYS, LISTENER_SETS, NAMESPACES, SECRETS, resourceTypeFor } from "./types.js";
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

export type ManifestDocument =
  | { readonly file: string; readonly index: number; readonly status: "valid"; readonly identity: ManifestIdentity; readonly object: KubeObject; readonly unknownFields: readonly UnknownField[] }
  | { readonly file: string; readonly index: number; readonly status: "invalid"; readonly identity: ManifestIdentity | undefined; readonly errors: readonly FieldError[]; readonly unknownFields?: readonly UnknownField[] }
  | { readonly file: string; readonly index: number; readonly status: "ignored"; readonly kind: string; readonly reason: string };

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
  raw.forEach((entry, index) => {
    if ("error" in entry) out.push({ file, index, status: "invalid", identity: undefined, errors: [{ path: "", message: entry.error }] });
    else if (entry.value !== null && entry.value !== undefined) out.push(classify(entry.value, file, index, options));
  });
  return out;
}

/** "Certificate istio-ingress/shop (gateway.yaml#2)" */
export function describeDocument(doc: ManifestDocument): string {
  const where = `${doc.file}#${doc.index}`;
  if (doc.status === "ignored") return `${doc.kind} (${where})`;
  const id = doc.identity;
  if (id === undefined) return where;
  return `${id.type.kind} ${id.namespace === undefined ? "" : `${id.namespace}/`}${id.name} (${where})`;
}

type RawEntry = { value: unknown } | { error: string };

function parseYaml(text: string): RawEntry[] {
  const entries: RawEntry[] = [];
  for (const doc of parseAllDocuments(text, { prettyErrors: false })) {
    if (doc.errors.length > 0) {
      const e = doc.errors[0];
      const pos = e?.linePos?.[0];
      entries.push({ error: `YAML syntax: ${e?.message.split("\n")[0] ?? "unreadable"}${pos === undefined ? "" : ` at line ${pos.line}, column ${pos.col}`}` });
      continue;
    }
    let value: unknown;
    try {
      // Aliases are resolved with a cap, so an alias bomb is an error rather than gigabytes.
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      entries.push({ error: `YAML: ${(err as Error).message.split("\n")[0]}` });
      continue;
    }
    entries.push(...expandList(value));
  }
  return entries;
}

function parseJson(text: string): RawEntry[] {
  try {
    return expandList(JSON.parse(text) as unknown);
  } catch (err) {
    return [{ error: `JSON syntax: ${(err as Error).message}` }];
  }
}

/** A `kind: List` (what `kubectl get -o yaml` prints) stands for its items. */
function expandList(value: unknown): RawEntry[] {
  if (isRecord(value) && value.kind === "List" && Array.isArray(value.items)) return value.items.map((v: unknown) => ({ value: v }));
  return [{ value }];
}

function classify(value: unknown, file: string, index: number, options: ParseManifestOptions): ManifestDocument {
  if (!isRecord(value)) return { file, index, status: "invalid", identity: undefined, errors: [{ path: "", message: "a document must be an object with apiVersion, kind and metadata" }] };
  const apiVersion = typeof value.apiVersion === "string" ? value.apiVersion : "";
  const kind = typeof value.kind === "string" ? value.kind : "";
  const type = resourceTypeFor(apiVersion, kind);
  if (apiVersion !== "" && kind !== "") {
    if (type === undefined) return { file, index, status: "ignored", kind: `${apiVersion} ${kind}`, reason: "not a meshsign kind" };
    if (!MANIFEST_KINDS.includes(type)) return { file, index, status: "ignored", kind: `${apiVersion} ${kind}`, reason: "managed by meshsign itself, not loaded from manifests" };
  }
  let obj: Record<string, unknown> = value;
  const meta = isRecord(value.metadata) ? value.metadata : undefined;
  if (type?.namespaced === true && meta !== undefined && (meta.namespace === undefined || meta.namespace === "")) {
    obj = { ...value, metadata: { ...meta, namespace: options.defaultNamespace ?? "default" } };
  }
  const name = typeof meta?.name === "string" && meta.name !== "" ? meta.name : undefined;
  const nsValue = (obj.metadata as Record<string, unknown> | undefined)?.namespace;
  const identity: ManifestIdentity | undefined =
    type !== undefined && name !== undefined ? { type, namespace: type.namespaced && typeof nsValue === "string" ? nsValue : undefined, name } : undefined;
  if (meta !== undefined && meta.generateName !== undefined && name === undefined) {
    return { file, index, status: "invalid", identity, errors: [{ path: "metadata.name", message: "is required in manifests (generateName would create a new object on every reload)" }] };
  }
  const unknownFields = findUnknownFields(obj);
  const result = validateResource(obj);
  // A refused document lists its unknown fields first, strict or not: they are often the cause of the
  // other errors (`secretNam` leaves secretName missing). Under strictFields they refuse it on their own.
  const unknownErrors: FieldError[] = unknownFields.map((u) => ({ path: u.path, message: u.suggestion === undefined ? "unknown field" : `unknown field (did you mean ${JSON.stringify(u.suggestion)}?)` }));
  if (!result.ok) return { file, index, status: "invalid", identity, errors: [...unknownErrors, ...result.errors], unknownFields };
  if (identity === undefined) return { file, index, status: "invalid", identity, errors: [...unknownErrors, { path: "metadata.name", message: "is required" }], unknownFields };
  if (options.strictFields === true && unknownErrors.length > 0) return { file, index, status: "invalid", identity, errors: unknownErrors, unknownFields };
  return { file, index, status: "valid", identity, object: normalizeObject(result.value), unknownFields };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
