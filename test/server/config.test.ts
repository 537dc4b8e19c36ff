import { existsSync, mkdirSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { formatLabelSelector } from "../../src/api/label-selector.js";
import { type Config, type ConfigSources, envName, loadConfig, OPTIONS } from "../../src/server/config.js";
import { MAX_TIMER_DELAY_MS } from "../../src/server/lib/timer-delay.js";
import { makeCa } from "../lib/openssl-ca.js";
import { configRefusal } from "../lib/config-refusal.js";
import { runMeshsign } from "../lib/meshsign-process.js";
import { TempDir } from "../lib/temp-dir.js";

const tmp = new TempDir("meshsign-config-");
afterAll(() => tmp.remove());

/** A valid --dns01-webhook-config file. */
function webhookConfigFile(): string {
  const ca = tmp.write("webhook-ok-ca.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
  return tmp.write("webhooks-ok.yaml", `webhooks:\n  - groupName: acme.example.com\n    url: https://webhook:8443\n    caFile: ${ca}\n`);
}

let files = 0;
function yamlFile(text: string): string {
  files += 1;
  return tmp.write(`config-${files}.yaml`, text);
}

const problems = configRefusal;

describe("configuration precedence (flag > env > file > default)", () => {
  const file = () => yamlFile("trustDomain: from-file.local\n");
  const cases: { name: string; sources: () => ConfigSources; expected: string }[] = [
    {
      name: "the default applies when nothing is set",
      sources: () => ({ env: {} }),
      expected: "cluster.local",
    },
    {
      name: "the file overrides the default",
      sources: () => ({ file: file(), env: {} }),
      expected: "from-file.local",
    },
    {
      name: "the environment overrides the file",
      sources: () => ({ file: file(), env: { MESHSIGN_TRUST_DOMAIN: "from-env.local" } }),
      expected: "from-env.local",
    },
    {
      name: "a flag overrides the environment and the file",
      sources: () => ({
        file: file(),
        env: { MESHSIGN_TRUST_DOMAIN: "from-env.local" },
        flags: { trustDomain: "from-flag.local" },
      }),
      expected: "from-flag.local",
    },
    {
      name: "an empty environment variable counts as unset",
      sources: () => ({ file: file(), env: { MESHSIGN_TRUST_DOMAIN: "" } }),
      expected: "from-file.local",
    },
  ];
  it.each(cases)("$name", ({ sources, expected }) => {
    expect(loadConfig(sources()).trustDomain).toBe(expected);
  });

  it("reads each kind of value from its source: durations, ints, bools and lists", () => {
    const config = loadConfig({
      file: yamlFile("tokenAudiences: [istio-ca, other]\nenableClientCertAuthenticator: true\n"),
      env: { MESHSIGN_MAX_CLIENT_CERTIFICATE_DURATION: "2h", MESHSIGN_METRICS_PORT: "9999" },
      flags: {
        defaultClientCertificateDuration: "90m",
        caTrustedNodeAccounts: "istio-system/ztunnel, kube-system/agent",
      },
    });
    expect(config).toMatchObject({
      tokenAudiences: ["istio-ca", "other"],
      enableClientCertAuthenticator: true,
      maxClientCertificateDuration: 2 * 3_600_000,
      metricsPort: 9999,
      defaultClientCertificateDuration: 90 * 60_000,
      caTrustedNodeAccounts: ["istio-system/ztunnel", "kube-system/agent"],
    } satisfies Partial<Config>);
  });

  it("turns the shims and the ACME HTTP-01 listener off with their variables set empty, as their flags do; other empty variables count as unset", () => {
    const c = loadConfig({ env: { MESHSIGN_CERTIFICATE_SHIMS: "", MESHSIGN_ACME_HTTP01_SOLVER_ADDRESS: "", MESHSIGN_TRUST_DOMAIN: "" } });
    expect(c).toMatchObject({ certificateShims: [], acmeHttp01SolverAddress: "", trustDomain: "cluster.local" } satisfies Partial<Config>);
  });

  it("gives an ACME Order one hour by default and takes --acme-order-deadline or its variable", () => {
    expect(loadConfig({ env: {} }).acmeOrderDeadline).toBe(3_600_000);
    expect(loadConfig({ env: {}, flags: { acmeOrderDeadline: "10m" } }).acmeOrderDeadline).toBe(600_000);
    expect(loadConfig({ env: { MESHSIGN_ACME_ORDER_DEADLINE: "168h" } }).acmeOrderDeadline).toBe(168 * 3_600_000);
  });

  it("warns about unknown manifest fields by default and refuses them with --strict-manifests or its variable", () => {
    expect(loadConfig({}).strictManifests).toBe(false);
    expect(loadConfig({ flags: { strictManifests: true } }).strictManifests).toBe(true);
    expect(loadConfig({ env: { MESHSIGN_STRICT_MANIFESTS: "true" } }).strictManifests).toBe(true);
    expect(() => loadConfig({ env: { MESHSIGN_STRICT_MANIFESTS: "yes" } })).toThrow(/MESHSIGN_STRICT_MANIFESTS: must be true or false/);
  });

  it("follows istio-csr's names and defaults where the meaning is the same", () => {
    const c = loadConfig({ env: {} });
    expect(c).toMatchObject({
      servingAddress: "0.0.0.0:6443",
      readinessProbePort: 6060,
      metricsPort: 9402,
      trustDomain: "cluster.local",
      clusterId: "Kubernetes",
      enableClientCertAuthenticator: false,
      caTrustedNodeAccounts: [],
      mode: "standalone",
      dataDir: ".meshsign",
      devTokenIssuer: true,
      tokenAuthenticator: "jwks",
      tokenAudiences: ["istio-ca"],
    } satisfies Partial<Config>);
  });

  it("derives mode-dependent defaults from the mode: Kubernetes uses TokenReview and no dev issuer", () => {
    expect(loadConfig({ env: { MESHSIGN_MODE: "kubernetes" } })).toMatchObject({
      tokenAuthenticator: "tokenreview",
      devTokenIssuer: false,
    });
  });

  it("names every option's environment variable after its flag", () => {
    for (const o of OPTIONS)
      expect(envName(o)).toBe(`MESHSIGN_${o.flag.slice(2).toUpperCase().replaceAll("-", "_")}`);
    expect(new Set(OPTIONS.map((o) => o.flag)).size).toBe(OPTIONS.length);
  });
});

describe("a bad value is refused naming its key", () => {
  const cases: { name: string; sources: () => ConfigSources; message: string }[] = [
    {
      name: "a flag duration that is not a duration",
      sources: () => ({ env: {}, flags: { maxClientCertificateDuration: "banana" } }),
      message: '--max-client-certificate-duration: "banana" is not a duration',
    },
    {
      name: "an environment duration that is not a duration",
      sources: () => ({ env: { MESHSIGN_SHUTDOWN_GRACE_PERIOD: "soon" } }),
      message: 'MESHSIGN_SHUTDOWN_GRACE_PERIOD: "soon" is not a duration',
    },
    {
      name: "a shutdown grace period longer than a Node.js timer can wait (it would fire at once)",
      sources: () => ({ env: {}, flags: { shutdownGracePeriod: "600h" } }),
      message: "--shutdown-grace-period: must be at most 596h (Node.js timers wait at most 2^31-1 ms, about 24.8 days; a longer wait ends at once)",
    },
    {
      name: "a shutdown grace period from the environment just past the longest",
      sources: () => ({ env: { MESHSIGN_SHUTDOWN_GRACE_PERIOD: "596h0m1s" } }),
      message: "MESHSIGN_SHUTDOWN_GRACE_PERIOD: must be at most 596h",
    },
    {
      name: "a port out of range",
      sources: () => ({ env: { MESHSIGN_METRICS_PORT: "70000" } }),
      message: "MESHSIGN_METRICS_PORT: must be a port number 0-65535",
    },
    {
      name: "a port that is not a number",
      sources: () => ({ env: {}, flags: { readinessProbePort: "http" } }),
      message: "--readiness-probe-port: must be an integer",
    },
    {
      name: "an address without a port",
      sources: () => ({ env: {}, flags: { servingAddress: "localhost" } }),
      message: "--serving-address: must be host:port",
    },
    {
      name: "an address whose port is empty (a $PORT that was never set)",
      sources: () => ({ env: { MESHSIGN_SERVING_ADDRESS: "0.0.0.0:" } }),
      message: 'MESHSIGN_SERVING_ADDRESS: port must be a number 0-65535, not ""',
    },
    {
      name: "an address whose port is not written in digits",
      sources: () => ({ env: {}, flags: { adminAddress: "127.0.0.1:1e3" } }),
      message: '--admin-address: port must be a number 0-65535, not "1e3"',
    },
    {
      name: "an optional address whose port is empty",
      sources: () => ({ env: {}, flags: { bundleEndpointAddress: "0.0.0.0:" } }),
      message: '--bundle-endpoint-address: port must be a number 0-65535, not ""',
    },
    {
      name: "a serving certificate DNS name that is a URL",
      sources: () => ({ env: {}, flags: { servingDnsNames: "meshsign.example.com,https://meshsign.example.com" } }),
      message: '--serving-certificate-dns-names: "https://meshsign.example.com" is not a DNS name',
    },
    {
      name: "a serving certificate DNS name with an underscore",
      sources: () => ({ env: { MESHSIGN_SERVING_CERTIFICATE_DNS_NAMES: "meshsign_svc" } }),
      message: 'MESHSIGN_SERVING_CERTIFICATE_DNS_NAMES: "meshsign_svc" is not a DNS name',
    },
    {
      name: "a namespace option that is not a namespace name",
      sources: () => ({ env: {}, flags: { clusterResourceNamespace: "Meshsign_System" } }),
      message: '--cluster-resource-namespace: "Meshsign_System" is not a namespace name',
    },
    {
      name: "a leader-election namespace from the environment that is not a namespace name",
      sources: () => ({ env: { MESHSIGN_LEADER_ELECTION_NAMESPACE: "meshsign system" } }),
      message: 'MESHSIGN_LEADER_ELECTION_NAMESPACE: "meshsign system" is not a namespace name',
    },
    {
      name: "a JWKS file that cannot be read",
      sources: () => ({ env: {}, flags: { jwksFile: "/nonexistent/jwks.json", tokenIssuer: "https://kubernetes.default.svc" } }),
      message: "--jwks-file: cannot read /nonexistent/jwks.json (ENOENT)",
    },
    {
      name: "an OIDC issuer that is not a URL",
      sources: () => ({ env: { MESHSIGN_OIDC_ISSUER_URL: "kubernetes.default.svc" } }),
      message: 'MESHSIGN_OIDC_ISSUER_URL: "kubernetes.default.svc" is not a URL',
    },
    {
      name: "an upper-case trust domain",
      sources: () => ({ env: {}, flags: { trustDomain: "Cluster.Local" } }),
      message: "--trust-domain: must be a lowercase SPIFFE trust domain",
    },
    {
      name: "an unknown mode",
      sources: () => ({ env: {}, flags: { mode: "cloud" } }),
      message: "--mode: must be one of standalone, kubernetes",
    },
    {
      name: "an unknown gRPC server",
      sources: () => ({ env: { MESHSIGN_GRPC_IMPLEMENTATION: "grpc-go" } }),
      message: "MESHSIGN_GRPC_IMPLEMENTATION: must be one of grpc-js, h2",
    },
    {
      name: "an unknown log level",
      sources: () => ({ file: yamlFile("logLevel: loud\n"), env: {} }),
      message: "logLevel: must be one of trace, debug, info, warn, error, fatal",
    },
    {
      name: "a bool that is not one",
      sources: () => ({ env: { MESHSIGN_ENABLE_CLIENT_CERT_AUTHENTICATOR: "maybe" } }),
      message: "MESHSIGN_ENABLE_CLIENT_CERT_AUTHENTICATOR: must be true or false",
    },
    {
      name: "a trusted node account without a namespace",
      sources: () => ({ env: {}, flags: { caTrustedNodeAccounts: "ztunnel" } }),
      message: "--ca-trusted-node-accounts: entries must be namespace/serviceaccount",
    },
    {
      name: "a serving IP that is not an IP",
      sources: () => ({ env: {}, flags: { servingIpAddresses: "127.0.0.1,localhost" } }),
      message: "--serving-certificate-ip-addresses: must list IP addresses",
    },
    {
      name: "an unknown CSR key type",
      sources: () => ({ env: {}, flags: { csrKeyTypes: "rsa,dsa" } }),
      message: "--csr-key-types: entries must be rsa, ecdsa-p256, ecdsa-p384 or ed25519",
    },
    {
      name: "no token audience",
      sources: () => ({ env: {}, flags: { tokenAudiences: "" } }),
      message: "--token-audiences: needs at least one audience",
    },
    {
      name: "a CSR size cap too small to hold a CSR",
      sources: () => ({ env: {}, flags: { maxCsrBytes: "100" } }),
      message: "--max-csr-bytes: must be 512-1048576",
    },
    {
      name: "a DNS-01 webhook config whose webhook URL is plain http",
      sources: () => {
        const ca = tmp.write("webhook-ca.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
        const webhooks = `webhooks:\n  - groupName: acme.example.com\n    url: http://webhook:8443\n    caFile: ${ca}\n`;
        return { env: {}, flags: { dns01WebhookConfig: yamlFile(webhooks) } };
      },
      message: "webhooks[0].url: must be an https URL",
    },
    {
      name: "a DNS-01 webhook config file that does not exist",
      sources: () => ({ env: {}, flags: { dns01WebhookConfig: "/nonexistent/webhooks.yaml" } }),
      message: "--dns01-webhook-config: /nonexistent/webhooks.yaml: cannot read the file",
    },
    {
      name: "a DNS-01 webhook config in kubernetes mode",
      sources: () => ({ env: {}, flags: { mode: "kubernetes", dns01WebhookConfig: webhookConfigFile() } }),
      message: "--dns01-webhook-config: standalone only",
    },
    {
      name: "a DNS-01 recursive nameserver that is neither host:port nor a DoH URL",
      sources: () => ({ env: {}, flags: { dns01RecursiveNameservers: "8.8.8.8:53,http://dns.example/query" } }),
      message: '--dns01-recursive-nameservers: nameserver "http://dns.example/query" is invalid: only https:// URLs (DNS over HTTPS) are supported',
    },
    {
      name: "DNS-01 recursive-only propagation checks with no resolvers to ask",
      sources: () => ({ env: {}, flags: { dns01RecursiveNameserversOnly: "true" } }),
      message: "--dns01-recursive-nameservers-only: needs --dns01-recursive-nameservers",
    },
    {
      name: "an ACME Order deadline shorter than a minute",
      sources: () => ({ env: {}, flags: { acmeOrderDeadline: "30s" } }),
      message: "--acme-order-deadline: must be between 1m and 168h",
    },
    {
      name: "an ACME Order deadline longer than a week",
      sources: () => ({ env: { MESHSIGN_ACME_ORDER_DEADLINE: "200h" } }),
      message: "MESHSIGN_ACME_ORDER_DEADLINE: must be between 1m and 168h",
    },
    {
      name: "an ACME Order deadline that is not a duration",
      sources: () => ({ env: {}, flags: { acmeOrderDeadline: "an hour" } }),
      message: '--acme-order-deadline: "an hour" is not a duration',
    },
    {
      name: "too many workers",
      sources: () => ({ env: {}, flags: { workers: "100" } }),
      message: "--workers: must be 0-64",
    },
    {
      name: "a huge clock skew",
      sources: () => ({ env: {}, flags: { tokenClockSkew: "3600" } }),
      message: "--token-clock-skew: must be 0-300 seconds",
    },
    {
      name: "a zero serving certificate lifetime",
      sources: () => ({ env: {}, flags: { servingCertificateDuration: "0s" } }),
      message: "--serving-certificate-duration: must be at least 1h0m0s (cert-manager's shortest Certificate duration)",
    },
    {
      name: "a serving certificate shorter than cert-manager's shortest Certificate (it was raised to 1h in silence)",
      sources: () => ({ env: { MESHSIGN_SERVING_CERTIFICATE_DURATION: "30m" } }),
      message: "MESHSIGN_SERVING_CERTIFICATE_DURATION: must be at least 1h0m0s",
    },
    {
      name: "an istiod certificate shorter than cert-manager's shortest Certificate",
      sources: () => ({ env: {}, flags: { mode: "kubernetes", istiodCertificateDuration: "45m" } }),
      message: "--istiod-certificate-duration: must be at least 1h0m0s",
    },
    {
      name: "an istiod renew-before as long as the certificate",
      sources: () => ({ env: {}, flags: { mode: "kubernetes", istiodCertificateDuration: "2h", istiodCertificateRenewBefore: "2h" } }),
      message: "--istiod-certificate-renew-before: must be shorter than --istiod-certificate-duration",
    },
    {
      name: "an unknown YAML key",
      sources: () => ({ file: yamlFile("trustDomian: typo.local\n"), env: {} }),
      message: 'unknown key "trustDomian"',
    },
    {
      name: "a YAML file that is not YAML",
      sources: () => ({ file: yamlFile("trustDomain: [unclosed\n"), env: {} }),
      message: "is not valid YAML",
    },
    {
      name: "a YAML file that is a list",
      sources: () => ({ file: yamlFile("- trustDomain\n"), env: {} }),
      message: "must be a YAML mapping",
    },
    {
      name: "a config file that does not exist",
      sources: () => ({ file: tmp.path("missing.yaml"), env: {} }),
      message: "cannot read config file",
    },
    {
      name: "the dev token issuer in kubernetes mode",
      sources: () => ({ env: { MESHSIGN_MODE: "kubernetes" }, flags: { devTokenIssuer: "true" } }),
      message: "--dev-token-issuer: the development token issuer can never be enabled in kubernetes mode",
    },
    {
      name: "the dev issuer off with no other token source",
      sources: () => ({ env: { MESHSIGN_DEV_TOKEN_ISSUER: "false" } }),
      message: "--token-authenticator: jwks needs --jwks-file, --jwks-url or --oidc-issuer-url",
    },
    {
      name: "a JWKS URL without --token-issuer",
      sources: () => ({ env: { MESHSIGN_JWKS_URL: "https://example.com/jwks" } }),
      message: "--token-issuer: required with --jwks-url",
    },
    {
      name: "a manifests folder in kubernetes mode, where it would be ignored",
      sources: () => ({ env: { MESHSIGN_MODE: "kubernetes", MESHSIGN_MANIFESTS: "/etc/meshsign/manifests" } }),
      message: "--manifests: standalone only; in kubernetes mode apply the manifests to the cluster (kubectl apply)",
    },
    {
      name: "Secret files and their hook in kubernetes mode, where none are written",
      sources: () => ({ env: {}, flags: { mode: "kubernetes", outputDir: "/var/lib/certs", secretHook: "systemctl reload nginx" } }),
      message: "--output-dir: standalone only; in kubernetes mode Secrets are written to the API server; mount them where files are needed\n  --secret-hook: standalone only",
    },
    {
      name: "Kubernetes-only options in standalone mode, where they would be ignored",
      sources: () => ({
        env: { MESHSIGN_CONFIGMAP_NAMESPACE_SELECTOR: "istio-injection=enabled" },
        flags: { kubeconfig: "/root/.kube/config", istiodCertificateEnable: true },
      }),
      message:
        "--kubeconfig: kubernetes mode only (how to reach the API server); standalone has no cluster\n  MESHSIGN_CONFIGMAP_NAMESPACE_SELECTOR: kubernetes mode only (namespaces that get istio-ca-root-cert); standalone has no cluster\n  --istiod-certificate-enable: kubernetes mode only",
    },
    {
      name: "a secret hook that is not installed (it used to fail only after the first Secret change)",
      sources: () => ({ env: {}, flags: { secretHook: "/usr/local/bin/reload-nginx-missing now" } }),
      message: "--secret-hook: /usr/local/bin/reload-nginx-missing is not an executable file",
    },
    {
      name: "a secret hook not on PATH",
      sources: () => ({ env: { MESHSIGN_SECRET_HOOK: "no-such-reload-command" } }),
      message: "MESHSIGN_SECRET_HOOK: no-such-reload-command is not an executable on PATH",
    },
    {
      name: "a secret hook written for a shell",
      sources: () => ({ env: {}, flags: { secretHook: 'sh -c "systemctl reload nginx"' } }),
      message: "--secret-hook: is split on spaces and run without a shell: quotes, $, pipes and redirections are not interpreted",
    },
    {
      name: "an Istio revision that cannot be part of istiod's DNS name",
      sources: () => ({ env: {}, flags: { mode: "kubernetes", istioRevisions: "default,1.24.2" } }),
      message: '--istio-revisions: "1.24.2" is not an Istio revision name',
    },
    {
      name: "a default lifetime above the maximum",
      sources: () => ({
        env: {},
        flags: { maxClientCertificateDuration: "1h", defaultClientCertificateDuration: "2h" },
      }),
      message: "--default-client-certificate-duration: must not exceed --max-client-certificate-duration",
    },
  ];

  it.each(cases)("$name", ({ sources, message }) => {
    expect(problems(sources())).toContain(message);
  });

  it("skips the serving-only checks for a client command, keeping the kubernetes dev-issuer refusal", () => {
    const off = { env: { MESHSIGN_DEV_TOKEN_ISSUER: "false" } };
    expect(loadConfig(off, { purpose: "client" }).devTokenIssuer).toBe(false);
    expect(() =>
      loadConfig(
        { env: { MESHSIGN_MODE: "kubernetes", MESHSIGN_DEV_TOKEN_ISSUER: "true" } },
        { purpose: "client" },
      ),
    ).toThrow(/can never be enabled in kubernetes mode/);
  });

  it("accepts host names, a wildcard and the defaults as serving certificate DNS names", () => {
    expect(loadConfig({ env: {}, flags: { servingDnsNames: "localhost,meshsign.meshsign-system.svc,*.mesh.example.com" } }).servingDnsNames).toEqual([
      "localhost",
      "meshsign.meshsign-system.svc",
      "*.mesh.example.com",
    ]);
  });

  it("reads label selectors as Kubernetes writes label keys and equality: underscores, prefixes, == and spaces", () => {
    const c = loadConfig({ env: {}, flags: { mode: "kubernetes", certificateSelector: "team_name=mesh, app.kubernetes.io/part-of==istio", configmapNamespaceSelector: "istio-injection=enabled" } });
    expect(formatLabelSelector(c.certificateSelector)).toBe("app.kubernetes.io/part-of=istio,team_name=mesh");
    expect(formatLabelSelector(c.configmapNamespaceSelector)).toBe("istio-injection=enabled");
  });

  it("reads istio-csr's set-based selectors from a flag, a variable and the file, parsed once at load", () => {
    const file = yamlFile("certificateSelector: 'tier notin (legacy), meshsign.io/managed'\n");
    const c = loadConfig({
      file,
      env: { MESHSIGN_CONFIGMAP_NAMESPACE_SELECTOR: "maistra.io/member-of in (istio-system)" },
      flags: { mode: "kubernetes" },
    });
    expect(c.configmapNamespaceSelector.requirements).toEqual([
      { key: "maistra.io/member-of", operator: "In", values: ["istio-system"] },
    ]);
    expect(c.certificateSelector.requirements).toEqual([
      { key: "tier", operator: "NotIn", values: ["legacy"] },
      { key: "meshsign.io/managed", operator: "Exists", values: [] },
    ]);
    const flags = { mode: "kubernetes", configmapNamespaceSelector: "!istio-injection, env != prod, size > 2", certificateSelector: "" };
    const d = loadConfig({ env: {}, flags });
    expect(formatLabelSelector(d.configmapNamespaceSelector)).toBe("env!=prod,!istio-injection,size>2");
    expect(d.certificateSelector.requirements).toEqual([]);
  });

  it.each([
    ["env in prod", '"env in prod": expected "(" after "env in", found "prod"'],
    ["env notin ()x", '"env notin ()x": expected "," or the end after "env notin ()", found "x"'],
    ["-bad=x", '"-bad=x": "-bad" is not a label key: its name must start and end with a letter or digit'],
    ["app=a b", '"app=a b": expected "," or the end after "app=a", found "b"'],
    ["app=x,", '"app=x,": expected a label key or "!" after ",", found the end'],
    ["size>big", '"size>big": "size": > and < compare whole numbers, and "big" is not one'],
    ["env in (prod,-x)", '"env in (prod,-x)": "-x" is not a label value (of "env")'],
  ])("refuses the selector %j at load, saying what is wrong", (selector, message) => {
    expect(problems({ env: {}, flags: { certificateSelector: selector } })).toContain(`--certificate-selector: ${message}`);
    expect(problems({ env: { MESHSIGN_CONFIGMAP_NAMESPACE_SELECTOR: selector } })).toContain(`MESHSIGN_CONFIGMAP_NAMESPACE_SELECTOR: ${message}`);
  });

  it("accepts a secret hook found on PATH or by path, with its arguments", () => {
    expect(loadConfig({ env: {}, flags: { secretHook: "true --reload" } }).secretHook).toBe("true --reload");
    expect(loadConfig({ env: {}, flags: { secretHook: `${process.execPath} -e 0` } }).secretHook).toBe(`${process.execPath} -e 0`);
  });

  it("names the file next to a bad key read from it", () => {
    const file = yamlFile("metricsPort: -1\n");
    expect(problems({ file, env: {} })).toContain(`${file}: metricsPort: must be a port number 0-65535`);
  });

  it("refuses a duration written in the file as a bare number, which has no unit", () => {
    const file = yamlFile("shutdownGracePeriod: 30\nmaxQueueWait: 2s\n");
    expect(problems({ file, env: {} })).toContain(`${file}: shutdownGracePeriod: 30 has no unit: write a duration such as 30s, 30m or 30h`);
  });

  it("lists every bad key at once, not only the first", () => {
    const message = problems({
      env: { MESHSIGN_METRICS_PORT: "x" },
      flags: { trustDomain: "UPPER", maxClientCertificateDuration: "banana" },
    });
    expect(message).toContain("MESHSIGN_METRICS_PORT");
    expect(message).toContain("--trust-domain");
    expect(message).toContain("--max-client-certificate-duration");
  });
});

describe("meshsign serve with a bad configuration", () => {
  it.each<{ name: string; args: string[]; env: Record<string, string>; message: string }>([
    {
      name: "a bad flag",
      args: ["--max-client-certificate-duration", "banana"],
      env: {},
      message: '--max-client-certificate-duration: "banana" is not a duration',
    },
    {
      name: "the dev issuer turned on in kubernetes mode",
      args: ["--mode", "kubernetes", "--dev-token-issuer"],
      env: {},
      message: "can never be enabled in kubernetes mode",
    },
    {
      name: "a JWKS file without the issuer its tokens carry",
      args: ["--dev-token-issuer=false", "--jwks-file", "/dev/null"],
      env: {},
      message: "--token-issuer: required with --jwks-file (the iss its tokens carry",
    },
    {
      name: "a bad entry in a list flag given twice (a repeated list flag adds to the list)",
      args: ["--csr-key-types", "dsa", "--csr-key-types", "rsa"],
      env: {},
      message: "--csr-key-types: entries must be rsa, ecdsa-p256, ecdsa-p384 or ed25519",
    },
    {
      name: "a label selector Kubernetes would refuse",
      args: ["--configmap-namespace-selector", "maistra.io/member-of in istio-system"],
      env: {},
      message: '--configmap-namespace-selector: "maistra.io/member-of in istio-system": expected "(" after "maistra.io/member-of in", found "istio-system"',
    },
    {
      name: "a bad environment variable",
      args: [],
      env: { MESHSIGN_WORKERS: "lots" },
      message: "MESHSIGN_WORKERS: must be an integer",
    },
  ])("exits 1 before creating anything, naming the key, for $name", async ({ args, env, message }) => {
    const cwd = tmp.path(`cli-${files++}`);
    mkdirSync(cwd);
    const r = await runMeshsign(["serve", ...args], { cwd, env });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(message);
    expect(existsSync(`${cwd}/.meshsign`)).toBe(false);
  });
});

describe("meshsign serve with a --root-ca-file that does not hold the CA's root", () => {
  it("exits 1 naming the flag and the file, not only the data dir's CA", async () => {
    const cwd = tmp.path(`cli-${files++}`);
    mkdirSync(cwd);
    const other = makeCa(cwd, "unrelated");
    const r = await runMeshsign(
      ["serve", "--root-ca-file", other.certFile, "--serving-address", "127.0.0.1:0", "--readiness-probe-port", "0", "--metrics-port", "0", "--admin-address", "127.0.0.1:0", "--acme-http01-solver-address", ""],
      { cwd, env: {} },
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`do not verify against the roots of --root-ca-file ${other.certFile}: `);
  });
});

describe("durations that become a Node.js timer", () => {
  it("loads the longest shutdown grace period, which with the workers' 2 s more still fits a timer", () => {
    const config = loadConfig({ env: {}, flags: { shutdownGracePeriod: "596h" } });
    expect(config.shutdownGracePeriod).toBe(596 * 3_600_000);
    // primary.ts waits for its workers the grace period and 2 s more.
    expect(config.shutdownGracePeriod + 2000).toBeLessThanOrEqual(MAX_TIMER_DELAY_MS);
  });
});
