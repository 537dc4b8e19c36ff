import { describe, expect, it } from "vitest";
import { humanDuration } from "../../src/cli/lib/human-duration.js";
import { type CertificateDescriptionView, certificateDetail, certificatesTable, effectiveReason, issuersTable, leftoverRecordsText, manifestProblemsText } from "../../src/cli/lib/status-views.js";
import { renderTable } from "../../src/cli/lib/table.js";

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;
const NOW = Date.parse("2026-12-06T20:00:00Z");

describe("ages printed the way kubectl prints them", () => {
  const cases: [number, string][] = [
    [-5 * S, "<invalid>"],
    [-1500, "0s"],
    [45 * S, "45s"],
    [119 * S, "119s"],
    [4 * M + 30 * S, "4m30s"],
    [5 * M, "5m"],
    [37 * M, "37m"],
    [5 * H + 12 * M, "5h12m"],
    [30 * H, "30h"],
    [6 * D + 2 * H, "6d2h"],
    [90 * D, "90d"],
    [3 * 365 * D + 120 * D, "3y120d"],
    [10 * 365 * D, "10y"],
  ];
  it.each(cases)("%d ms is %s", (ms, text) => expect(humanDuration(ms)).toBe(text));
});

describe("a table", () => {
  it("aligns columns three spaces apart and shows an empty cell as <none>", () => {
    expect(renderTable(["NAME", "READY"], [["a-long-name", ""], ["b", "True"]])).toBe("NAME          READY\na-long-name   <none>\nb             True");
  });
});

const notReady: CertificateDescriptionView = {
  namespace: "istio-ingress",
  name: "wildcard",
  secretName: "wildcard-tls",
  issuer: "Issuer/acme-dns",
  ready: "False",
  reason: "DoesNotExist",
  creationTimestamp: "2026-12-06T19:00:00Z",
  conditions: [{ type: "Ready", status: "False", reason: "DoesNotExist", message: "Issuing certificate as Secret does not exist", lastTransitionTime: "2026-12-06T19:00:00Z" }],
  lastRequest: {
    name: "wildcard-1",
    revision: 1,
    conditions: [
      { type: "Approved", status: "True", reason: "cert-manager.io" },
      { type: "Ready", status: "False", reason: "Pending", message: 'Referenced issuer is not ready: UnsupportedIssuerType: Issuer type "acme" is not supported by this meshsign build yet' },
    ],
  },
  events: [{ type: "Normal", reason: "Requested", message: 'Created new CertificateRequest resource "wildcard-1"', count: 1, lastTimestamp: "2026-12-06T19:59:00Z", object: "Certificate/wildcard" }],
};

describe("the reason a Certificate is not Ready", () => {
  it("is the issuer's reason when the request waits on an issuer that is not ready", () => {
    expect(effectiveReason(notReady)).toBe("UnsupportedIssuerType");
  });
  it("is the request's own reason when it failed or was denied", () => {
    const failed = { ...notReady, lastRequest: { name: "w-1", conditions: [{ type: "Ready", status: "False", reason: "Failed", message: "signing failed" }] } };
    expect(effectiveReason(failed)).toBe("Failed");
    const denied = { ...notReady, lastRequest: { name: "w-1", conditions: [{ type: "Denied", status: "True", reason: "PolicyDenied" }] } };
    expect(effectiveReason(denied)).toBe("PolicyDenied");
  });
  it("is the Certificate's own when there is no request, or when it is Ready", () => {
    const { lastRequest: _none, ...noRequest } = notReady;
    expect(effectiveReason(noRequest)).toBe("DoesNotExist");
    expect(effectiveReason({ ...notReady, ready: "True", reason: "Ready" })).toBe("Ready");
  });
});

describe("the issuers table", () => {
  const created = new Date(NOW - 2 * H).toISOString();
  it("has one row per Issuer and ClusterIssuer, and the message of each that is not ready below it", () => {
    const text = issuersTable(
      [
        { kind: "ClusterIssuer", namespace: "", name: "acme-http", type: "acme", ready: "False", reason: "UnsupportedIssuerType", message: "acme issuers are not supported yet", creationTimestamp: created },
        { kind: "Issuer", namespace: "apps", name: "ca", type: "ca", ready: "True", reason: "KeyPairVerified", message: "Signing CA verified", creationTimestamp: created },
      ],
      NOW,
    );
    const [header, first, second, blank, title, detail] = text.split("\n");
    expect(header?.split(/\s{3,}/)).toEqual(["KIND", "NAMESPACE", "NAME", "TYPE", "READY", "REASON", "AGE"]);
    expect(first?.split(/\s{3,}/)).toEqual(["ClusterIssuer", "<none>", "acme-http", "acme", "False", "UnsupportedIssuerType", "120m"]);
    expect(second?.split(/\s{3,}/)).toEqual(["Issuer", "apps", "ca", "ca", "True", "KeyPairVerified", "120m"]);
    expect([blank, title, detail]).toEqual(["", "Not ready:", "  ClusterIssuer acme-http: acme issuers are not supported yet"]);
  });
  it("says so when there are none", () => {
    expect(issuersTable([], NOW)).toBe("No Issuers or ClusterIssuers found.");
  });
});

describe("the status table", () => {
  it("has kubectl's columns and one row per Certificate, with no blank cells", () => {
    const text = certificatesTable([{ ...notReady, reason: "UnsupportedIssuerType" }, { ...notReady, name: "shop", ready: "True", reason: "Ready", notAfter: "2027-03-06T20:17:03Z" }], NOW);
    const [header, first, second] = text.split("\n");
    expect(header?.split(/\s{3,}/)).toEqual(["NAMESPACE", "NAME", "READY", "SECRET", "ISSUER", "REASON", "EXPIRY", "AGE"]);
    expect(first?.split(/\s{3,}/)).toEqual(["istio-ingress", "wildcard", "False", "wildcard-tls", "Issuer/acme-dns", "UnsupportedIssuerType", "<none>", "60m"]);
    expect(second?.split(/\s{3,}/)).toEqual(["istio-ingress", "shop", "True", "wildcard-tls", "Issuer/acme-dns", "Ready", "2027-03-06T20:17:03Z", "60m"]);
  });
  it("says so when there are no Certificates", () => {
    expect(certificatesTable([], NOW)).toBe("No Certificates found.");
  });
  it("lists the manifest problems with file and field, and nothing when there are none", () => {
    expect(manifestProblemsText("/m", [{ document: "Certificate apps/typo (typo.yaml#0)", outcome: "warning", problem: 'unknown field "spec.duraton"' }])).toBe(
      'Manifest problems in /m:\n  warning: Certificate apps/typo (typo.yaml#0): unknown field "spec.duraton"',
    );
    expect(manifestProblemsText("/m", [])).toBe("");
  });
});

describe("the leftover DNS-01 records section", () => {
  const failed = { namespace: "shop", challenge: "shop-1-2-3", fqdn: "_acme-challenge.shop.example.com.", provider: "dns01.rfc2136", since: "2026-12-06T19:50:00Z", lastError: "rfc2136: removing TXT: NOTAUTH" };
  it("lists FQDN, provider, since when, the Challenge and the last error", () => {
    const [title, header, row, waiting] = leftoverRecordsText([failed, { ...failed, challenge: "shop-1-2-4", lastError: undefined }], NOW).split("\n");
    expect(title).toBe("Leftover DNS-01 records (clean-up retried until it succeeds):");
    expect(header?.trim().split(/\s{3,}/)).toEqual(["FQDN", "PROVIDER", "SINCE", "CHALLENGE", "LAST ERROR"]);
    expect(row?.trim().split(/\s{3,}/)).toEqual(["_acme-challenge.shop.example.com.", "dns01.rfc2136", "10m ago", "shop/shop-1-2-3", "rfc2136: removing TXT: NOTAUTH"]);
    expect(waiting?.trim().split(/\s{3,}/).at(-1)).toBe("none (clean-up pending)");
  });
  it("is empty when there are none", () => {
    expect(leftoverRecordsText([], NOW)).toBe("");
  });
  it("is repeated under the Order of a Certificate's detail view", () => {
    const challenges = [{ name: "shop-1-2-3", type: "DNS-01", dnsName: "shop.example.com", state: "valid", presented: true, leftover: failed }];
    expect(certificateDetail({ ...notReady, order: { name: "shop-1-2", state: "valid" }, challenges }, NOW)).toContain(
      "  Leftover DNS-01 records:\n    - _acme-challenge.shop.example.com. (dns01.rfc2136, since 10m ago): rfc2136: removing TXT: NOTAUTH",
    );
  });
});

describe("the detail view", () => {
  const text = certificateDetail(notReady, NOW);
  it("shows the true reason, the conditions with their age, the request and the events", () => {
    expect(text).toContain("Ready:               False (UnsupportedIssuerType)");
    expect(text).toContain("  Ready: False (DoesNotExist), since 60m ago: Issuing certificate as Secret does not exist");
    expect(text).toContain("CertificateRequest:\n  Name:              wildcard-1");
    expect(text).toContain('    Ready: False (Pending): Referenced issuer is not ready: UnsupportedIssuerType: Issuer type "acme" is not supported by this meshsign build yet');
    expect(text).toMatch(/Events:\n {2}TYPE\s+REASON\s+AGE\s+OBJECT\s+MESSAGE\n {2}Normal\s+Requested\s+60s\s+Certificate\/wildcard\s+Created new/);
  });
  it("shows the Order and its Challenges when the description has them", () => {
    const acme = certificateDetail({ ...notReady, order: { name: "wildcard-1-123", state: "pending" }, challenges: [{ name: "wildcard-1-123-0", type: "DNS-01", dnsName: "example.net", state: "pending", presented: true }] }, NOW);
    expect(acme).toContain("Order:\n  Name:              wildcard-1-123\n  State:             pending\n  Challenges:\n    - wildcard-1-123-0: DNS-01, example.net, pending, presented");
  });
  it("never prints a line that is only a dash or a label without a value", () => {
    for (const line of text.split("\n")) expect(line.trim()).not.toMatch(/^-?$/);
    expect(text).not.toContain("Order:");
  });
});
