/**
 * Route53 provider logic in memory: zone choice, value-set merging, error
 * classes, the pending-change resume and the credential rules that refuse
 * before any network call. The same provider against a real Route53 API
 * (moto) is in test/dns-cloud.
 */
import { describe, expect, it } from "vitest";
import type { Dns01BuildContext, Dns01ChallengeInfo } from "../../../../src/acme/solvers/dns01/index.js";
import { createDns01Provider, isDns01ProviderSupported } from "../../../../src/acme/solvers/dns01/index.js";
import { Route53Provider } from "../../../../src/acme/solvers/dns01/route53/index.js";
import type {
  ChangeStatus,
  Route53Api,
  TxtRecordSet,
} from "../../../../src/acme/solvers/dns01/route53/lib/api.js";
import { toDns01Error } from "../../../../src/acme/solvers/dns01/route53/lib/errors.js";
import { KeyedLock } from "../../../../src/acme/solvers/dns01/route53/lib/keyed-lock.js";
import { PendingChanges } from "../../../../src/acme/solvers/dns01/route53/lib/pending.js";
import { withoutTxtValue, withTxtValue } from "../../../../src/acme/solvers/dns01/route53/lib/txt-values.js";
import {
  type HostedZoneSummary,
  pickHostedZone,
} from "../../../../src/acme/solvers/dns01/route53/lib/zone.js";
import { isMeshsignError } from "../../../../src/errors/index.js";

const pub = (id: string, name: string): HostedZoneSummary => ({
  id: `/hostedzone/${id}`,
  name,
  privateZone: false,
});
const priv = (id: string, name: string): HostedZoneSummary => ({
  id: `/hostedzone/${id}`,
  name,
  privateZone: true,
});

describe("pickHostedZone", () => {
  const zones = [
    pub("ZCOM", "example.com."),
    pub("ZSUB", "sub.example.com."),
    priv("ZPRIV", "deep.sub.example.com."),
  ];
  it.each([
    ["the longest public suffix wins", "_acme-challenge.www.sub.example.com.", "/hostedzone/ZSUB"],
    [
      "a name in the parent zone only gets the parent",
      "_acme-challenge.www.example.com.",
      "/hostedzone/ZCOM",
    ],
    [
      "a private zone is skipped even when it is longer",
      "_acme-challenge.deep.sub.example.com.",
      "/hostedzone/ZSUB",
    ],
    ["suffixes are matched label-wise, not string-wise", "_acme-challenge.notexample.com.", undefined],
    [
      "names compare case-insensitively and without the trailing dot",
      "_ACME-challenge.WWW.Example.COM",
      "/hostedzone/ZCOM",
    ],
    ["the apex itself is inside its zone", "sub.example.com.", "/hostedzone/ZSUB"],
  ])("%s", (_, fqdn, want) => {
    expect(pickHostedZone(fqdn, zones)?.id).toBe(want);
  });

  it("decodes Route53's octal escapes in zone names", () => {
    expect(pickHostedZone("_acme-challenge.x.*.example.org.", [pub("ZW", "\\052.example.org.")])?.id).toBe(
      "/hostedzone/ZW",
    );
  });
});

describe("TXT value sets", () => {
  it.each([
    ["adding to an empty name gives our quoted value", [], "v1", ['"v1"']],
    ["adding keeps the other values as they were", ['"v=spf1 -all"'], "v1", ['"v=spf1 -all"', '"v1"']],
    ["adding a value already there changes nothing", ['"v0"', '"v1"'], "v1", undefined],
  ])("%s", (_, existing, value, want) => {
    expect(withTxtValue(existing, value)).toEqual(want);
  });
  it.each([
    ["removing leaves the other values", ['"v0"', '"v1"', '"other"'], "v1", ['"v0"', '"other"']],
    ["removing the last value gives an empty set", ['"v1"'], "v1", []],
    ["removing a value not there changes nothing", ['"v0"'], "v1", undefined],
    ["an unquoted value is recognised too", ["v1", '"v2"'], "v1", ['"v2"']],
  ])("%s", (_, existing, value, want) => {
    expect(withoutTxtValue(existing, value)).toEqual(want);
  });
});

describe("toDns01Error", () => {
  const aws = (name: string, status: number, fault: "client" | "server", message = "msg") =>
    Object.assign(new Error(message), {
      name,
      $fault: fault,
      $metadata: { httpStatusCode: status, requestId: "r-1" },
    });
  it.each([
    [
      "AccessDenied is terminal",
      aws("AccessDenied", 403, "client", "User: arn:x is not authorized"),
      "terminal",
      "ERR_DNS01_REFUSED",
    ],
    ["NoSuchHostedZone is terminal", aws("NoSuchHostedZone", 404, "client"), "terminal", "ERR_DNS01_REFUSED"],
    [
      "throttling is transient",
      aws("Throttling", 400, "client", "Rate exceeded"),
      "transient",
      "ERR_DNS01_UNAVAILABLE",
    ],
    [
      "PriorRequestNotComplete is transient",
      aws("PriorRequestNotComplete", 400, "client"),
      "transient",
      "ERR_DNS01_UNAVAILABLE",
    ],
    ["a 5xx is transient", aws("ServiceFailure", 503, "server"), "transient", "ERR_DNS01_UNAVAILABLE"],
    [
      "a refused connection is transient",
      Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }),
      "transient",
      "ERR_DNS01_UNAVAILABLE",
    ],
  ])("%s", (_, err, retry, code) => {
    const mapped = toDns01Error(err, "Route53 GetChange");
    expect(mapped.retry).toBe(retry);
    expect(mapped.code).toBe(code);
    expect(mapped.message).toContain("Route53 GetChange");
  });

  it("says the HTTP status when the SDK could not read an AWS error from the body", () => {
    const mapped = toDns01Error(
      aws("Unknown", 403, "client", "UnknownError"),
      "Route53 ListHostedZonesByName",
    );
    expect(mapped.message).toBe(
      "Route53 ListHostedZonesByName refused: HTTP 403 with no AWS error in the body",
    );
    expect(mapped.retry).toBe("terminal");
  });

  it("keeps AWS's message for a refusal and puts the request id only in detail", () => {
    const mapped = toDns01Error(
      aws("AccessDenied", 403, "client", "User: arn:aws:iam::1:user/dns is not authorized"),
      "Route53 X",
    );
    expect(mapped.message).toContain("AccessDenied: User: arn:aws:iam::1:user/dns is not authorized");
    expect(mapped.message).not.toContain("r-1");
    expect(mapped.detail.requestId).toBe("r-1");
  });
});

/** An in-memory Route53: one zone, record sets by name, changes PENDING until `sync()`. */
class FakeRoute53 implements Route53Api {
  readonly sets = new Map<string, TxtRecordSet>();
  readonly changes = new Map<string, ChangeStatus>();
  readonly calls: string[] = [];
  #n = 0;
  /** When set, every change is INSYNC at once. */
  constructor(readonly instant = false) {}
  async listHostedZonesByName() {
    this.calls.push("list");
    return { zones: [pub("Z1", "example.com.")] };
  }
  async getTxtRecordSet(_zone: string, fqdn: string) {
    this.calls.push("get");
    return this.sets.get(fqdn);
  }
  async changeTxtRecordSet(_zone: string, action: "UPSERT" | "DELETE", fqdn: string, set: TxtRecordSet) {
    this.calls.push(action);
    if (action === "DELETE") this.sets.delete(fqdn);
    else this.sets.set(fqdn, set);
    const id = `/change/C${++this.#n}`;
    const status: ChangeStatus = this.instant ? "INSYNC" : "PENDING";
    this.changes.set(id, status);
    return { changeId: id, status };
  }
  async getChange(id: string) {
    this.calls.push("getChange");
    return this.changes.get(id) ?? "PENDING";
  }
  sync() {
    for (const id of this.changes.keys()) this.changes.set(id, "INSYNC");
  }
}

const challenge: Dns01ChallengeInfo = {
  uid: "u1",
  namespace: "ns",
  dnsName: "example.com",
  key: "k",
  resourceNamespace: "ns",
  allowAmbientCredentials: false,
};

function fakeProvider(api: FakeRoute53, clock: { t: number }) {
  return new Route53Provider({
    api,
    pending: new PendingChanges(),
    locks: new KeyedLock(),
    now: () => clock.t,
    // Sleeping advances the fake clock instead of waiting.
    sleep: async (ms) => {
      clock.t += ms;
    },
    inSyncPollMs: 10_000,
    inSyncDeadlineMs: 60_000,
  });
}

describe("Route53Provider with a fake API", () => {
  const record = { fqdn: "_acme-challenge.example.com.", zone: "example.com.", value: "v1" };

  it("answers transient while the change is PENDING, then resumes the same change without resubmitting", async () => {
    const api = new FakeRoute53();
    const clock = { t: 0 };
    const p = fakeProvider(api, clock);
    const first = await p.present(record, challenge).catch((e: unknown) => e);
    expect(isMeshsignError(first, "ERR_DNS01_UNAVAILABLE")).toBe(true);
    expect((first as Error).message).toBe(
      "waiting for Route53 change /change/C1 for _acme-challenge.example.com. to be INSYNC",
    );
    expect((first as { retry: string }).retry).toBe("transient");
    api.sync();
    api.calls.length = 0;
    await p.present(record, challenge);
    expect(api.calls).toEqual(["getChange"]);
    expect(api.sets.get(record.fqdn)?.values).toEqual(['"v1"']);
  });

  it.each([
    ["a value that would break out of the quoted TXT string", { ...record, value: 'v" "x' }],
    ["a name with a space", { ...record, fqdn: "_acme-challenge.exa mple.com." }],
    ["an empty name", { ...record, fqdn: "" }],
  ])("refuses %s before any call", async (_, bad) => {
    const api = new FakeRoute53();
    const err = await fakeProvider(api, { t: 0 })
      .present(bad, challenge)
      .catch((e: unknown) => e);
    expect(isMeshsignError(err, "ERR_DNS01_REFUSED")).toBe(true);
    expect(api.calls).toEqual([]);
  });

  it("gives a change up after the deadline and writes again on the next call", async () => {
    const api = new FakeRoute53();
    const clock = { t: 0 };
    const p = fakeProvider(api, clock);
    await expect(p.present(record, challenge)).rejects.toThrow(/waiting for Route53 change/);
    clock.t += 60_000;
    await expect(p.present(record, challenge)).rejects.toThrow(
      /still PENDING after \d+s; it will be submitted again/,
    );
    // The value is already in the set: the next call has nothing to write.
    api.calls.length = 0;
    await p.present(record, challenge);
    expect(api.calls).toEqual(["get"]);
  });

  it("keeps a wildcard's and an apex's values when both are presented at once, and removes each alone", async () => {
    const api = new FakeRoute53(true);
    const p = fakeProvider(api, { t: 0 });
    await Promise.all([p.present(record, challenge), p.present({ ...record, value: "v2" }, challenge)]);
    expect(api.sets.get(record.fqdn)?.values).toEqual(['"v1"', '"v2"']);
    await p.cleanUp(record, challenge);
    expect(api.sets.get(record.fqdn)?.values).toEqual(['"v2"']);
    await p.cleanUp({ ...record, value: "v2" }, challenge);
    expect(api.sets.has(record.fqdn)).toBe(false);
    expect(api.calls.filter((c) => c === "DELETE")).toHaveLength(1);
    await p.cleanUp({ ...record, value: "v2" }, challenge);
  });
});

describe("route53 credentials that are refused before any call", () => {
  const ctx = (over: Partial<Dns01BuildContext> = {}): Dns01BuildContext => ({
    secretNamespace: "istio-ingress",
    issuerKind: "Issuer",
    readSecretKey: async () => undefined,
    env: {},
    ...over,
  });

  it("is registered under route53", () => {
    expect(isDns01ProviderSupported({ route53: {} })).toBe(true);
  });

  it.each([
    [
      "an Issuer without keys gets cert-manager's ambient refusal",
      { route53: { region: "us-east-1" } },
      ctx(),
      "unable to construct route53 provider: empty credentials; perhaps you meant to enable ambient credentials?",
    ],
    [
      "an access key without its secret is refused",
      { route53: { accessKeyID: "AKIDEXAMPLE" } },
      ctx(),
      "unable to construct route53 provider: only one of access and secret key was provided",
    ],
    [
      "a missing Secret is named with its namespace",
      { route53: { accessKeyID: "AKIDEXAMPLE", secretAccessKeySecretRef: { name: "aws", key: "secret" } } },
      ctx(),
      'route53.secretAccessKeySecretRef: key "secret" of Secret istio-ingress/aws is missing or empty',
    ],
    [
      "a service account without a role is refused",
      { route53: { auth: { kubernetes: { serviceAccountRef: { name: "sa" } } } } },
      ctx({ requestServiceAccountToken: async () => "t" }),
      "unable to construct route53 provider: role must be set when web identity token is set",
    ],
    [
      "a service account without a TokenRequest client is refused",
      {
        route53: {
          role: "arn:aws:iam::1:role/r",
          auth: { kubernetes: { serviceAccountRef: { name: "sa" } } },
        },
      },
      ctx(),
      "route53.auth.kubernetes.serviceAccountRef (sa) needs a service-account token from the Kubernetes TokenRequest API, which this meshsign process does not request (standalone, or not wired); use static keys or ambient credentials",
    ],
  ])("%s", async (_, dns01, c, message) => {
    const err = await createDns01Provider(dns01, c).catch((e: unknown) => e);
    expect(isMeshsignError(err, "ERR_DNS01_REFUSED")).toBe(true);
    expect((err as Error).message).toBe(message);
    expect((err as { retry: string }).retry).toBe("terminal");
  });
});
