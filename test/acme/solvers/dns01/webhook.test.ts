import "reflect-metadata";
import { webcrypto } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import * as x509 from "@peculiar/x509";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  createDns01Provider,
  type Dns01BuildContext,
  type Dns01ChallengeInfo,
  type Dns01Config,
  type Dns01Record,
} from "../../../../src/acme/solvers/dns01/index.js";
import {
  createWebhookProvider,
  KubeWebhookTransport,
  loadWebhookEndpoints,
  StandaloneWebhookTransport,
  useDns01WebhookTransport,
  type WebhookEndpoint,
  type WebhookResponse,
  type WebhookTransport,
} from "../../../../src/acme/solvers/dns01/webhook/index.js";
import { readChallengeResponse } from "../../../../src/acme/solvers/dns01/webhook/payload.js";
import { isMeshsignError, MeshsignError } from "../../../../src/errors/index.js";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };

const GROUP = "acme.example.com";
const SOLVER = "alidns-solver";
const RECORD: Dns01Record = {
  fqdn: "_acme-challenge.example.com.",
  zone: "example.com.",
  value: "LPsIwTo7o8BoG0-vjCyGQGBWSVIPxI-i_X336eUOQZo",
};
const CHALLENGE: Dns01ChallengeInfo = {
  uid: "3f1c1a5e-2a7c-4f55-9e1f-0d6ad1e2b9aa",
  namespace: "istio-ingress",
  dnsName: "*.example.com",
  key: "token.thumbprint",
  resourceNamespace: "istio-ingress",
  allowAmbientCredentials: false,
};
const SOLVER_CONFIG = {
  regionId: "cn-beijing",
  accessTokenSecretRef: { name: "alidns-secrets", key: "access-token" },
};

/** A self-signed serving certificate for 127.0.0.1, standing in for the webhook's (or the API server's). */
async function servingCert(): Promise<{ certPem: string; keyPem: string }> {
  const keys = (await webcrypto.subtle.generateKey(alg, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "03",
    name: "CN=dns-webhook",
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 3_600_000),
    keys: keys as unknown as Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]["keys"],
    signingAlgorithm: alg,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: "ip", value: "127.0.0.1" }])],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey)).toString("base64");
  return {
    certPem: cert.toString("pem"),
    keyPem: `-----BEGIN PRIVATE KEY-----\n${pkcs8.replace(/.{64}/g, "$&\n")}\n-----END PRIVATE KEY-----\n`,
  };
}

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly authorization: string | undefined;
  readonly contentType: string | undefined;
  readonly body: unknown;
}

type Reply = (payload: Record<string, unknown>) => { status: number; body: unknown } | "hang";

/** A fake webhook API server: records each request and answers with the next scripted reply. */
class FakeWebhook {
  readonly seen: Seen[] = [];
  reply: Reply = (payload) => ({ status: 201, body: { ...payload, response: { uid: "x", success: true } } });
  #server: https.Server;
  #arrived: (() => void)[] = [];

  constructor(cert: { certPem: string; keyPem: string }) {
    this.#server = https.createServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") as Record<string, unknown>;
        this.seen.push({
          method: req.method ?? "",
          url: req.url ?? "",
          authorization: req.headers.authorization,
          contentType: req.headers["content-type"],
          body,
        });
        for (const f of this.#arrived.splice(0)) f();
        const r = this.reply(body);
        if (r === "hang") return;
        const text = typeof r.body === "string" ? r.body : JSON.stringify(r.body);
        res.writeHead(r.status, { "content-type": "application/json" }).end(text);
      });
    });
  }

  /** Resolves when the next request has arrived. */
  arrival(): Promise<void> {
    return new Promise((resolve) => this.#arrived.push(resolve));
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, "127.0.0.1", resolve));
    return `https://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/** The JSON a fake webhook received. */
function bodyOf(seen: Seen | undefined): { kind?: string; request: Record<string, unknown> } {
  return (seen?.body ?? { request: {} }) as { kind?: string; request: Record<string, unknown> };
}

async function failure(p: Promise<unknown>): Promise<MeshsignError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof MeshsignError)) throw new Error(`expected a MeshsignError, got ${String(err)}`);
  return err;
}

describe("the webhook provider over a standalone transport", () => {
  let cert: { certPem: string; keyPem: string };
  let other: { certPem: string; keyPem: string };
  let webhook: FakeWebhook;
  let url = "";
  let dir = "";
  let tokenFile = "";

  beforeAll(async () => {
    cert = await servingCert();
    other = await servingCert();
    webhook = new FakeWebhook(cert);
    url = await webhook.start();
    dir = await mkdtemp(path.join(tmpdir(), "meshsign-webhook-"));
    tokenFile = path.join(dir, "token");
    await writeFile(tokenFile, "webhook-caller-token\n");
  });
  afterAll(async () => {
    await webhook.stop();
    await rm(dir, { recursive: true, force: true });
  });
  afterEach(() => {
    webhook.seen.length = 0;
    webhook.reply = (payload) => ({
      status: 201,
      body: { ...payload, response: { uid: "x", success: true } },
    });
  });

  const endpoint = (overrides: Partial<WebhookEndpoint> = {}): WebhookEndpoint => ({
    groupName: GROUP,
    url: new URL(url),
    caPem: cert.certPem,
    tokenFile,
    ...overrides,
  });
  const provider = (transport: WebhookTransport = new StandaloneWebhookTransport([endpoint()])) =>
    createWebhookProvider({ groupName: GROUP, solverName: SOLVER, config: SOLVER_CONFIG }, transport);

  it("presents by POSTing cert-manager's ChallengePayload to /apis/<group>/v1alpha1/<solver> with the token", async () => {
    await provider().present(RECORD, CHALLENGE);
    expect(webhook.seen).toHaveLength(1);
    const [call] = webhook.seen;
    expect(call?.method).toBe("POST");
    expect(call?.url).toBe(`/apis/${GROUP}/v1alpha1/${SOLVER}`);
    expect(call?.authorization).toBe("Bearer webhook-caller-token");
    expect(call?.contentType).toBe("application/json");
    expect(call?.body).toEqual({
      apiVersion: "webhook.acme.cert-manager.io/v1alpha1",
      kind: "ChallengePayload",
      request: {
        uid: CHALLENGE.uid,
        action: "Present",
        type: "dns-01",
        dnsName: "*.example.com",
        key: RECORD.value,
        resourceNamespace: "istio-ingress",
        resolvedFQDN: "_acme-challenge.example.com.",
        resolvedZone: "example.com.",
        allowAmbientCredentials: false,
        config: SOLVER_CONFIG,
      },
    });
  });

  it("cleans up with action CleanUp and the same record", async () => {
    await provider().cleanUp(RECORD, { ...CHALLENGE, allowAmbientCredentials: true });
    const request = bodyOf(webhook.seen[0]).request;
    expect(request).toMatchObject({
      action: "CleanUp",
      key: RECORD.value,
      resolvedFQDN: RECORD.fqdn,
      allowAmbientCredentials: true,
    });
  });

  it("omits config when the solver has none", async () => {
    await createWebhookProvider(
      { groupName: GROUP, solverName: SOLVER },
      new StandaloneWebhookTransport([endpoint()]),
    ).present(RECORD, CHALLENGE);
    expect(bodyOf(webhook.seen[0]).request).not.toHaveProperty("config");
  });

  it("sends no Authorization header when no token file is configured", async () => {
    await provider(new StandaloneWebhookTransport([endpoint({ tokenFile: undefined })])).present(
      RECORD,
      CHALLENGE,
    );
    expect(webhook.seen[0]?.authorization).toBeUndefined();
  });

  it("keeps a path prefix of the configured URL", async () => {
    await provider(
      new StandaloneWebhookTransport([endpoint({ url: new URL(`${url}/webhooks/alidns/`) })]),
    ).present(RECORD, CHALLENGE);
    expect(webhook.seen[0]?.url).toBe(`/webhooks/alidns/apis/${GROUP}/v1alpha1/${SOLVER}`);
  });

  it("turns the webhook's refusal into a terminal error carrying its message", async () => {
    webhook.reply = (payload) => ({
      status: 201,
      body: {
        ...payload,
        response: {
          uid: "x",
          success: false,
          status: { status: "Failed", message: "InvalidAccessKeyId.NotFound" },
        },
      },
    });
    const err = await failure(provider().present(RECORD, CHALLENGE));
    expect(err.code).toBe("ERR_DNS01_REFUSED");
    expect(err.retry).toBe("terminal");
    expect(err.message).toBe(`webhook ${SOLVER}.${GROUP} refused Present: InvalidAccessKeyId.NotFound`);
  });

  it("treats a 5xx as transient", async () => {
    webhook.reply = () => ({
      status: 503,
      body: { kind: "Status", status: "Failure", message: "service unavailable", code: 503 },
    });
    const err = await failure(provider().cleanUp(RECORD, CHALLENGE));
    expect([err.code, err.retry]).toEqual(["ERR_DNS01_UNAVAILABLE", "transient"]);
    expect(err.message).toContain("service unavailable");
  });

  it("treats a 403 from the webhook's authorizer as terminal, with its message", async () => {
    webhook.reply = () => ({
      status: 403,
      body: {
        kind: "Status",
        status: "Failure",
        reason: "Forbidden",
        code: 403,
        message: `${SOLVER}.${GROUP} is forbidden: User "system:anonymous" cannot create resource`,
      },
    });
    const err = await failure(provider().present(RECORD, CHALLENGE));
    expect([err.code, err.retry]).toEqual(["ERR_DNS01_REFUSED", "terminal"]);
    expect(err.message).toContain('User "system:anonymous" cannot create resource');
  });

  it("never sends the payload to a server whose certificate the configured CA does not verify", async () => {
    const err = await failure(
      provider(new StandaloneWebhookTransport([endpoint({ caPem: other.certPem })])).present(
        RECORD,
        CHALLENGE,
      ),
    );
    expect(err.code).toBe("ERR_DNS01_UNAVAILABLE");
    expect(webhook.seen).toHaveLength(0);
    expect(err.message).not.toContain("webhook-caller-token");
  });

  it("reports a connection failure as transient", async () => {
    const closed = new FakeWebhook(cert);
    const closedUrl = await closed.start();
    await closed.stop();
    const err = await failure(
      provider(new StandaloneWebhookTransport([endpoint({ url: new URL(closedUrl) })])).present(
        RECORD,
        CHALLENGE,
      ),
    );
    expect([err.code, err.retry]).toEqual(["ERR_DNS01_UNAVAILABLE", "transient"]);
  });

  it("gives up on a webhook that never answers, as transient", async () => {
    webhook.reply = () => "hang";
    const err = await failure(
      provider(new StandaloneWebhookTransport([endpoint()], { timeoutMs: 200 })).present(RECORD, CHALLENGE),
    );
    expect([err.code, err.retry]).toEqual(["ERR_DNS01_UNAVAILABLE", "transient"]);
  });

  it("stops waiting when the caller aborts", async () => {
    webhook.reply = () => "hang";
    const controller = new AbortController();
    const arrived = webhook.arrival();
    const pending = failure(provider().present(RECORD, CHALLENGE, controller.signal));
    await arrived;
    controller.abort();
    const err = await pending;
    expect(err.code).toBe("ERR_DNS01_UNAVAILABLE");
    expect(err.message).toContain("aborted");
  });

  it("refuses a group it has no URL for, naming the configured ones", async () => {
    const err = await failure(
      createWebhookProvider(
        { groupName: "acme.other.example", solverName: SOLVER },
        new StandaloneWebhookTransport([endpoint()]),
      ).present(RECORD, CHALLENGE),
    );
    expect([err.code, err.retry]).toEqual(["ERR_DNS01_UNSUPPORTED", "terminal"]);
    expect(err.message).toBe(
      `no webhook URL is configured for group acme.other.example (--dns01-webhook-config lists: ${GROUP})`,
    );
  });

  it("reports credentials the kubeconfig cannot produce as transient, before any call (Kubernetes mode)", async () => {
    const { KubeConfig } = await import("@kubernetes/client-node");
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: "test", server: url, caData: Buffer.from(cert.certPem).toString("base64") }],
      users: [
        {
          name: "meshsign",
          exec: { apiVersion: "client.authentication.k8s.io/v1", command: "/nonexistent/credential-plugin" },
        },
      ],
      contexts: [{ name: "test", cluster: "test", user: "meshsign" }],
      currentContext: "test",
    });
    const err = await failure(provider(new KubeWebhookTransport(kc)).present(RECORD, CHALLENGE));
    expect([err.code, err.retry]).toEqual(["ERR_DNS01_UNAVAILABLE", "transient"]);
    expect(webhook.seen).toHaveLength(0);
  });

  it("calls through the API server named by the kubeconfig, with its credentials and CA (Kubernetes mode)", async () => {
    const { KubeConfig } = await import("@kubernetes/client-node");
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: "test", server: url, caData: Buffer.from(cert.certPem).toString("base64") }],
      users: [{ name: "meshsign", token: "meshsign-sa-token" }],
      contexts: [{ name: "test", cluster: "test", user: "meshsign" }],
      currentContext: "test",
    });
    await provider(new KubeWebhookTransport(kc)).present(RECORD, CHALLENGE);
    expect(webhook.seen[0]?.url).toBe(`/apis/${GROUP}/v1alpha1/${SOLVER}`);
    expect(webhook.seen[0]?.authorization).toBe("Bearer meshsign-sa-token");
    expect(bodyOf(webhook.seen[0]).kind).toBe("ChallengePayload");
  });
});

describe("reading a webhook's answer", () => {
  const cases: {
    name: string;
    answer: WebhookResponse;
    outcome: "ok" | [string, "terminal" | "transient", string];
  }[] = [
    {
      name: "201 with success is done",
      answer: { status: 201, body: '{"response":{"success":true}}' },
      outcome: "ok",
    },
    {
      name: "200 with success is done",
      answer: { status: 200, body: '{"response":{"success":true}}' },
      outcome: "ok",
    },
    {
      name: "success false without a status still refuses",
      answer: { status: 201, body: '{"response":{"success":false}}' },
      outcome: ["ERR_DNS01_REFUSED", "terminal", "refused Present: no reason given"],
    },
    {
      name: "a 2xx that is not a ChallengePayload refuses",
      answer: { status: 200, body: "<html>hello</html>" },
      outcome: ["ERR_DNS01_REFUSED", "terminal", "without a ChallengePayload response"],
    },
    {
      name: "success true under a 4xx is not success",
      answer: { status: 400, body: '{"response":{"success":true},"message":"bad"}' },
      outcome: ["ERR_DNS01_REFUSED", "terminal", "(HTTP 400): bad"],
    },
    {
      name: "404 hints at the registration",
      answer: {
        status: 404,
        body: '{"kind":"Status","message":"the server could not find the requested resource"}',
      },
      outcome: ["ERR_DNS01_REFUSED", "terminal", "is the webhook registered"],
    },
    {
      name: "429 is transient",
      answer: { status: 429, body: "" },
      outcome: ["ERR_DNS01_UNAVAILABLE", "transient", "HTTP 429"],
    },
    {
      name: "502 from a proxy is transient",
      answer: { status: 502, body: "Bad Gateway" },
      outcome: ["ERR_DNS01_UNAVAILABLE", "transient", "HTTP 502"],
    },
    {
      name: "control characters in a message are flattened",
      answer: {
        status: 201,
        body: JSON.stringify({ response: { success: false, status: { message: "line1\nline2\u0007" } } }),
      },
      outcome: ["ERR_DNS01_REFUSED", "terminal", "refused Present: line1 line2"],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const run = () => readChallengeResponse("Present", "s.g.example", c.answer);
      if (c.outcome === "ok") {
        expect(run).not.toThrow();
        return;
      }
      const [code, retry, text] = c.outcome;
      try {
        run();
        expect.unreachable();
      } catch (err) {
        expect(isMeshsignError(err, code as never)).toBe(true);
        expect((err as MeshsignError).retry).toBe(retry);
        expect((err as MeshsignError).message).toContain(text);
      }
    });
  }

  it("cuts a very long message", () => {
    const long = "x".repeat(5000);
    try {
      readChallengeResponse("CleanUp", "s.g.example", {
        status: 201,
        body: JSON.stringify({ response: { success: false, status: { message: long } } }),
      });
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message.length).toBeLessThan(1200);
    }
  });
});

describe("webhook solver names", () => {
  const transport: WebhookTransport = {
    post: async () => ({ status: 201, body: '{"response":{"success":true}}' }),
  };
  const bad: [string, string, string][] = [
    ["a group without a dot", "acme", SOLVER],
    ["a group with a slash", "acme.example.com/../api", SOLVER],
    ["an upper-case group", "Acme.Example.com", SOLVER],
    ["a solver with a slash", GROUP, "alidns/../../secrets"],
    ["a solver with a query", GROUP, "alidns?x=1"],
    ["an empty solver", GROUP, ""],
  ];
  for (const [name, groupName, solverName] of bad) {
    it(`refuses ${name}`, () => {
      expect(() => createWebhookProvider({ groupName, solverName }, transport)).toThrow(
        /dns01\.webhook\.(groupName|solverName)/,
      );
    });
  }
  it("accepts the names alidns-webhook users write", () => {
    expect(
      createWebhookProvider({ groupName: "acme.yourcompany.com", solverName: "alidns-solver" }, transport)
        .name,
    ).toBe("webhook");
  });
});

describe("the registry's webhook provider", () => {
  const ctx: Dns01BuildContext = {
    secretNamespace: "istio-ingress",
    issuerKind: "Issuer",
    readSecretKey: async () => undefined,
  };
  const dns01 = { webhook: { groupName: GROUP, solverName: SOLVER, config: SOLVER_CONFIG } } as Dns01Config;

  it("is registered and calls through the transport the process wired", async () => {
    const calls: string[] = [];
    useDns01WebhookTransport({
      post: async (call) => {
        calls.push(`${call.groupName}/${call.solverName}`);
        return { status: 201, body: '{"response":{"success":true}}' };
      },
    });
    const provider = await createDns01Provider(dns01, ctx);
    await provider.present(RECORD, CHALLENGE);
    expect(provider.name).toBe("webhook");
    expect(calls).toEqual([`${GROUP}/${SOLVER}`]);
  });
});

describe("--dns01-webhook-config", () => {
  const CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
  const files = (config: string, extra: Record<string, string> = {}) => {
    const all: Record<string, string> = {
      "/etc/webhooks.yaml": config,
      "/etc/ca.pem": CA,
      "/etc/token": "t0ken\n",
      ...extra,
    };
    return (p: string) => {
      const v = all[p];
      if (v === undefined) throw Object.assign(new Error(`ENOENT: ${p}`), { code: "ENOENT" });
      return v;
    };
  };
  const entry = (more = "") =>
    `webhooks:\n  - groupName: ${GROUP}\n    url: https://webhook.internal:8443\n    caFile: /etc/ca.pem\n${more}`;

  it("reads groups, URLs, CA bundles and token files", () => {
    const endpoints = loadWebhookEndpoints("/etc/webhooks.yaml", files(entry("    tokenFile: /etc/token\n")));
    expect(endpoints).toEqual([
      { groupName: GROUP, url: new URL("https://webhook.internal:8443"), caPem: CA, tokenFile: "/etc/token" },
    ]);
  });

  const bad: [string, string, Record<string, string>, string][] = [
    ["an http URL", entry().replace("https://", "http://"), {}, "webhooks[0].url: must be an https URL"],
    [
      "a missing CA file",
      entry().replace("/etc/ca.pem", "/etc/none.pem"),
      {},
      "webhooks[0].caFile: cannot read /etc/none.pem",
    ],
    [
      "a CA file without a certificate",
      entry(),
      { "/etc/ca.pem": "hello" },
      "webhooks[0].caFile: /etc/ca.pem holds no PEM certificate",
    ],
    [
      "an empty token file",
      entry("    tokenFile: /etc/token\n"),
      { "/etc/token": "\n" },
      "webhooks[0].tokenFile: /etc/token is empty",
    ],
    ["a misspelled key", entry("    tokenFlie: /etc/token\n"), {}, "webhooks[0]"],
    [
      "a group listed twice",
      `${entry()}${entry().replace("webhooks:\n", "")}`,
      {},
      "webhooks[1].groupName: acme.example.com is listed twice",
    ],
    [
      "a bad group name",
      entry().replace(GROUP, "not_a_group"),
      {},
      "webhooks[0].groupName: must be a DNS subdomain",
    ],
    ["no webhooks", "webhooks: []\n", {}, "webhooks: lists no webhooks"],
    ["not YAML", "webhooks: [", {}, "not valid YAML"],
  ];
  for (const [name, config, extra, message] of bad) {
    it(`refuses ${name}, naming the key`, () => {
      expect(() => loadWebhookEndpoints("/etc/webhooks.yaml", files(config, extra))).toThrow(message);
    });
  }
});
