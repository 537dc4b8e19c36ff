import { describe, expect, it } from "vitest";
import { isMeshsignError } from "../../src/errors/index.js";
import {
  istioIdentity,
  parseIstioIdentity,
  parseSpiffeId,
  validateTrustDomain,
} from "../../src/pki/spiffe.js";

function invalidCode(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return isMeshsignError(err) ? err.code : `non-meshsign: ${String(err)}`;
  }
}

describe("parseSpiffeId (SPIFFE-ID.md §2)", () => {
  const valid = [
    {
      name: "an Istio workload ID",
      id: "spiffe://cluster.local/ns/default/sa/sleep",
      td: "cluster.local",
      path: "/ns/default/sa/sleep",
    },
    { name: "a trust domain's own ID (no path)", id: "spiffe://example.org", td: "example.org", path: "" },
    {
      name: "a trust domain with digits, dashes and underscores",
      id: "spiffe://a-b_c.9/x",
      td: "a-b_c.9",
      path: "/x",
    },
    { name: "an IPv4 trust domain", id: "spiffe://10.0.0.1/x", td: "10.0.0.1", path: "/x" },
    {
      name: "path segments with upper case, dots and dashes",
      id: "spiffe://td/Ab.C-d_e/.x./..y",
      td: "td",
      path: "/Ab.C-d_e/.x./..y",
    },
    {
      name: "a 2048-byte ID",
      id: `spiffe://td/${"a".repeat(2048 - 12)}`,
      td: "td",
      path: `/${"a".repeat(2036)}`,
    },
    { name: "a 255-byte trust domain", id: `spiffe://${"t".repeat(255)}/x`, td: "t".repeat(255), path: "/x" },
  ];
  for (const c of valid) {
    it(`accepts ${c.name}`, () => {
      expect(parseSpiffeId(c.id)).toEqual({ trustDomain: c.td, path: c.path, uri: c.id });
    });
  }

  const invalid = [
    { name: "another scheme", id: "https://cluster.local/ns/a/sa/b" },
    { name: "an upper-case scheme", id: "SPIFFE://cluster.local/ns/a/sa/b" },
    { name: "a missing scheme separator", id: "spiffe:cluster.local/ns/a" },
    { name: "an empty trust domain", id: "spiffe:///ns/a/sa/b" },
    { name: "an upper-case trust domain", id: "spiffe://Cluster.local/ns/a" },
    { name: "userinfo", id: "spiffe://user@cluster.local/ns/a" },
    { name: "a port", id: "spiffe://cluster.local:8080/ns/a" },
    { name: "an IPv6 trust domain", id: "spiffe://[::1]/ns/a" },
    { name: "a query", id: "spiffe://cluster.local/ns/a?x=1" },
    { name: "a fragment", id: "spiffe://cluster.local/ns/a#frag" },
    { name: "percent-encoding in the path", id: "spiffe://cluster.local/ns/a%2Fb" },
    { name: "percent-encoding in the trust domain", id: "spiffe://cluster%2Elocal/ns/a" },
    { name: "an empty path segment", id: "spiffe://cluster.local/ns//sa/b" },
    { name: "a trailing slash", id: "spiffe://cluster.local/ns/a/" },
    { name: "a root path only", id: "spiffe://cluster.local/" },
    { name: "a dot segment", id: "spiffe://cluster.local/ns/./a" },
    { name: "a dot-dot segment", id: "spiffe://cluster.local/ns/../a" },
    { name: "a space in a segment", id: "spiffe://cluster.local/ns/a b" },
    { name: "a non-ASCII segment", id: "spiffe://cluster.local/ns/ü" },
    { name: "a 2049-byte ID", id: `spiffe://td/${"a".repeat(2049 - 12)}` },
    { name: "a 256-byte trust domain", id: `spiffe://${"t".repeat(256)}/x` },
    { name: "an empty string", id: "" },
  ];
  for (const c of invalid) {
    it(`refuses ${c.name} with ERR_SPIFFE_ID_INVALID`, () => {
      expect(invalidCode(() => parseSpiffeId(c.id))).toBe("ERR_SPIFFE_ID_INVALID");
    });
  }

  it("refuses a trust domain with characters outside [a-z0-9._-]", () => {
    expect(invalidCode(() => validateTrustDomain("foo/bar"))).toBe("ERR_SPIFFE_ID_INVALID");
    expect(validateTrustDomain("foo.bar")).toBe("foo.bar");
  });
});

describe("Istio identities", () => {
  it("istioIdentity builds spiffe://<td>/ns/<ns>/sa/<sa>", () => {
    expect(istioIdentity("cluster.local", "default", "sleep")).toBe(
      "spiffe://cluster.local/ns/default/sa/sleep",
    );
  });

  const badParts = [
    { name: "an empty namespace", args: ["cluster.local", "", "sa"] },
    { name: "an empty service account", args: ["cluster.local", "ns", ""] },
    { name: "a slash in the namespace", args: ["cluster.local", "a/b", "sa"] },
    { name: "an invalid trust domain", args: ["Cluster.Local", "ns", "sa"] },
  ] as const;
  for (const c of badParts) {
    it(`istioIdentity refuses ${c.name}`, () => {
      expect(invalidCode(() => istioIdentity(c.args[0], c.args[1], c.args[2]))).toBe("ERR_SPIFFE_ID_INVALID");
    });
  }

  it("parseIstioIdentity returns the parts of a valid identity", () => {
    expect(parseIstioIdentity("spiffe://foo.bar/ns/istio-system/sa/ztunnel")).toEqual({
      trustDomain: "foo.bar",
      namespace: "istio-system",
      serviceAccount: "ztunnel",
    });
  });

  const notIstio = [
    { name: "a path with too few segments", id: "spiffe://td/ns/a" },
    { name: "a path with too many segments", id: "spiffe://td/ns/a/sa/b/c" },
    { name: "swapped keywords", id: "spiffe://td/sa/a/ns/b" },
    { name: "a different keyword", id: "spiffe://td/namespace/a/sa/b" },
    { name: "no path", id: "spiffe://invalid" },
  ];
  for (const c of notIstio) {
    it(`parseIstioIdentity refuses ${c.name}`, () => {
      expect(invalidCode(() => parseIstioIdentity(c.id))).toBe("ERR_SPIFFE_ID_INVALID");
    });
  }
});
