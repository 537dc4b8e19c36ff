import { mkdir, readdir, readFile, stat } from "node:fs/promises";
import { ALL_RESOURCE_TYPES } from "../../../api/types.js";
import type { KubeObject, ResourceType } from "../../types.js";
import { DIR_MODE, unlinkIfExists, writeStoreFile } from "./files.js";
import { forEachLimit } from "./for-each-limit.js";

/**
 * The person-readable side of the embedded store: one pretty-printed JSON file
 * per object,
 *
 *     <store>/<group or "core">/<plural>/<namespace>/<name>.json   (namespaced)
 *     <store>/<group or "core">/<plural>/<name>.json               (cluster-scoped)
 *
 * Names are validated RFC 1123 subdomains, so they are safe file names.
 */

export const RESERVED_ENTRIES = new Set(["journal", "quarantine", "LOCK", "LOCK.takeover", "META.json"]);

export function objectDir(root: string, type: ResourceType, namespace: string | undefined): string {
  const base = `${root}/${type.group === "" ? "core" : type.group}/${type.plural}`;
  return type.namespaced ? `${base}/${namespace ?? ""}` : base;
}

export function objectPath(root: string, type: ResourceType, namespace: string | undefined, name: string): string {
  return `${objectDir(root, type, namespace)}/${name}.json`;
}

export function serializeObject(obj: KubeObject): string {
  return `${JSON.stringify(obj, null, 2)}\n`;
}

/** Writes (without fsync: the journal holds the durable copy until a checkpoint) or removes one object file. */
export async function materialize(root: string, type: ResourceType, namespace: string | undefined, name: string, obj: KubeObject | null, createdDirs: Set<string>): Promise<void> {
  const dir = objectDir(root, type, namespace);
  const path = `${dir}/${name}.json`;
  if (obj === null) {
    await unlinkIfExists(path);
    return;
  }
  if (!createdDirs.has(dir)) {
    await mkdir(dir, { recursive: true, mode: DIR_MODE });
    createdDirs.add(dir);
  }
  await writeStoreFile(path, serializeObject(obj), { fsync: false });
}

/** An object file that could not be read back as the object its path names. */
export interface DamagedObjectFile {
  readonly path: string;
  /** Its size in bytes, or -1 when it could not even be stat'ed. */
  readonly bytes: number;
  readonly reason: string;
  /** Which object it is meant to hold, from its path. */
  readonly group: string;
  readonly plural: string;
  readonly namespace: string | undefined;
  readonly name: string;
}

export interface LoadedObjects {
  readonly objects: { type: ResourceType; object: KubeObject; path: string }[];
  readonly damaged: DamagedObjectFile[];
  /** Leftover temporary files of interrupted writes. */
  readonly tempFiles: string[];
}

function typeFor(group: string, plural: string, namespaced: boolean, obj: KubeObject): ResourceType {
  const g = group === "core" ? "" : group;
  const known = ALL_RESOURCE_TYPES.find((t) => t.group === g && t.plural === plural);
  if (known !== undefined) return known;
  const slash = obj.apiVersion.indexOf("/");
  return Object.freeze({ group: g, version: slash < 0 ? obj.apiVersion : obj.apiVersion.slice(slash + 1), kind: obj.kind, plural, namespaced });
}

async function entries(dir: string): Promise<import("node:fs").Dirent[]> {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
}

/**
 * Reads every object file under `root`. A file that cannot be read, is not
 * JSON, or holds an object other than the one its path names is reported as
 * damaged, never skipped: the caller decides (opening refuses; `store recover`
 * quarantines it and looks for another copy).
 */
export async function loadObjects(root: string): Promise<LoadedObjects> {
  const objects: { type: ResourceType; object: KubeObject; path: string }[] = [];
  const damaged: DamagedObjectFile[] = [];
  const tempFiles: string[] = [];
  const files: { path: string; group: string; plural: string; namespace: string | undefined; name: string }[] = [];
  for (const g of await entries(root)) {
    if (!g.isDirectory() || RESERVED_ENTRIES.has(g.name)) continue;
    for (const p of await entries(`${root}/${g.name}`)) {
      if (!p.isDirectory()) continue;
      const typeDir = `${root}/${g.name}/${p.name}`;
      for (const e of await entries(typeDir)) {
        const path = `${typeDir}/${e.name}`;
        if (e.name.endsWith(".tmp")) tempFiles.push(path);
        else if (e.name.endsWith(".json") && !e.isDirectory()) files.push({ path, group: g.name, plural: p.name, namespace: undefined, name: e.name.slice(0, -5) });
        else if (e.isDirectory()) {
          for (const f of await entries(path)) {
            const fp = `${path}/${f.name}`;
            if (f.name.endsWith(".tmp")) tempFiles.push(fp);
            else if (f.name.endsWith(".json") && !f.isDirectory()) files.push({ path: fp, group: g.name, plural: p.name, namespace: e.name, name: f.name.slice(0, -5) });
          }
        }
      }
    }
  }
  await forEachLimit(files, 16, async (f) => {
    let text: string;
    try {
      text = await readFile(f.path, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return; // removed while we listed (a running writer)
      damaged.push({ ...f, bytes: await sizeOf(f.path), reason: `unreadable (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})` });
      return;
    }
    const reason = checkObjectText(text, f);
    if (typeof reason === "string") damaged.push({ ...f, bytes: Buffer.byteLength(text), reason });
    else objects.push({ type: typeFor(f.group, f.plural, f.namespace !== undefined, reason), object: reason, path: f.path });
  });
  damaged.sort((a, b) => (a.path < b.path ? -1 : 1));
  return { objects, damaged, tempFiles };
}

/** The object in an object file's text, or why it is not the one the file's path names. */
export function checkObjectText(text: string, where: { namespace: string | undefined; name: string }): KubeObject | string {
  if (text.length === 0) return "empty file";
  let obj: KubeObject;
  try {
    obj = JSON.parse(text) as KubeObject;
  } catch (err) {
    return `not JSON: ${(err as Error).message}`;
  }
  if (typeof obj !== "object" || obj === null || typeof obj.metadata !== "object" || obj.metadata === null) return "no metadata";
  if (obj.metadata.name !== where.name) return `metadata.name is ${JSON.stringify(obj.metadata.name)}, not ${JSON.stringify(where.name)}`;
  if (where.namespace !== undefined && obj.metadata.namespace !== where.namespace) return `metadata.namespace is ${JSON.stringify(obj.metadata.namespace)}, not ${JSON.stringify(where.namespace)}`;
  if (typeof obj.apiVersion !== "string" || typeof obj.kind !== "string") return "no apiVersion or kind";
  if (!/^[1-9][0-9]*$/.test(String(obj.metadata.resourceVersion ?? ""))) return "no resourceVersion";
  return obj;
}

async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return -1;
  }
}
