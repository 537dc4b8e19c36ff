import { describe, expect, it } from "vitest";
import { SERVE_HELP_AFTER, serveOptionArgument, serveOptionHelp, serveOptionParser } from "../../src/cli/lib/serve-help.js";
import { envName, OPTIONS } from "../../src/server/config.js";

const option = (flag: string) => {
  const o = OPTIONS.find((x) => x.flag === flag);
  if (o === undefined) throw new Error(`no option ${flag}`);
  return o;
};

describe("serve --help", () => {
  it("names every option's MESHSIGN_* variable", () => {
    for (const o of OPTIONS) expect(serveOptionHelp(o)).toContain(`env ${envName(o)}`);
  });

  const cases: [string, string][] = [
    ["--log-format", "log format (one of: json, text; default: json; env MESHSIGN_LOG_FORMAT)"],
    ["--ca-key-algorithm", "algorithm of a root CA created on first start (one of: ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096, ed25519; default: ecdsa-p256; env MESHSIGN_CA_KEY_ALGORITHM)"],
    ["--max-client-certificate-duration", "longest client certificate lifetime (longer is clamped) (a duration; default: 24h; env MESHSIGN_MAX_CLIENT_CERTIFICATE_DURATION)"],
    ["--istiod-certificate-renew-before", "renew istiod's certificate this long before expiry (a duration; default: 30m; env MESHSIGN_ISTIOD_CERTIFICATE_RENEW_BEFORE)"],
    ["--token-authenticator", "jwks (local verification) or tokenreview (one of: jwks, tokenreview; default: jwks standalone, tokenreview kubernetes; env MESHSIGN_TOKEN_AUTHENTICATOR)"],
    ["--jwks-file", "JWKS file for the jwks authenticator (env MESHSIGN_JWKS_FILE)"],
    [
      "--auto-certificate-annotations",
      "Ingress annotations that, set to true, ask for a Certificate from the default issuer (comma-separated; a repeated flag adds to the list; default: kubernetes.io/tls-acme; env MESHSIGN_AUTO_CERTIFICATE_ANNOTATIONS)",
    ],
    [
      "--configmap-namespace-selector",
      "namespaces that get istio-ca-root-cert (empty = all) (a Kubernetes label selector: k=v, k!=v, k in (a,b), k notin (a,b), k, !k, k>n, k<n; commas join; env MESHSIGN_CONFIGMAP_NAMESPACE_SELECTOR)",
    ],
  ];
  it.each(cases)("explains %s with its default and allowed values", (flag, text) => {
    expect(serveOptionHelp(option(flag))).toBe(text);
  });

  it("gives the default of every option that has one, in its own words or as default:", () => {
    for (const o of OPTIONS) {
      const d = o.default as unknown;
      const empty =
        d === "" ||
        (Array.isArray(d) && d.length === 0) ||
        (typeof d === "object" && d !== null && (d as { requirements?: unknown[] }).requirements?.length === 0);
      if (!empty) expect(serveOptionHelp(o), o.flag).toMatch(/[(;] ?default[: ]/);
    }
  });

  it("shows what kind of value each flag takes", () => {
    expect(serveOptionArgument(option("--log-format"))).toBe("<json|text>");
    expect(serveOptionArgument(option("--ca-duration"))).toBe("<duration>");
    expect(serveOptionArgument(option("--admin-address"))).toBe("<host:port>");
    expect(serveOptionArgument(option("--strict-manifests"))).toBe("[bool]");
    expect(serveOptionArgument(option("--certificate-selector"))).toBe("<selector>");
  });

  it("adds a repeated list flag to the list, as istio-csr's string-slice flags do, and lets other flags' last occurrence win", () => {
    const list = serveOptionParser(option("--ca-trusted-node-accounts"));
    expect(list("kube-system/agent", list("istio-system/ztunnel", undefined))).toBe("istio-system/ztunnel,kube-system/agent");
    const plain = serveOptionParser(option("--trust-domain"));
    expect(plain("b.example", plain("a.example", undefined))).toBe("b.example");
    expect(serveOptionParser(option("--strict-manifests"))(undefined, undefined)).toBe(true);
  });

  it("explains the duration syntax and which source wins", () => {
    expect(SERVE_HELP_AFTER).toContain("1h30m");
    expect(SERVE_HELP_AFTER).toContain("a flag wins over the variable");
  });
});
