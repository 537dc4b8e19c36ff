import { describe, expect, it } from "vitest";
import { orderDetail } from "../../src/cli/lib/order-views.js";
import {
  type CertificateDescriptionView,
  certificateDetail,
  challengeLine,
} from "../../src/cli/lib/status-views.js";

const NOW = Date.parse("2026-12-06T20:00:00Z");

describe("a Challenge line", () => {
  const cases: Record<string, [Parameters<typeof challengeLine>[0], string]> = {
    "names the type, the name validated, the solver, the state, whether presented and why it waits": [
      {
        name: "shop-1-222-0",
        type: "HTTP-01",
        dnsName: "shop.example.com",
        solver: "http01.ingress (class nginx)",
        state: "pending",
        presented: true,
        reason: "Waiting for HTTP-01 challenge propagation: wrong status code '404', expected '200'",
      },
      "shop-1-222-0: HTTP-01, shop.example.com, http01.ingress (class nginx), pending, presented, Waiting for HTTP-01 challenge propagation: wrong status code '404', expected '200'",
    ],
    "writes a wildcard's name with its star": [
      {
        name: "c",
        type: "DNS-01",
        dnsName: "example.com",
        wildcard: true,
        solver: "dns01.rfc2136",
        presented: false,
      },
      "c: DNS-01, *.example.com, dns01.rfc2136, not presented",
    ],
    "leaves out what is not known yet": [{ name: "c" }, "c: "],
  };
  for (const [name, [view, want]] of Object.entries(cases)) {
    it(name, () => expect(challengeLine(view)).toBe(want));
  }
});

describe("meshsign status ns/name for an ACME Certificate", () => {
  it("lists each Challenge with its solver under the Order", () => {
    const d: CertificateDescriptionView = {
      namespace: "shop",
      name: "shop",
      secretName: "shop-tls",
      issuer: "ClusterIssuer/letsencrypt",
      ready: "False",
      reason: "DoesNotExist",
      order: { name: "shop-1-222", state: "pending" },
      challenges: [
        {
          name: "shop-1-222-0",
          type: "HTTP-01",
          dnsName: "shop.example.com",
          solver: "http01.gatewayHTTPRoute (istio-ingress/public)",
          state: "pending",
          presented: true,
        },
      ],
    };
    expect(certificateDetail(d, NOW)).toContain(
      "Order:\n  Name:              shop-1-222\n  State:             pending\n  Challenges:\n" +
        "    - shop-1-222-0: HTTP-01, shop.example.com, http01.gatewayHTTPRoute (istio-ingress/public), pending, presented",
    );
  });
});

describe("meshsign inspect order ns/name", () => {
  it("prints the Order's state, names, authorizations and Challenges", () => {
    const text = orderDetail(
      {
        namespace: "shop",
        name: "shop-1-222",
        state: "invalid",
        reason: "ACME server did not validate shop.example.com (http-01): connection: connection refused",
        failureTime: "2026-12-06T19:58:00Z",
        creationTimestamp: "2026-12-06T19:55:00Z",
        request: "shop-1",
        issuer: "ClusterIssuer/letsencrypt",
        url: "https://acme.example/order/2",
        dnsNames: ["shop.example.com", "*.shop.example.com"],
        ipAddresses: [],
        profile: "shortlived",
        hasCertificate: false,
        authorizations: [
          {
            identifier: "shop.example.com",
            wildcard: false,
            initialState: "pending",
            challengeTypes: ["http-01", "dns-01"],
          },
          { identifier: "shop.example.com", wildcard: true, initialState: "valid", challengeTypes: [] },
        ],
        challenges: [
          {
            name: "shop-1-222-0",
            type: "HTTP-01",
            dnsName: "shop.example.com",
            solver: "http01.ingress",
            state: "invalid",
            presented: false,
          },
        ],
      },
      NOW,
    );
    expect(text).toBe(
      [
        "Name:                shop-1-222",
        "Namespace:           shop",
        "Created:             2026-12-06T19:55:00Z (5m ago)",
        "State:               invalid",
        "Reason:              ACME server did not validate shop.example.com (http-01): connection: connection refused",
        "Failure Time:        2026-12-06T19:58:00Z",
        "Issuer:              ClusterIssuer/letsencrypt",
        "Request:             shop-1",
        "URL:                 https://acme.example/order/2",
        "DNS Names:           shop.example.com, *.shop.example.com",
        "Profile:             shortlived",
        "Authorizations:",
        "  - shop.example.com: pending, offers http-01/dns-01",
        "  - *.shop.example.com: valid",
        "Challenges:",
        "  - shop-1-222-0: HTTP-01, shop.example.com, http01.ingress, invalid, not presented",
      ].join("\n"),
    );
  });

  it("says an Order not yet sent has no state, authorizations or Challenges", () => {
    const text = orderDetail({ namespace: "shop", name: "shop-1-222" }, NOW);
    expect(text).toContain("State:               (not yet sent to the CA)");
    expect(text).toContain("Authorizations:      none yet");
    expect(text).toContain("Challenges:          none");
  });
});
