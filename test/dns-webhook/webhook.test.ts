/**
 * meshsign's DNS-01 `webhook` provider against a real cert-manager webhook: a
 * server built on cert-manager's own webhook framework (test/dns-webhook/server)
 * whose solver writes the TXT record into a real Knot DNS server by RFC 2136.
 *
 * - Standalone: meshsign calls the webhook's API server directly over TLS,
 *   verified against the configured CA, with a service-account token the
 *   webhook checks by TokenReview and authorizes by SubjectAccessReview (its
 *   delegated authn/authz against the test kube-apiserver, as in a cluster).
 * - Kubernetes mode: the webhook is registered as an APIService in the test
 *   kube-apiserver (aggregation layer on, a Service and EndpointSlice pointing
 *   at the webhook) and meshsign POSTs through the API server exactly as
 *   cert-manager does.
 *
 * Success is read from knotd's zone, not from the webhook's answer; and end to
 * end, a wildcard + apex order at Pebble, whose VA reads the TXT records the
 * webhook wrote from knotd, is issued.
 */
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import {
  ApiregistrationV1Api,
  CoreV1Api,
  DiscoveryV1Api,
  KubeConfig,
  RbacAuthorizationV1Api,
} from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AcmeClient,
  acceptChallenge,
  downloadCertificate,
  finalizeOrder,
  getAuthorization,
  keyAuthorization,
  newOrder,
  orderIdentifiers,
  registerAccount,
  verifyIssued,
  waitAuthorization,
  waitOrder,
} from "../../src/acme/index.js";
import {
  createDns01Provider,
  type Dns01ChallengeInfo,
  type Dns01Config,
  type Dns01Record,
} from "../../src/acme/solvers/dns01/index.js";
import {
  createWebhookProvider,
  KubeWebhookTransport,
  loadWebhookEndpoints,
  StandaloneWebhookTransport,
  useDns01WebhookTransport,
  type WebhookTransport,
} from "../../src/acme/solvers/dns01/webhook/index.js";
import { MeshsignError } from "../../src/errors/index.js";
import { buildCsrDer, decodePemAll, generateKeySync, publicKeySpki } from "../../src/pki/index.js";
import { type Pebble, startPebble } from "../acme/harness.js";
import { freePort } from "../lib/ports.js";
import { type Knot, startKnot } from "../dns/harness/knot.js";
import { type KubeApiServer, kubeconfig, startKubeApiServer } from "../kube/harness.js";
import { eventually } from "../kube/lib/eventually.js";
import { type DnsWebhookServer, startDnsWebhook, WEBHOOK_SOLVER_NAME } from "./harness.js";

const GROUP = "acme.meshsign.test";
const NS = "meshsign-dns-webhook";
const SERVICE = "dns-webhook";
const ZONE = "example.test.";

let knot: Knot;
let api: KubeApiServer;
let webhook: DnsWebhookServer;
let kc: KubeConfig;
let dir: string;
let tokenFile: string;
let solverConfig: Record<string, unknown>;

/** A TokenRequest token for a ServiceAccount in NS (default audience: the API server's). */
async function saToken(name: string): Promise<string> {
  const core = kc.makeApiClient(CoreV1Api);
  const res = await core.createNamespacedServiceAccountToken({
    name,
    namespace: NS,
    body: { spec: { audiences: [] } },
  });
  const token = res.status?.token;
  if (!token) throw new Error("TokenRequest returned no token");
  return token;
}

function record(label: string, value = randomBytes(32).toString("base64url")): Dns01Record {
  return { fqdn: `_acme-challenge.${label}.${ZONE}`, zone: ZONE, value };
}

function challenge(dnsName: string): Dns01ChallengeInfo {
  return {
    uid: randomUUID(),
    namespace: "istio-ingress",
    dnsName,
    key: "not-sent",
    resourceNamespace: "istio-ingress",
    allowAmbientCredentials: false,
  };
}

async function failure(p: Promise<unknown>): Promise<MeshsignError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof MeshsignError)) throw new Error(`expected a MeshsignError, got ${String(err)}`);
  return err;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "meshsign-dns-webhook-test-"));
  knot = await startKnot();
  api = await startKubeApiServer({ aggregation: true });
  kc = new KubeConfig();
  kc.loadFromFile(api.kubeconfigPath);

  const core = kc.makeApiClient(CoreV1Api);
  const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
  await core.createNamespace({ body: { metadata: { name: NS } } });
  for (const sa of ["meshsign", "nobody"]) {
    await core.createNamespacedServiceAccount({ namespace: NS, body: { metadata: { name: sa } } });
  }
  // What cert-manager's controller is granted for a webhook: create on the solver resource.
  await rbac.createClusterRole({
    body: {
      metadata: { name: "meshsign-dns01-webhook" },
      rules: [{ apiGroups: [GROUP], resources: [WEBHOOK_SOLVER_NAME], verbs: ["create"] }],
    },
  });
  await rbac.createClusterRoleBinding({
    body: {
      metadata: { name: "meshsign-dns01-webhook" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "meshsign-dns01-webhook" },
      subjects: [{ kind: "ServiceAccount", name: "meshsign", namespace: NS }],
    },
  });
  tokenFile = path.join(dir, "meshsign.token");
  await writeFile(tokenFile, await saToken("meshsign"), { mode: 0o600 });

  const key = knot.key("HMACSHA256");
  const secretFile = path.join(dir, "tsig.secret");
  await writeFile(secretFile, key.secret, { mode: 0o600 });
  // The solver's config, passed through meshsign untouched (a secret's file, never the secret).
  solverConfig = {
    nameserver: knot.nameserver,
    tsigKeyName: key.name,
    tsigAlgorithm: "hmac-sha256",
    tsigSecretFile: secretFile,
  };

  webhook = await startDnsWebhook({
    groupName: GROUP,
    kubeconfigPath: api.kubeconfigPath,
    service: { name: SERVICE, namespace: NS },
  });
});

afterAll(async () => {
  await webhook?.stop();
  await api?.stop();
  await knot?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("standalone: meshsign calls the webhook directly over verified TLS", () => {
  let transport: WebhookTransport;

  beforeAll(async () => {
    // The --dns01-webhook-config file a standalone user writes.
    const file = path.join(dir, "webhooks.yaml");
    await writeFile(
      file,
      `webhooks:\n  - groupName: ${GROUP}\n    url: ${webhook.url}\n    caFile: ${webhook.caFile}\n    tokenFile: ${tokenFile}\n`,
    );
    transport = new StandaloneWebhookTransport(loadWebhookEndpoints(file));
  });

  it("presents the TXT record in knot, then cleans it up", async () => {
    const provider = createWebhookProvider(
      { groupName: GROUP, solverName: WEBHOOK_SOLVER_NAME, config: solverConfig },
      transport,
    );
    const r = record("standalone");
    await provider.present(r, challenge("standalone.example.test"));
    expect(await knot.txt(r.fqdn)).toEqual([r.value]);
    await provider.cleanUp(r, challenge("standalone.example.test"));
    expect(await knot.txt(r.fqdn)).toEqual([]);
  });

  it("keeps a wildcard's value when its apex's is cleaned up (two values at one name)", async () => {
    const provider = createWebhookProvider(
      { groupName: GROUP, solverName: WEBHOOK_SOLVER_NAME, config: solverConfig },
      transport,
    );
    const apex = record("both");
    const wildcard = record("both");
    await provider.present(apex, challenge("both.example.test"));
    await provider.present(wildcard, challenge("*.both.example.test"));
    expect((await knot.txt(apex.fqdn)).sort()).toEqual([apex.value, wildcard.value].sort());
    await provider.cleanUp(apex, challenge("both.example.test"));
    expect(await knot.txt(apex.fqdn)).toEqual([wildcard.value]);
    await provider.cleanUp(wildcard, challenge("*.both.example.test"));
    expect(await knot.txt(apex.fqdn)).toEqual([]);
  });

  it("is refused, terminally and with the webhook's authorizer's message, without a token", async () => {
    const anonymous = new StandaloneWebhookTransport([
      { groupName: GROUP, url: new URL(webhook.url), caPem: webhook.caPem },
    ]);
    const provider = createWebhookProvider(
      { groupName: GROUP, solverName: WEBHOOK_SOLVER_NAME, config: solverConfig },
      anonymous,
    );
    const r = record("anonymous");
    const err = await failure(provider.present(r, challenge("anonymous.example.test")));
    expect([err.code, err.retry]).toEqual(["ERR_DNS01_REFUSED", "terminal"]);
    expect(err.message).toContain("(HTTP 403)");
    expect(err.message).toContain("system:anonymous");
    expect(await knot.txt(r.fqdn)).toEqual([]);
  });

  it("surfaces the webhook's own failure (knot refuses a wrong TSIG key) as a terminal refusal", async () => {
    const wrongSecret = path.join(dir, "wrong.secret");
    await writeFile(wrongSecret, randomBytes(32).toString("base64"));
    const provider = createWebhookProvider(
      {
        groupName: GROUP,
        solverName: WEBHOOK_SOLVER_NAME,
        config: { ...solverConfig, tsigSecretFile: wrongSecret },
      },
      transport,
    );
    const r = record("wrongkey");
    const err = await failure(provider.present(r, challenge("wrongkey.example.test")));
    expect([err.code, err.retry]).toEqual(["ERR_DNS01_REFUSED", "terminal"]);
    // The solver's own words (miekg/dns reports knot's NOTAUTH/BADSIG answer as "bad authentication").
    expect(err.message).toContain(
      `webhook ${WEBHOOK_SOLVER_NAME}.${GROUP} refused Present: DNS update of ${r.fqdn}`,
    );
    expect(err.message).toContain("bad authentication");
    expect(await knot.txt(r.fqdn)).toEqual([]);
  });
});

describe("Kubernetes mode: through the API server's aggregation layer (APIService)", () => {
  const meshsignKubeConfig = async (token: string): Promise<KubeConfig> => {
    const file = path.join(dir, `kubeconfig-${randomBytes(4).toString("hex")}`);
    await writeFile(file, kubeconfig(api.server, api.caPem, token, NS), { mode: 0o600 });
    const c = new KubeConfig();
    c.loadFromFile(file);
    return c;
  };

  beforeAll(async () => {
    const core = kc.makeApiClient(CoreV1Api);
    const discovery = kc.makeApiClient(DiscoveryV1Api);
    const registration = kc.makeApiClient(ApiregistrationV1Api);
    // How a webhook's Helm chart registers it: a Service, its endpoints, an APIService with the CA.
    await core.createNamespacedService({
      namespace: NS,
      body: {
        metadata: { name: SERVICE },
        spec: { ports: [{ name: "https", port: 443, targetPort: webhook.port, protocol: "TCP" }] },
      },
    });
    await discovery.createNamespacedEndpointSlice({
      namespace: NS,
      body: {
        metadata: { name: `${SERVICE}-1`, labels: { "kubernetes.io/service-name": SERVICE } },
        addressType: "IPv4",
        endpoints: [{ addresses: [webhook.host], conditions: { ready: true } }],
        ports: [{ name: "https", port: webhook.port, protocol: "TCP" }],
      },
    });
    await registration.createAPIService({
      body: {
        metadata: { name: `v1alpha1.${GROUP}` },
        spec: {
          group: GROUP,
          version: "v1alpha1",
          service: { name: SERVICE, namespace: NS, port: 443 },
          caBundle: Buffer.from(webhook.caPem).toString("base64"),
          groupPriorityMinimum: 1000,
          versionPriority: 15,
        },
      },
    });
    // The aggregator marks it Available once it has reached the webhook's discovery endpoint.
    await eventually(async () => {
      const s = await registration.readAPIService({ name: `v1alpha1.${GROUP}` });
      const available = s.status?.conditions?.find((c) => c.type === "Available");
      return available?.status === "True" ? true : undefined;
    }, 120_000).catch(async (err: unknown) => {
      const s = await registration.readAPIService({ name: `v1alpha1.${GROUP}` });
      throw new Error(`APIService not Available: ${JSON.stringify(s.status)}\n${await webhook.log()}`, {
        cause: err,
      });
    });
  });

  it("presents and cleans up the TXT record through the registered provider, as cert-manager calls the webhook", async () => {
    useDns01WebhookTransport(new KubeWebhookTransport(await meshsignKubeConfig(await saToken("meshsign"))));
    const dns01 = {
      webhook: { groupName: GROUP, solverName: WEBHOOK_SOLVER_NAME, config: solverConfig },
    } as Dns01Config;
    const provider = await createDns01Provider(dns01, {
      secretNamespace: "istio-ingress",
      issuerKind: "Issuer",
      readSecretKey: async () => undefined,
    });
    const r = record("kube");
    await provider.present(r, challenge("kube.example.test"));
    expect(await knot.txt(r.fqdn)).toEqual([r.value]);
    await provider.cleanUp(r, challenge("kube.example.test"));
    expect(await knot.txt(r.fqdn)).toEqual([]);
  });

  it("is refused terminally when meshsign's identity has no RBAC for the solver", async () => {
    const transport = new KubeWebhookTransport(await meshsignKubeConfig(await saToken("nobody")));
    const provider = createWebhookProvider(
      { groupName: GROUP, solverName: WEBHOOK_SOLVER_NAME, config: solverConfig },
      transport,
    );
    const r = record("nobody");
    const err = await failure(provider.present(r, challenge("nobody.example.test")));
    expect([err.code, err.retry]).toEqual(["ERR_DNS01_REFUSED", "terminal"]);
    expect(err.message).toContain("(HTTP 403)");
    expect(err.message).toContain(`system:serviceaccount:${NS}:nobody`);
    expect(await knot.txt(r.fqdn)).toEqual([]);
  });

  it("says the webhook is not registered when no APIService serves the group", async () => {
    // The admin identity, so the API server's own authorizer lets the call reach routing.
    const provider = createWebhookProvider(
      { groupName: "acme.unregistered.test", solverName: WEBHOOK_SOLVER_NAME },
      new KubeWebhookTransport(kc),
    );
    const err = await failure(
      provider.present(record("unregistered"), challenge("unregistered.example.test")),
    );
    expect([err.code, err.retry]).toEqual(["ERR_DNS01_REFUSED", "terminal"]);
    expect(err.message).toContain("(HTTP 404)");
    expect(err.message).toContain("is the webhook registered for this group and solver name?");
  });

  describe("end to end: Pebble validates the records the webhook wrote", () => {
    let pebble: Pebble;
    let client: AcmeClient;

    beforeAll(async () => {
      // Nothing answers HTTP-01 here; Pebble's VA resolves through knotd, which holds the TXT records.
      pebble = await startPebble({ httpPort: await freePort(), dnsServer: knot.nameserver });
      client = await AcmeClient.connect({
        directoryUrl: pebble.directoryUrl,
        accountKey: generateKeySync({ type: "ec", curve: "P-256" }),
        caBundle: pebble.tlsCaPem,
      });
      await registerAccount(client);
    });
    afterAll(async () => {
      await pebble?.stop();
    });

    it("issues a wildcard and its apex with both TXT values presented and cleaned up through the APIService", async () => {
      useDns01WebhookTransport(new KubeWebhookTransport(await meshsignKubeConfig(await saToken("meshsign"))));
      const dns01 = {
        webhook: { groupName: GROUP, solverName: WEBHOOK_SOLVER_NAME, config: solverConfig },
      } as Dns01Config;
      const provider = await createDns01Provider(dns01, {
        secretNamespace: "istio-ingress",
        issuerKind: "ClusterIssuer",
        readSecretKey: async () => undefined,
      });
      const dnsNames = ["e2e.example.test", "*.e2e.example.test"];
      const identifiers = orderIdentifiers({ dnsNames });
      const order = await newOrder(client, { identifiers });
      const deadline = () => client.now() + 120_000;
      const presented: { record: Dns01Record; info: Dns01ChallengeInfo }[] = [];
      try {
        const pending = [];
        for (const url of order.authorizations) {
          const authz = await getAuthorization(client, url);
          const dns01Challenge = authz.challenges.find((c) => c.type === "dns-01");
          if (dns01Challenge?.token === undefined)
            throw new Error(`no dns-01 challenge for ${authz.identifier.value}`);
          const ka = await keyAuthorization(dns01Challenge.token, client.accountKey);
          const value = createHash("sha256").update(ka).digest("base64url");
          const r: Dns01Record = { fqdn: `_acme-challenge.${authz.identifier.value}.`, zone: ZONE, value };
          const info = challenge(authz.wildcard ? `*.${authz.identifier.value}` : authz.identifier.value);
          await provider.present(r, info);
          presented.push({ record: r, info });
          pending.push({ url, challenge: dns01Challenge });
        }
        // Both values live under one name until both authorizations are settled.
        expect((await knot.txt("_acme-challenge.e2e.example.test.")).sort()).toEqual(
          presented.map((p) => p.record.value).sort(),
        );
        for (const p of pending) await acceptChallenge(client, p.challenge);
        for (const p of pending) await waitAuthorization(client, p.url, deadline());
      } finally {
        for (const p of presented) await provider.cleanUp(p.record, p.info);
      }
      expect(await knot.txt("_acme-challenge.e2e.example.test.")).toEqual([]);

      const ready = await waitOrder(client, order.url, ["ready", "valid"], deadline());
      const leafKey = generateKeySync({ type: "ec", curve: "P-256" });
      const valid = await finalizeOrder(
        client,
        ready,
        buildCsrDer(leafKey, { subject: [], dnsNames }),
        deadline(),
      );
      const chain = await downloadCertificate(client, valid.certificate as string);
      const checked = verifyIssued({
        chainPem: chain.pem,
        csrPublicKeySpki: publicKeySpki(leafKey),
        identifiers,
        at: new Date(),
        roots: decodePemAll(await pebble.root(0), "CERTIFICATE"),
      });
      expect(checked.leaf.der.length).toBeGreaterThan(0);
    });
  });
});
