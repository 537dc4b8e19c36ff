import { distance } from "fastest-levenshtein";
import type { z } from "zod";
import { SCHEMAS } from "./lib/registry.js";
import { renderPath } from "./lib/rules.js";
import { resourceTypeFor } from "./types.js";

/**
 * Unknown fields in a document, the way `kubectl apply` reports them with
 * server-side field validation: `unknown field "spec.duraton"`, with the
 * closest known name when one is near (`did you mean "spec.duration"?`).
 *
 * Validation alone cannot say this: a zod object drops keys it does not
 * know (as the API server prunes them from a structural CRD), so
 * `duraton: 2h` silently became the 90-day default. The known fields are
 * read from the same schemas that validate (src/api/schemas), never listed
 * twice; free-form maps (labels, Secret data, solver provider configs
 * declared as loose objects) accept any key.
 */

export interface UnknownField {
  /** Path of the unknown key, e.g. "spec.duraton" or "spec.privateKey.algoritm". */
  readonly path: string;
  /** Path of the closest known sibling, when one is near enough to be a typo. */
  readonly suggestion?: string;
}

/**
 * Unknown fields of an object of a kind meshsign validates, in document
 * order; empty for kinds it does not know (those are not its to judge).
 */
export function findUnknownFields(obj: unknown): UnknownField[] {
  if (!isRecord(obj) || typeof obj.apiVersion !== "string" || typeof obj.kind !== "string") return [];
  const type = resourceTypeFor(obj.apiVersion, obj.kind);
  const schema = type === undefined ? undefined : SCHEMAS.get(type);
  if (schema === undefined) return [];
  const out: UnknownField[] = [];
  walk(schema, obj, [], out);
  return out;
}

/** `unknown field "spec.duraton" (did you mean "spec.duration"?)` */
export function formatUnknownField(u: UnknownField): string {
  return `unknown field ${JSON.stringify(u.path)}${u.suggestion === undefined ? "" : ` (did you mean ${JSON.stringify(u.suggestion)}?)`}`;
}

/** The parts of zod's definition this walk reads (zod 4 `_zod.def`). */
interface Def {
  readonly type: string;
  readonly shape?: Record<string, z.ZodType>;
  readonly catchall?: z.ZodType;
  readonly innerType?: z.ZodType;
  readonly element?: z.ZodType;
  readonly valueType?: z.ZodType;
  readonly options?: readonly z.ZodType[];
  readonly in?: z.ZodType;
  readonly getter?: () => z.ZodType;
}

function defOf(schema: z.ZodType): Def {
  return (schema as unknown as { _zod: { def: Def } })._zod.def;
}

/** Wrappers that do not change which keys are known. */
const WRAPPERS = new Set(["optional", "nullable", "default", "prefault", "nonoptional", "readonly", "catch"]);

function walk(schema: z.ZodType, value: unknown, path: PropertyKey[], out: UnknownField[]): void {
  const def = defOf(schema);
  if (WRAPPERS.has(def.type) && def.innerType !== undefined) walk(def.innerType, value, path, out);
  else if (def.type === "pipe" && def.in !== undefined) walk(def.in, value, path, out);
  else if (def.type === "lazy" && def.getter !== undefined) walk(def.getter(), value, path, out);
  else if (def.type === "object") walkObject(def, value, path, out);
  else if (def.type === "union") walkUnion(def.options ?? [], value, path, out);
  else if (def.type === "array" && Array.isArray(value) && def.element !== undefined) {
    const element = def.element;
    for (const [i, v] of value.entries()) walk(element, v, [...path, i], out);
  } else if (def.type === "record" && isRecord(value) && def.valueType !== undefined) {
    const valueType = def.valueType;
    for (const [k, v] of Object.entries(value)) walk(valueType, v, [...path, k], out);
  }
  // Anything else (strings, numbers, enums, unknown) has no fields.
}

function walkObject(def: Def, value: unknown, path: PropertyKey[], out: UnknownField[]): void {
  if (!isRecord(value)) return;
  const shape = def.shape ?? {};
  const known = Object.keys(shape);
  // A loose object (catchall unknown) keeps every key: a provider config meshsign passes through.
  const open = def.catchall !== undefined && defOf(def.catchall).type !== "never";
  for (const [k, v] of Object.entries(value)) {
    // Own keys only: a document may say "__proto__" or "constructor".
    const field = Object.hasOwn(shape, k) ? shape[k] : undefined;
    if (field !== undefined) walk(field, v, [...path, k], out);
    else if (!open) {
      const near = closest(k, known);
      out.push({ path: renderPath([...path, k]), ...(near === undefined ? {} : { suggestion: renderPath([...path, near]) }) });
    }
  }
}

/** The option that explains the value best: fewest unknown fields. */
function walkUnion(options: readonly z.ZodType[], value: unknown, path: PropertyKey[], out: UnknownField[]): void {
  let best: UnknownField[] | undefined;
  for (const option of options) {
    const found: UnknownField[] = [];
    walk(option, value, path, found);
    if (best === undefined || found.length < best.length) best = found;
    if (best.length === 0) break;
  }
  out.push(...(best ?? []));
}

/**
 * The known name nearest to `key`, when it is close enough to be a typo:
 * a different case, or an edit distance of 1 for names of up to three
 * letters, else up to a third of the name (at least 2, so that a swap of
 * two letters, `sepc`, counts; at most 3), as `secretNam` for `secretName`.
 */
function closest(key: string, known: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const k of known) {
    const d = distance(lower, k.toLowerCase());
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  const limit = key.length <= 3 ? 1 : Math.min(3, Math.max(2, Math.floor(key.length / 3)));
  return best !== undefined && bestDistance <= limit ? best : undefined;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
