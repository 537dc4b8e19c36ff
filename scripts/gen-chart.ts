// Regenerates the chart's copies of manifests/ (CRDs, RBAC rules) and values.schema.json in deploy/charts/meshsign
// (run: npm run gen:chart; npm run gen:crds runs it too; run it after an edit of manifests/base/rbac.yaml).
import { readdirSync, readFileSync } from "node:fs";
import { mkdir, readdir, unlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { CHART_DIR, renderChartFiles } from "./lib/chart.js";

const root = path.resolve(import.meta.dirname, "..");
const crdFiles = readdirSync(path.join(root, "manifests/crds")).filter(
  (f) => f.endsWith(".yaml") && f !== "kustomization.yaml",
);
const files = renderChartFiles((rel) => readFileSync(path.join(root, rel), "utf8"), crdFiles);
const chart = path.join(root, CHART_DIR);
const crdDir = path.join(chart, "templates/crds");
await mkdir(crdDir, { recursive: true });
for (const existing of await readdir(crdDir)) {
  if (!files.has(`templates/crds/${existing}`)) await unlink(path.join(crdDir, existing));
}
for (const [name, text] of files) await writeFile(path.join(chart, name), text);
console.log(`wrote ${files.size} files to ${CHART_DIR}`);
