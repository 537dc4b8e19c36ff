import { X509Certificate } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runMeshsign, ServeProcess } from "../lib/meshsign-process.js";
import { TempDir } from "../lib/temp-dir.js";

/*
 * Standalone shims: `meshsign serve --manifests DIR` with the example Ingress,
 * Gateway API Gateway and Istio Gateway next to the example PKI. The annotated
 * Gateway gets a Ready Certificate from the mesh CA and its Secret as files;
 * the annotated Ingress gets its Certificate (its ACME issuer is not here);
 * an annotated Istio Gateway whose Secret a hand-made Certificate already
 * writes is refused with a logged Warning, not made a second writer.
 */

const tmp = new TempDir("meshsign-shims-");
const cwd = tmp.path("project");
const manifests = path.join(cwd, "manifests");
const examples = path.resolve(import.meta.dirname, "../../examples");
let server: ServeProcess;
let admin = "";

beforeAll(async () => {
  mkdirSync(manifests, { recursive: true });
  for (const f of [
    "pki-bootstrap.yaml",
    "gateway-api-annotations.yaml",
    "ingress-annotations.yaml",
    "gateway-certificate.yaml",
  ])
    copyFileSync(path.join(examples, f), path.join(manifests, f));
  const istio = readFileSync(path.join(examples, "istio-gateway.yaml"), "utf8").replace(
    "  namespace: istio-ingress\n",
    "  namespace: istio-ingress\n  annotations:\n    cert-manager.io/cluster-issuer: mesh-ca\n",
  );
  writeFileSync(path.join(manifests, "istio-gateway.yaml"), istio);
  server = ServeProcess.start(["--manifests", manifests], { cwd });
  admin = (await server.banner(120_000)).adminAddress;
}, 180_000);

afterAll(async () => {
  await server?.stop("SIGKILL");
  tmp.remove();
});

interface Row {
  namespace: string;
  name: string;
  ready: string;
  secretName: string;
  issuer: string;
}

async function certificates(): Promise<Row[]> {
  const r = await runMeshsign(["status", "--admin-address", admin, "-o", "json"], { cwd });
  if (r.code !== 0) throw new Error(r.stderr);
  return (JSON.parse(r.stdout) as { certificates: Row[] }).certificates;
}

async function until<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline)
      throw new Error(`no ${what} after ${timeoutMs} ms\n${server.stderr.slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe("standalone certificate shims from --manifests", { timeout: 180_000 }, () => {
  it("issues the annotated Gateway's Certificate from the mesh CA and writes its Secret files", async () => {
    const row = await until(
      async () =>
        (await certificates()).find(
          (c) => c.namespace === "istio-ingress" && c.name === "app-example-org-tls" && c.ready === "True",
        ),
      "Ready Certificate for the Gateway",
    );
    expect(row).toMatchObject({ secretName: "app-example-org-tls", issuer: "ClusterIssuer/mesh-ca" });
    const crt = path.join(cwd, ".meshsign", "secrets", "istio-ingress", "app-example-org-tls", "tls.crt");
    await until(async () => (existsSync(crt) ? true : undefined), "Secret files");
    expect(new X509Certificate(readFileSync(crt)).subjectAltName).toBe("DNS:app.example.org");
  });

  it("makes the annotated Ingress's Certificate with its issuer and key annotations", async () => {
    const row = await until(
      async () =>
        (await certificates()).find((c) => c.namespace === "web" && c.name === "hello-example-org-tls"),
      "Certificate for the Ingress",
    );
    expect(row).toMatchObject({ secretName: "hello-example-org-tls", issuer: "ClusterIssuer/acme-http" });
  });

  it("refuses to make a second writer of a Secret a hand-made Certificate writes, and says so in the log", async () => {
    await server.logged(
      /"reason":"CertificateConflict".*Secret \\"shop-example-com-tls\\" is already written by Certificate \\"shop-example-com\\"/,
      60_000,
    );
    expect(
      (await certificates()).filter((c) => c.secretName === "shop-example-com-tls").map((c) => c.name),
    ).toEqual(["shop-example-com"]);
  });

  it("deletes the Gateway's Certificate when its annotation is removed from the file, and the Ingress's with its TLS entry", async () => {
    const gw = path.join(manifests, "gateway-api-annotations.yaml");
    writeFileSync(
      gw,
      readFileSync(gw, "utf8").replace("  annotations:\n    cert-manager.io/cluster-issuer: mesh-ca\n", ""),
    );
    await until(
      async () => ((await certificates()).some((c) => c.name === "app-example-org-tls") ? undefined : true),
      "deletion of the Gateway's Certificate",
    );
    const ing = path.join(manifests, "ingress-annotations.yaml");
    writeFileSync(ing, readFileSync(ing, "utf8").replace(/ {2}tls:\n(?: {4}.*\n)+/, ""));
    await until(
      async () => ((await certificates()).some((c) => c.name === "hello-example-org-tls") ? undefined : true),
      "deletion of the Ingress's Certificate",
    );
  });
});
