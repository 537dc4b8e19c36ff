import { mkdir, readdir, readFile } from "node:fs/promises";
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

export const RESERVED_ENTRIES = new Set(["journal", "LOCK", "LOCK.takeover", "META.json"]);

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

export interface LoadedObjects {
  readonly objects: { type: ResourceType; object: KubeObject }[];
  readonly problems: string[];
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

/** Reads every object file under `root`. Unreadable files are reported and skipped (the journal restores them). */
export async function loadObjects(root: string): Promise<LoadedObjects> {
  const objects: { type: ResourceType; object: KubeObject }[] = [];
  const problems: string[] = [];
  const tempFiles: string[] = [];
  const files: { path: string; group: string; plural: string; namespaced: boolean }[] = [];
  for (const g of await entries(root)) {
    if (!g.isDirectory() || RESERVED_ENTRIES.has(g.name)) continue;
    for (const p of await entries(`${root}/${g.name}`)) {
      if (!p.isDirectory()) continue;
      const typeDir = `${root}/${g.name}/${p.name}`;
      for (const e of await entries(typeDir)) {
        const path = `${typeDir}/${e.name}`;
        if (e.name.endsWith(".tmp")) tempFiles.push(path);
        else if (e.isFile() && e.name.endsWith(".json")) files.push({ path, group: g.name, plural: p.name, namespaced: false });
        else if (e.isDirectory()) {
          for (const f of await entries(path)) {
            const fp = `${path}/${f.name}`;
            if (f.name.endsWith(".tmp")) tempFiles.push(fp);
            else if (f.isFile() && f.name.endsWith(".json")) files.push({ path: fp, group: g.name, plural: p.name, namespaced: true });
          }
        }
      }
    }
  }
  await forEachLimit(files, 16, async ({ path, group, plural, namespaced }) => {
    try {
      const obj = JSON.parse(await readFile(path, "utf8")) as KubeObject;
      if (typeof obj?.metadata?.name !== "string") throw new Error("no metadata.name");
      objects.push({ type: typeFor(group, plural, namespaced, obj), object: obj });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return; // removed while we listed (a running writer)
      problems.push(`${path}: unreadable object file skipped (${(err as Error).message})`);
    }
  });
  return { objects, problems, tempFiles };
}
