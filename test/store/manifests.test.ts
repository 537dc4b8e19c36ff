import { mkdtemp, rm, unlink, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { MANIFEST_SOURCE } from "../../src/api/annotations.js";
import { CERTIFICATES, CLUSTER_ISSUERS, INGRESSES, ISSUERS, SECRETS } from "../../src/api/types.js";
import { ManifestLoader, type ManifestReport } from "../../src/store/embedded/index.js";
import { MemoryStore } from "../../src/store/memory/index.js";

const fixturesDir = path.resolve(import.meta.dirname, "../../examples");
const dirs: string[] = [];
const loaders: ManifestLoader[] = [];
afterEach(async () => {
  for (const l of loaders.splice(0)) await l.stop();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const d = await mkdtemp(path.join(tmpdir(), "meshsign-manifests-"));
  dirs.push(d);
  return d;
}

const outcomes = (r: ManifestReport) => r.documents.map((d) => `${d.outcome}: ${d.document}`);

function certYaml(name: string, dnsName: string, extra = ""): string {
  return `apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: ${name}
  namespace: apps
spec:
  secretName: ${name}-tls
  dnsNames: [${dnsName}]
  issuerRef:
    name: ca
${extra}`;
}

describe("loading the example manifests", () => {
  it("creates every meshsign object and the shims' sources, and reports the other kinds as ignored, with no invalid document", async () => {
    const store = new MemoryStore();
    const loader = new ManifestLoader({ dir: fixturesDir, store });
    const report = await loader.sync();
    const byOutcome = (o: string) => report.documents.filter((d) => d.outcome === o).map((d) => d.document);
    expect(byOutcome("invalid")).toEqual([]);
    expect(byOutcome("failed")).toEqual([]);
    expect(byOutcome("ignored").sort()).toEqual(["install.istio.io/v1alpha1 IstioOperator (istio-operator-values.yaml#0)"]);
    expect(byOutcome("created").length).toBe(22);
    expect(report.deleted).toEqual([]);

    const shop = await store.get<{ spec: { privateKey: unknown } } & import("../../src/store/types.js").KubeObject>(CERTIFICATES, "istio-ingress", "shop-example-com");
    expect(shop?.spec.privateKey).toEqual({ algorithm: "ECDSA", encoding: "PKCS1", size: 256, rotationPolicy: "Always" });
    expect(shop?.metadata.annotations?.[MANIFEST_SOURCE]).toBe("gateway-certificate.yaml");
    const tsig = await store.get<{ data?: Record<string, string> } & import("../../src/store/types.js").KubeObject>(SECRETS, "istio-ingress", "tsig-key");
    expect(Buffer.from(tsig?.data?.["tsig-secret"] ?? "", "base64").toString()).toBe("c2VjcmV0LXRzaWcta2V5LWZvci10ZXN0cy1vbmx5");
    expect((await store.list(CLUSTER_ISSUERS)).map((i) => i.metadata.name)).toEqual(["acme-eab", "acme-http", "mesh-ca", "selfsigned", "vault-kubernetes"]);
    expect((await store.list(ISSUERS)).map((i) => i.metadata.name)).toEqual(["acme-dns", "acme-multi-dns", "vault-approle", "vault-token"]);

    const again = await loader.sync();
    expect(again.documents.filter((d) => d.outcome !== "unchanged" && d.outcome !== "ignored")).toEqual([]);
  });
});

describe("the manifest loader", () => {
  it("updates changed objects, keeps the last good version of a bad document, and deletes only what it created", async () => {
    const dir = await tempDir();
    const store = new MemoryStore();
    const loader = new ManifestLoader({ dir, store });
    await writeFile(path.join(dir, "certs.yaml"), `${certYaml("a", "a.example.com")}---\n${certYaml("b", "b.example.com")}`);
    expect(outcomes(await loader.sync())).toEqual(["created: Certificate apps/a (certs.yaml#0)", "created: Certificate apps/b (certs.yaml#1)"]);
    const handMade = await store.create(CERTIFICATES, { apiVersion: "cert-manager.io/v1", kind: "Certificate", metadata: { name: "by-hand", namespace: "apps" }, spec: { secretName: "h", issuerRef: { name: "ca" }, dnsNames: ["h"] } } as never);

    // a spec change is applied, status is kept
    const a0 = await store.get(CERTIFICATES, "apps", "a");
    await store.updateStatus(CERTIFICATES, { ...a0, status: { revision: 1 } } as never);
    await writeFile(path.join(dir, "certs.yaml"), `${certYaml("a", "a2.example.com")}---\n${certYaml("b", "b.example.com")}`);
    expect(outcomes(await loader.sync())).toEqual(["updated: Certificate apps/a (certs.yaml#0)", "unchanged: Certificate apps/b (certs.yaml#1)"]);
    const a1 = (await store.get(CERTIFICATES, "apps", "a")) as unknown as { spec: { dnsNames: string[] }; status: unknown; metadata: { generation: number } };
    expect(a1.spec.dnsNames).toEqual(["a2.example.com"]);
    expect(a1.status).toEqual({ revision: 1 });
    expect(a1.metadata.generation).toBe(2);

    // an invalid document is reported with file, index and field path; the object keeps its last good spec
    await writeFile(path.join(dir, "certs.yaml"), `${certYaml("a", "a3.example.com", "  duration: 10m\n")}---\n${certYaml("b", "b.example.com")}`);
    const bad = await loader.sync();
    expect(bad.documents[0]).toEqual({ document: "Certificate apps/a (certs.yaml#0)", outcome: "invalid", message: "spec.duration: certificate duration 10m0s must be greater than 1h0m0s" });
    expect(((await store.get(CERTIFICATES, "apps", "a")) as unknown as { spec: { dnsNames: string[] } }).spec.dnsNames).toEqual(["a2.example.com"]);
    expect(bad.deleted).toEqual([]);

    // a YAML syntax error keeps every object of that file
    await writeFile(path.join(dir, "certs.yaml"), "apiVersion: [unclosed\n");
    const broken = await loader.sync();
    expect(broken.documents[0]?.outcome).toBe("invalid");
    expect(broken.documents[0]?.message).toMatch(/^YAML syntax/);
    expect(broken.deleted).toEqual([]);
    expect(await store.get(CERTIFICATES, "apps", "b")).toBeDefined();

    // a document removed from the file is deleted; the hand-made object is not
    await writeFile(path.join(dir, "certs.yaml"), certYaml("a", "a2.example.com"));
    expect((await loader.sync()).deleted).toEqual(["Certificate apps/b"]);
    await unlink(path.join(dir, "certs.yaml"));
    expect((await loader.sync()).deleted).toEqual(["Certificate apps/a"]);
    expect(await store.get(CERTIFICATES, "apps", "by-hand")).toEqual(handMade);
  });

  it("keeps a Certificate whose document turns to a version or kind cert-manager does not serve, and reports it invalid", async () => {
    const dir = await tempDir();
    const store = new MemoryStore();
    const loader = new ManifestLoader({ dir, store });
    await writeFile(path.join(dir, "certs.yaml"), `${certYaml("a", "a.example.com")}---\n${certYaml("b", "b.example.com")}`);
    await loader.sync();
    await writeFile(
      path.join(dir, "certs.yaml"),
      `${certYaml("a", "a.example.com").replace("cert-manager.io/v1", "cert-manager.io/v1alpha2")}---\n${certYaml("b", "b.example.com").replace("kind: Certificate", "kind: Certficate")}`,
    );
    const report = await loader.sync();
    expect(report.documents.map((d) => d.outcome)).toEqual(["invalid", "invalid"]);
    expect(report.deleted).toEqual([]);
    expect(await store.get(CERTIFICATES, "apps", "a")).toBeDefined();
    expect(await store.get(CERTIFICATES, "apps", "b")).toBeDefined();
  });

  it("defaults the namespace, reads JSON Lists and nested folders, skips hidden files and reports duplicates", async () => {
    const dir = await tempDir();
    const store = new MemoryStore();
    await mkdir(path.join(dir, "nested"));
    await writeFile(
      path.join(dir, "nested/list.json"),
      JSON.stringify({ apiVersion: "v1", kind: "List", items: [{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "cm" }, data: { k: "v" } }] }),
    );
    await writeFile(path.join(dir, "one.yml"), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  namespace: default\n");
    await writeFile(path.join(dir, ".swap.yaml"), "not: [valid");
    await writeFile(path.join(dir, "notes.txt"), "ignored");
    const report = await new ManifestLoader({ dir, store }).sync();
    expect(outcomes(report).sort()).toEqual(["created: ConfigMap default/cm (nested/list.json#0.items[0])", "invalid: ConfigMap default/cm (one.yml#0)"]);
    expect(report.documents.find((d) => d.outcome === "invalid")?.message).toMatch(/^duplicate of ConfigMap default\/cm \(nested\/list.json#0\.items\[0\]\)/);
  });

  it("replaces an Ingress's annotations and labels with the document's (a removed shim annotation goes), while a Certificate's are merged", async () => {
    const dir = await tempDir();
    const store = new MemoryStore();
    const loader = new ManifestLoader({ dir, store });
    const ingress = (metadata: string) =>
      `apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: web\n  namespace: apps\n${metadata}spec:\n  tls: [{hosts: [a.example.com], secretName: a-tls}]\n`;
    await writeFile(path.join(dir, "ing.yaml"), ingress("  labels: {team: web}\n  annotations: {cert-manager.io/cluster-issuer: ca}\n"));
    await loader.sync();
    await writeFile(path.join(dir, "ing.yaml"), ingress(""));
    expect(outcomes(await loader.sync())).toEqual(["updated: Ingress apps/web (ing.yaml#0)"]);
    const ing = await store.get(INGRESSES, "apps", "web");
    expect(ing?.metadata.annotations).toEqual({ [MANIFEST_SOURCE]: "ing.yaml" });
    expect(ing?.metadata.labels).toBeUndefined();
    expect(outcomes(await loader.sync())).toEqual(["unchanged: Ingress apps/web (ing.yaml#0)"]);
  });

  it("re-applies the directory when a file changes", async () => {
    const dir = await tempDir();
    const store = new MemoryStore();
    const reports: ManifestReport[] = [];
    let notify: () => void = () => {};
    const loader = new ManifestLoader({
      dir,
      store,
      debounceMs: 20,
      onReport: (r) => {
        reports.push(r);
        notify();
      },
    });
    loaders.push(loader);
    await loader.start();
    const created = new Promise<void>((resolve) => {
      notify = () => {
        if (reports.some((r) => r.documents.some((d) => d.outcome === "created"))) resolve();
      };
    });
    await writeFile(path.join(dir, "late.yaml"), certYaml("late", "late.example.com"));
    await created;
    expect(await store.get(CERTIFICATES, "apps", "late")).toBeDefined();
  });

  it("warns about an unknown field on a document it applies, and refuses the document under strictFields", async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, "c.yaml"), certYaml("typo", "t.example.com", "  duraton: 2h\n"));
    const lenient = await new ManifestLoader({ dir, store: new MemoryStore() }).sync();
    expect(lenient.documents).toEqual([
      { document: "Certificate apps/typo (c.yaml#0)", outcome: "created", warnings: ['unknown field "spec.duraton" (did you mean "spec.duration"?)'] },
    ]);
    const store = new MemoryStore();
    const strict = await new ManifestLoader({ dir, store, strictFields: true }).sync();
    expect(strict.documents).toEqual([{ document: "Certificate apps/typo (c.yaml#0)", outcome: "invalid", message: 'spec.duraton: unknown field (did you mean "spec.duration"?)' }]);
    expect(await store.get(CERTIFICATES, "apps", "typo")).toBeUndefined();
  });

  it("refuses to start on a directory that does not exist", async () => {
    const loader = new ManifestLoader({ dir: "/nonexistent/manifests", store: new MemoryStore() });
    await expect(loader.start()).rejects.toThrow(/is not a directory/);
  });
});
