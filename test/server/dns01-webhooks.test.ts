import net from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { createDns01Provider, type Dns01Config } from "../../src/acme/solvers/dns01/index.js";
import { isMeshsignError } from "../../src/errors/index.js";
import { wireDns01Webhooks } from "../../src/server/dns01-webhooks.js";
import { kubeconfig } from "../kube/harness.js";
import { TempDir } from "../lib/temp-dir.js";

const tmp = new TempDir("meshsign-dns01-webhooks-");
afterAll(() => tmp.remove());

const CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const RECORD = { fqdn: "_acme-challenge.example.com.", zone: "example.com.", value: "v" };
const INFO = {
  uid: "u",
  namespace: "ns",
  dnsName: "example.com",
  key: "k",
  resourceNamespace: "ns",
  allowAmbientCredentials: false,
};
const CTX = { secretNamespace: "ns", issuerKind: "Issuer" as const, readSecretKey: async () => undefined };
const webhook = (groupName: string) =>
  ({ webhook: { groupName, solverName: "alidns-solver" } }) as Dns01Config;

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

async function presentError(dns01: Dns01Config): Promise<unknown> {
  const provider = await createDns01Provider(dns01, CTX);
  return provider.present(RECORD, INFO).then(
    () => undefined,
    (err: unknown) => err,
  );
}

describe("wireDns01Webhooks", () => {
  it("standalone: routes each group listed in --dns01-webhook-config and names them for any other", async () => {
    const port = await closedPort();
    const ca = tmp.write("ca.pem", CA);
    const file = tmp.write(
      "webhooks.yaml",
      `webhooks:\n  - groupName: acme.example.com\n    url: https://127.0.0.1:${port}\n    caFile: ${ca}\n`,
    );
    await wireDns01Webhooks({ mode: "standalone", kubeconfig: "", dns01WebhookConfig: file });
    const listed = await presentError(webhook("acme.example.com"));
    expect(isMeshsignError(listed, "ERR_DNS01_UNAVAILABLE")).toBe(true);
    expect((listed as Error).message).toContain(
      `https://127.0.0.1:${port}/apis/acme.example.com/v1alpha1/alidns-solver`,
    );
    const other = await presentError(webhook("acme.other.example"));
    expect(isMeshsignError(other, "ERR_DNS01_UNSUPPORTED")).toBe(true);
    expect((other as Error).message).toContain("--dns01-webhook-config lists: acme.example.com");
  });

  it("kubernetes: calls through the API server the kubeconfig names", async () => {
    const port = await closedPort();
    const kc = tmp.write("kubeconfig", kubeconfig(`https://127.0.0.1:${port}`, CA, "token"));
    await wireDns01Webhooks({ mode: "kubernetes", kubeconfig: kc, dns01WebhookConfig: "" });
    const err = await presentError(webhook("acme.example.com"));
    expect(isMeshsignError(err, "ERR_DNS01_UNAVAILABLE")).toBe(true);
    expect((err as Error).message).toContain(
      `https://127.0.0.1:${port}/apis/acme.example.com/v1alpha1/alidns-solver`,
    );
  });
});
