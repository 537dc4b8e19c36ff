import { describe, expect, it } from "vitest";
import { identitiesMatch } from "../../src/authz/index.js";
import { decide, mockAuthn, mustCsr } from "./lib/csr-stack.js";

/*
 * cert-manager/istio-csr pkg/server/auth_test.go, translated case by case.
 * istio-csr's authRequest (authenticate, then check the CSR against the
 * caller's identities) is meshsign's authenticator chain followed by the SVID
 * policy; the expected "authed" is whether meshsign would sign.
 */

const UPSTREAM = "cert-manager/istio-csr pkg/server/auth_test.go";

describe(`${UPSTREAM} TestIdentitiesMatch`, () => {
  it.each([
    { name: "if both are empty then true", aList: [], bURL: [], expMatch: true },
    {
      name: "if aList has identity, bURL not, false",
      aList: ["spiffee://foo.bar"],
      bURL: [],
      expMatch: false,
    },
    {
      name: "if aList has no identity, bURL does, false",
      aList: [],
      bURL: ["spiffe://foo.bar"],
      expMatch: false,
    },
    {
      name: "if aList one identity, bURL has the same, true",
      aList: ["spiffe://foo.bar"],
      bURL: ["spiffe://foo.bar"],
      expMatch: true,
    },
    {
      name: "if aList one identity, bURL has different, false",
      aList: ["spiffe://123.456"],
      bURL: ["spiffe://foo.bar"],
      expMatch: false,
    },
    {
      name: "if aList two identities, bURL has same, true",
      aList: ["spiffe://123.456", "spiffe://foo.bar"],
      bURL: ["spiffe://123.456", "spiffe://foo.bar"],
      expMatch: true,
    },
    {
      name: "if aList two identities, bURL has same but different order, true",
      aList: ["spiffe://123.456", "spiffe://foo.bar"],
      bURL: ["spiffe://foo.bar", "spiffe://123.456"],
      expMatch: true,
    },
    {
      name: "if aList two identities, bURL has different, false",
      aList: ["spiffe://123.456", "spiffe://foo.bar"],
      bURL: ["spiffe://123.456", "spiffe://bar.foo"],
      expMatch: false,
    },
  ])("$name", ({ aList, bURL, expMatch }) => {
    // Upstream parses bURL with url.Parse and compares String(): the same text for these inputs.
    expect(
      identitiesMatch(
        aList,
        bURL.map((u) => new URL(u).href),
      ),
    ).toBe(expMatch);
  });
});

describe(`${UPSTREAM} TestAuthRequest`, () => {
  const two = ["spiffe://foo", "spiffe://bar"];
  const cases: {
    name: string;
    identities?: string[];
    errMsg?: string;
    csr: () => string;
    expAuth: boolean;
    /** meshsign's reason (its rule), when refused. */
    reason?: RegExp;
  }[] = [
    {
      name: "is auth errors, return empty and false",
      errMsg: "an error",
      csr: () => "",
      expAuth: false,
      reason: /authentication failed \(mock: /,
    },
    {
      name: "if auth returns no identities, error",
      csr: () => "",
      expAuth: false,
      reason: /credential carries no identity/,
    },
    {
      // meshsign refuses a caller with two identities before looking at the CSR (see below).
      name: "if auth returns identities, but given csr is bad ecoded, error",
      identities: two,
      csr: () => "bad csr",
      expAuth: false,
    },
    {
      name: "if auth returns identities, but given csr has dns, error",
      identities: two,
      csr: () => mustCsr({ uris: two, dnsNames: ["example.com", "jetstack.io"] }),
      expAuth: false,
    },
    {
      name: "if auth returns identities, but given csr has ips, error",
      identities: two,
      csr: () => mustCsr({ uris: two, ipAddresses: ["8.8.8.8"] }),
      expAuth: false,
    },
    {
      name: "if auth returns identities, but given csr has common name, error",
      identities: two,
      csr: () => mustCsr({ uris: two, commonName: "jetstack.io" }),
      expAuth: false,
    },
    {
      name: "if auth returns identities, but given csr has email addresses, error",
      identities: two,
      csr: () => mustCsr({ uris: two, emailAddresses: ["joshua.vanleeuwen@jetstack.io"] }),
      expAuth: false,
    },
    {
      name: "if auth returns identities, but given csr has miss matched identities, error",
      identities: two,
      csr: () => mustCsr({ uris: ["spiffe://josh", "spiffe://bar"] }),
      expAuth: false,
    },
    {
      name: "if auth returns identities, but given csr has subset of identities, error",
      identities: two,
      csr: () => mustCsr({ uris: ["spiffe://bar"] }),
      expAuth: false,
    },
    {
      name: "if auth returns identities, but given csr has more identities, error",
      identities: two,
      csr: () => mustCsr({ uris: [...two, "spiffe://joshua.vanleeuwen"] }),
      expAuth: false,
    },
    {
      // Upstream: true. Deliberate: an X.509-SVID carries exactly one URI SAN (SPIFFE X.509-SVID §2),
      // so meshsign signs for a caller with exactly one identity.
      name: "if auth returns identities, and given csr matches identities, return true (meshsign: refused, one URI SAN per SVID)",
      identities: two,
      csr: () => mustCsr({ uris: two }),
      expAuth: false,
      reason: /caller must have exactly one identity/,
    },
    {
      name: "if auth returns single id, and given csr matches id, return true",
      identities: ["spiffe://foo"],
      csr: () => mustCsr({ uris: ["spiffe://foo"] }),
      expAuth: true,
    },
  ];

  it.each(cases)("$name", async ({ identities, errMsg, csr, expAuth, reason }) => {
    const result = await decide([mockAuthn(identities, errMsg ?? "")], csr());
    if (expAuth) expect(result).toMatchObject({ identity: identities?.[0] });
    else expect(result.code).toBeDefined();
    if (reason) expect(result.message).toMatch(reason);
  });

  // The refusals above with two identities stop at meshsign's one-identity rule; the same CSR defects with the
  // caller's single identity are refused by the CSR rules, as istio-csr refuses them.
  it.each([
    { defect: "bad encoding", csr: () => "bad csr", reason: /PEM/ },
    {
      defect: "dns",
      csr: () => mustCsr({ uris: ["spiffe://foo"], dnsNames: ["example.com"] }),
      reason: /only-uri-sans/,
    },
    {
      defect: "ips",
      csr: () => mustCsr({ uris: ["spiffe://foo"], ipAddresses: ["8.8.8.8"] }),
      reason: /only-uri-sans/,
    },
    {
      defect: "common name",
      csr: () => mustCsr({ uris: ["spiffe://foo"], commonName: "jetstack.io" }),
      reason: /no-common-name/,
    },
    {
      defect: "email addresses",
      csr: () => mustCsr({ uris: ["spiffe://foo"], emailAddresses: ["joshua.vanleeuwen@jetstack.io"] }),
      reason: /only-uri-sans/,
    },
    {
      defect: "miss matched identities",
      csr: () => mustCsr({ uris: ["spiffe://josh"] }),
      reason: /uri-matches-identity/,
    },
    {
      defect: "more identities",
      csr: () => mustCsr({ uris: ["spiffe://foo", "spiffe://bar"] }),
      reason: /one-uri-san/,
    },
  ])("with a single identity, a CSR with $defect is refused by its rule", async ({ csr, reason }) => {
    const result = await decide([mockAuthn(["spiffe://foo"], "")], csr());
    expect(result.message).toMatch(reason);
  });
});
