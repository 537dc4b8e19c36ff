// Regenerates manifests/crds/*.yaml from the zod schemas in src/api (run: node --import tsx scripts/gen-crds.ts).
import { mkdir, readdir, unlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { renderCrdFiles } from "../src/api/crd-gen.js";

const outDir = path.resolve(import.meta.dirname, "../manifests/crds");
await mkdir(outDir, { recursive: true });
const files = renderCrdFiles();
for (const existing of await readdir(outDir)) {
  if (existing.endsWith(".yaml") && !files.has(existing)) await unlink(path.join(outDir, existing));
}
for (const [name, text] of files) await writeFile(path.join(outDir, name), text);
console.log(`wrote ${files.size} CRDs to ${path.relative(process.cwd(), outDir)}`);
