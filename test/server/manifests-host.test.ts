import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { CERTIFICATES } from "../../src/api/types.js";
import type { ManifestProblemsFile } from "../../src/server/manifests-host.js";
import { watchManifests } from "../../src/server/manifests-host.js";
import { MemoryStore } from "../../src/store/memory/index.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(): Promise<{ dir: string; reportFile: string; lines: Record<string, unknown>[]; log: pino.Logger }> {
  const root = await mkdtemp(path.join(tmpdir(), "meshsign-mhost-"));
  cleanups.push(() => rm(root, { recursive: true, force: true }));
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const l of String(chunk).split("\n").filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  const dir = path.join(root, "m");
  await mkdir(dir);
  return { dir, reportFile: path.join(root, "manifests-report.json"), lines, log: pino({ level: "info" }, sink) };
}

const cert = (name: string, extra: string) =>
  `apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: ${name}, namespace: apps}\nspec:\n  secretName: ${name}-tls\n  issuerRef: {name: ca}\n  dnsNames: [a.example.com]\n${extra}`;

async function until(check: () => Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("the manifests a server follows", () => {
  it("writes what it refused or warned about for meshsign status, and names ignored documents once", async () => {
    const { dir, reportFile, lines, log } = await setup();
    await writeFile(path.join(dir, "certs.yaml"), `${cert("typo", "  duraton: 2h\n")}---\n${cert("bad", "  isCA: maybe\n")}`);
    await writeFile(path.join(dir, "gw.yaml"), "apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nmetadata: {name: gw}\n");
    const store = new MemoryStore();
    const stop = await watchManifests(dir, store, log, { reportFile });
    cleanups.push(stop);

    await until(async () => (await readFile(reportFile, "utf8").catch(() => "")) !== "");
    const report = JSON.parse(await readFile(reportFile, "utf8")) as ManifestProblemsFile;
    expect(report.dir).toBe(dir);
    expect(report.problems).toEqual([
      { document: "Certificate apps/bad (certs.yaml#1)", outcome: "invalid", problem: "spec.isCA: Invalid input: expected boolean, received string" },
      { document: "Certificate apps/typo (certs.yaml#0)", outcome: "warning", problem: 'unknown field "spec.duraton" (did you mean "spec.duration"?)' },
    ]);
    expect(await store.get(CERTIFICATES, "apps", "typo")).toBeDefined();
    const ignored = lines.filter((l) => typeof l.msg === "string" && l.msg.startsWith("manifests ignored"));
    expect(ignored).toMatchObject([{ level: 30, documents: ["install.istio.io/v1alpha1 IstioOperator (gw.yaml#0)"] }]);

    // A reload with the same ignored documents does not name them again; the fixed file empties the report.
    await writeFile(path.join(dir, "certs.yaml"), cert("typo", "  duration: 2h\n"));
    await until(async () => (JSON.parse(await readFile(reportFile, "utf8")) as ManifestProblemsFile).problems.length === 0);
    expect(lines.filter((l) => typeof l.msg === "string" && l.msg.startsWith("manifests ignored"))).toHaveLength(1);
  });

  it("refuses a document with an unknown field when strict", async () => {
    const { dir, reportFile, log } = await setup();
    await writeFile(path.join(dir, "c.yaml"), cert("typo", "  duraton: 2h\n"));
    const store = new MemoryStore();
    cleanups.push(await watchManifests(dir, store, log, { reportFile, strictFields: true }));
    await until(async () => (await readFile(reportFile, "utf8").catch(() => "")) !== "");
    expect((JSON.parse(await readFile(reportFile, "utf8")) as ManifestProblemsFile).problems).toEqual([
      { document: "Certificate apps/typo (c.yaml#0)", outcome: "invalid", problem: 'spec.duraton: unknown field (did you mean "spec.duration"?)' },
    ]);
    expect(await store.get(CERTIFICATES, "apps", "typo")).toBeUndefined();
  });
});
