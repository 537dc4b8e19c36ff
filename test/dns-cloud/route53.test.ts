/**
 * The Route53 DNS-01 provider against moto in server mode (Route53 and STS),
 * reached through a recording proxy (see harness.ts) so the tests check the
 * calls themselves: which zone was written, which key signed them, what STS
 * was sent. The provider's promise ends at INSYNC (which moto reports at
 * once); the propagation check after it, at a DNS server kept in step with
 * moto, is propagation.test.ts.
 */
import {
  ChangeResourceRecordSetsCommand,
  CreateHostedZoneCommand,
  ListResourceRecordSetsCommand,
  Route53Client,
} from "@aws-sdk/client-route-53";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Dns01BuildContext, Dns01ChallengeInfo } from "../../src/acme/solvers/dns01/index.js";
import { createRoute53Factory } from "../../src/acme/solvers/dns01/route53/index.js";
import { isMeshsignError } from "../../src/errors/index.js";
import { MotoServer } from "./harness.js";

const moto = new MotoServer();
let admin: Route53Client;
const zones = { com: "", sub: "", subPrivate: "" };

/** Static keys the tests sign with (moto accepts any key; the proxy reads which one was used). */
const STATIC_KEY_ID = "AKIAMESHSIGNSTATIC01";
const SECRETS: Record<string, Record<string, string>> = {
  "route53-credentials": {
    "access-key-id": "AKIAMESHSIGNFROMSECR",
    "secret-access-key": "not-a-real-secret-1",
  },
};

function ctx(over: Partial<Dns01BuildContext> = {}): Dns01BuildContext {
  return {
    secretNamespace: "istio-ingress",
    issuerKind: "Issuer",
    readSecretKey: async (name, key) => SECRETS[name]?.[key],
    env: {},
    ...over,
  };
}

const challenge: Dns01ChallengeInfo = {
  uid: "uid-1",
  namespace: "istio-ingress",
  dnsName: "example.com",
  key: "key-authorization",
  resourceNamespace: "istio-ingress",
  allowAmbientCredentials: false,
};

const staticKeys = {
  accessKeyID: STATIC_KEY_ID,
  secretAccessKeySecretRef: { name: "route53-credentials", key: "secret-access-key" },
};

async function build(route53: Record<string, unknown>, c: Dns01BuildContext = ctx()) {
  const factory = createRoute53Factory({ endpoint: moto.endpoint });
  return factory(route53, { route53 }, c);
}

/** The TXT values moto holds at `fqdn` in `zoneId`, read directly (not through the proxy). */
async function txtValues(zoneId: string, fqdn: string): Promise<string[]> {
  const out = await admin.send(
    new ListResourceRecordSetsCommand({
      HostedZoneId: zoneId,
      StartRecordName: fqdn,
      StartRecordType: "TXT",
      MaxItems: 1,
    }),
  );
  const set = out.ResourceRecordSets?.[0];
  if (set === undefined || set.Type !== "TXT" || set.Name !== fqdn) return [];
  return (set.ResourceRecords ?? []).map((r) => r.Value ?? "");
}

async function createZone(name: string, privateVpc?: string): Promise<string> {
  const out = await admin.send(
    new CreateHostedZoneCommand({
      Name: name,
      CallerReference: `${name}-${privateVpc ?? "public"}-${Date.now()}`,
      ...(privateVpc !== undefined
        ? { VPC: { VPCRegion: "us-east-1", VPCId: privateVpc }, HostedZoneConfig: { PrivateZone: true } }
        : {}),
    }),
  );
  return (out.HostedZone?.Id ?? "").replace("/hostedzone/", "");
}

beforeAll(async () => {
  await moto.start();
  admin = new Route53Client({
    region: "us-east-1",
    endpoint: moto.directEndpoint,
    credentials: { accessKeyId: "AKIAMESHSIGNADMIN001", secretAccessKey: "admin" },
  });
  zones.com = await createZone("example.com.");
  // The private zone first, so it is listed before the public one of the same name.
  zones.subPrivate = await createZone("sub.example.com.", "vpc-0a1b2c3d4e5f60789");
  zones.sub = await createZone("sub.example.com.");
});

afterEach(() => moto.clearFaults());

afterAll(async () => {
  admin?.destroy();
  await moto.stop();
});

describe("Route53 hosted zone", () => {
  it("is found by the longest public suffix of the name, skipping the private zone of the same name", async () => {
    const p = await build({ region: "eu-west-1", ...staticKeys });
    const record = {
      fqdn: "_acme-challenge.www.sub.example.com.",
      zone: "sub.example.com.",
      value: "by-suffix",
    };
    await p.present(record, challenge);
    expect(await txtValues(zones.sub, record.fqdn)).toEqual(['"by-suffix"']);
    expect(await txtValues(zones.subPrivate, record.fqdn)).toEqual([]);
    expect(await txtValues(zones.com, record.fqdn)).toEqual([]);
    await p.cleanUp(record, challenge);
    expect(await txtValues(zones.sub, record.fqdn)).toEqual([]);
  });

  it("is found by walking up the name's parents when no zone was given", async () => {
    const p = await build(staticKeys);
    const record = { fqdn: "_acme-challenge.a.b.example.com.", zone: "", value: "walked" };
    await p.present(record, challenge);
    expect(await txtValues(zones.com, record.fqdn)).toEqual(['"walked"']);
    await p.cleanUp(record, challenge);
  });

  it("is taken from hostedZoneID without listing zones, with or without the /hostedzone/ prefix", async () => {
    moto.seen.length = 0;
    const p = await build({ hostedZoneID: `/hostedzone/${zones.com}`, ...staticKeys });
    const record = { fqdn: "_acme-challenge.by-id.example.com.", zone: "example.com.", value: "by-id" };
    await p.present(record, challenge);
    expect(await txtValues(zones.com, record.fqdn)).toEqual(['"by-id"']);
    expect(moto.calls("ListHostedZonesByName")).toHaveLength(0);
    await p.cleanUp(record, challenge);
  });

  it("named by a wrong hostedZoneID fails terminal with a message naming the zone", async () => {
    const p = await build({ hostedZoneID: "ZNOSUCHZONE123", ...staticKeys });
    const err = await p
      .present({ fqdn: "_acme-challenge.example.com.", zone: "example.com.", value: "x" }, challenge)
      .catch((e: unknown) => e);
    expect(isMeshsignError(err, "ERR_DNS01_REFUSED")).toBe(true);
    expect((err as { retry: string }).retry).toBe("terminal");
    expect((err as Error).message).toContain("NoSuchHostedZone");
    expect((err as Error).message).toContain("ZNOSUCHZONE123");
  });

  it("that does not exist in Route53 fails terminal, naming the name and the zone looked up", async () => {
    const p = await build(staticKeys);
    const err = await p
      .present({ fqdn: "_acme-challenge.example.org.", zone: "example.org.", value: "x" }, challenge)
      .catch((e: unknown) => e);
    expect(isMeshsignError(err, "ERR_DNS01_REFUSED")).toBe(true);
    expect((err as Error).message).toBe(
      "no public Route53 hosted zone found for _acme-challenge.example.org. (looked up example.org.); set route53.hostedZoneID to name the zone",
    );
  });
});

describe("Route53 TXT values", () => {
  it("keeps two values under one name and removes only its own, leaving a foreign value alone", async () => {
    const fqdn = "_acme-challenge.shared.example.com.";
    await admin.send(
      new ChangeResourceRecordSetsCommand({
        HostedZoneId: zones.com,
        ChangeBatch: {
          Changes: [
            {
              Action: "CREATE",
              ResourceRecordSet: {
                Name: fqdn,
                Type: "TXT",
                TTL: 300,
                ResourceRecords: [{ Value: '"foreign"' }],
              },
            },
          ],
        },
      }),
    );
    const p = await build(staticKeys);
    const wildcard = { fqdn, zone: "example.com.", value: "wildcard-value" };
    const apex = { fqdn, zone: "example.com.", value: "apex-value" };
    // Both at once, as a wildcard and its apex in one order are presented.
    await Promise.all([p.present(wildcard, challenge), p.present(apex, challenge)]);
    const both = await txtValues(zones.com, fqdn);
    expect(both).toHaveLength(3);
    expect(both).toEqual(expect.arrayContaining(['"foreign"', '"wildcard-value"', '"apex-value"']));
    await p.present(apex, challenge);
    expect(await txtValues(zones.com, fqdn)).toHaveLength(3);

    await p.cleanUp(wildcard, challenge);
    expect(await txtValues(zones.com, fqdn)).toEqual(expect.arrayContaining(['"foreign"', '"apex-value"']));
    expect(await txtValues(zones.com, fqdn)).toHaveLength(2);
    await p.cleanUp(apex, challenge);
    expect(await txtValues(zones.com, fqdn)).toEqual(['"foreign"']);
    // Idempotent: a second cleanUp changes nothing.
    await p.cleanUp(apex, challenge);
    expect(await txtValues(zones.com, fqdn)).toEqual(['"foreign"']);
  });

  it("deletes the record set when its last value is ours, and a second cleanUp is a no-op", async () => {
    const p = await build(staticKeys);
    const record = { fqdn: "_acme-challenge.alone.example.com.", zone: "example.com.", value: "only-ours" };
    await p.present(record, challenge);
    await p.present(record, challenge);
    expect(await txtValues(zones.com, record.fqdn)).toEqual(['"only-ours"']);
    moto.seen.length = 0;
    await p.cleanUp(record, challenge);
    expect(await txtValues(zones.com, record.fqdn)).toEqual([]);
    expect(
      moto.calls("ChangeResourceRecordSets").map((r) => /<Action>(\w+)<\/Action>/.exec(r.body)?.[1]),
    ).toEqual(["DELETE"]);
    await p.cleanUp(record, challenge);
    expect(moto.calls("ChangeResourceRecordSets")).toHaveLength(1);
  });
});

describe("Route53 credentials", () => {
  const record = { fqdn: "_acme-challenge.creds.example.com.", zone: "example.com.", value: "creds" };

  it("signs with accessKeyID and the secret from secretAccessKeySecretRef", async () => {
    moto.seen.length = 0;
    const p = await build(staticKeys);
    await p.present(record, challenge);
    await p.cleanUp(record, challenge);
    const keys = new Set(moto.seen.map((r) => r.accessKeyId));
    expect([...keys]).toEqual([STATIC_KEY_ID]);
  });

  it("reads the access key id from accessKeyIDSecretRef", async () => {
    moto.seen.length = 0;
    const p = await build({
      accessKeyIDSecretRef: { name: "route53-credentials", key: "access-key-id" },
      secretAccessKeySecretRef: { name: "route53-credentials", key: "secret-access-key" },
    });
    await p.present(record, challenge);
    await p.cleanUp(record, challenge);
    expect(new Set(moto.seen.map((r) => r.accessKeyId))).toEqual(new Set(["AKIAMESHSIGNFROMSECR"]));
  });

  it("assumes role through STS AssumeRole with the static keys, then signs Route53 calls with the role's keys", async () => {
    moto.seen.length = 0;
    const role = "arn:aws:iam::123456789012:role/meshsign-dns";
    const p = await build({ ...staticKeys, role });
    await p.present(record, challenge);
    await p.cleanUp(record, challenge);
    const assume = moto.calls("AssumeRole");
    expect(assume).toHaveLength(1);
    expect(assume[0]?.accessKeyId).toBe(STATIC_KEY_ID);
    const form = new URLSearchParams(assume[0]?.body);
    expect(form.get("RoleArn")).toBe(role);
    expect(form.get("RoleSessionName")).toBe("meshsign");
    const route53Keys = new Set(moto.seen.filter((r) => r.action !== "AssumeRole").map((r) => r.accessKeyId));
    expect(route53Keys.size).toBe(1);
    expect(route53Keys.has(STATIC_KEY_ID)).toBe(false);
  });

  it("exchanges a service-account token (audience sts.amazonaws.com) through AssumeRoleWithWebIdentity", async () => {
    moto.seen.length = 0;
    const requested: Array<[string, readonly string[]]> = [];
    const role = "arn:aws:iam::123456789012:role/meshsign-irsa";
    const p = await build(
      { role, auth: { kubernetes: { serviceAccountRef: { name: "meshsign-dns" } } } },
      ctx({
        requestServiceAccountToken: async (name, audiences) => {
          requested.push([name, audiences]);
          return "eyJhbGciOiJSUzI1NiJ9.test-token.sig";
        },
      }),
    );
    await p.present(record, challenge);
    await p.cleanUp(record, challenge);
    expect(requested[0]).toEqual(["meshsign-dns", ["sts.amazonaws.com"]]);
    const assume = moto.calls("AssumeRoleWithWebIdentity");
    expect(assume).toHaveLength(1);
    const form = new URLSearchParams(assume[0]?.body);
    expect(form.get("RoleArn")).toBe(role);
    expect(form.get("WebIdentityToken")).toBe("eyJhbGciOiJSUzI1NiJ9.test-token.sig");
    // STS takes the token as the proof: the call is not signed with any key.
    expect(assume[0]?.accessKeyId).toBeUndefined();
    const route53Keys = new Set(
      moto.seen.filter((r) => r.action !== "AssumeRoleWithWebIdentity").map((r) => r.accessKeyId),
    );
    expect(route53Keys.size).toBe(1);
    expect([...route53Keys][0]).toMatch(/^[A-Z0-9]{16,}$/);
  });

  it("passes the serviceAccountRef's own audiences when it names them", async () => {
    const requested: Array<readonly string[]> = [];
    const p = await build(
      {
        role: "arn:aws:iam::123456789012:role/meshsign-irsa",
        auth: { kubernetes: { serviceAccountRef: { name: "meshsign-dns", audiences: ["aws-custom"] } } },
      },
      ctx({
        requestServiceAccountToken: async (_name, audiences) => {
          requested.push(audiences);
          return "token";
        },
      }),
    );
    await p.present(record, challenge);
    await p.cleanUp(record, challenge);
    expect(requested[0]).toEqual(["aws-custom"]);
  });

  it("refuses ambient credentials for an Issuer with cert-manager's message", async () => {
    const err = await build(
      { region: "us-east-1" },
      ctx({ env: { AWS_ACCESS_KEY_ID: "AKIAAMBIENT000000001", AWS_SECRET_ACCESS_KEY: "ambient" } }),
    ).catch((e: unknown) => e);
    expect(isMeshsignError(err, "ERR_DNS01_REFUSED")).toBe(true);
    expect((err as Error).message).toBe(
      "unable to construct route53 provider: empty credentials; perhaps you meant to enable ambient credentials?",
    );
  });

  it("uses ambient credentials from the environment for a ClusterIssuer", async () => {
    moto.seen.length = 0;
    const p = await build(
      {},
      ctx({
        issuerKind: "ClusterIssuer",
        env: {
          AWS_ACCESS_KEY_ID: "AKIAAMBIENT000000001",
          AWS_SECRET_ACCESS_KEY: "ambient",
          AWS_REGION: "eu-west-1",
        },
      }),
    );
    await p.present(record, challenge);
    await p.cleanUp(record, challenge);
    expect(new Set(moto.seen.map((r) => r.accessKeyId))).toEqual(new Set(["AKIAAMBIENT000000001"]));
  });
});

describe("Route53 errors (answered by the proxy in AWS's shape)", () => {
  const record = { fqdn: "_acme-challenge.errors.example.com.", zone: "example.com.", value: "err" };

  it("retries throttling inside the SDK and succeeds when Route53 lets up", async () => {
    moto.seen.length = 0;
    moto.fail({
      action: "ChangeResourceRecordSets",
      times: 2,
      status: 400,
      code: "Throttling",
      message: "Rate exceeded",
    });
    const p = await build(staticKeys);
    await p.present(record, challenge);
    expect(moto.calls("ChangeResourceRecordSets")).toHaveLength(3);
    expect(await txtValues(zones.com, record.fqdn)).toEqual(['"err"']);
    await p.cleanUp(record, challenge);
  });

  it("answers transient when throttling outlasts the SDK's attempts", async () => {
    moto.fail({
      action: "ListResourceRecordSets",
      times: 10,
      status: 400,
      code: "Throttling",
      message: "Rate exceeded",
    });
    const p = await build(staticKeys);
    const err = await p.present(record, challenge).catch((e: unknown) => e);
    expect(isMeshsignError(err, "ERR_DNS01_UNAVAILABLE")).toBe(true);
    expect((err as { retry: string }).retry).toBe("transient");
    expect((err as Error).message).toBe(
      "Route53 ListResourceRecordSets failed, will retry: Throttling: Rate exceeded",
    );
  });

  it("answers transient for a 503", async () => {
    moto.fail({
      action: "ListResourceRecordSets",
      times: 10,
      status: 503,
      code: "ServiceUnavailable",
      message: "Service Unavailable",
    });
    const p = await build({ ...staticKeys, hostedZoneID: zones.com });
    const err = await p.present({ ...record, value: "err-503" }, challenge).catch((e: unknown) => e);
    expect(isMeshsignError(err, "ERR_DNS01_UNAVAILABLE")).toBe(true);
    expect((err as { retry: string }).retry).toBe("transient");
  });

  it("answers terminal with AWS's message for AccessDenied, without the request id", async () => {
    const denied =
      "User: arn:aws:iam::123456789012:user/dns is not authorized to perform: route53:ChangeResourceRecordSets on resource: arn:aws:route53:::hostedzone/Z1";
    moto.fail({
      action: "ChangeResourceRecordSets",
      times: 10,
      status: 403,
      code: "AccessDenied",
      message: denied,
    });
    const p = await build(staticKeys);
    const err = await p.present({ ...record, value: "err-denied" }, challenge).catch((e: unknown) => e);
    expect(isMeshsignError(err, "ERR_DNS01_REFUSED")).toBe(true);
    expect((err as { retry: string }).retry).toBe("terminal");
    expect((err as Error).message).toBe(`Route53 ChangeResourceRecordSets refused: AccessDenied: ${denied}`);
    expect((err as Error).message).not.toContain("test-fault");
  });
});
