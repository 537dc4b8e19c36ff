/**
 * The shape of the Helm chart's values, from which `npm run gen:chart` writes
 * deploy/charts/meshsign/values.schema.json. Helm validates every install,
 * upgrade, template and lint against that schema, so a misspelled value
 * (`app.tls.trustDomian`) or a bad one (`app.logLevel: verbose`) is refused with
 * its path instead of being silently ignored. Our own objects are strict;
 * Kubernetes types passed through verbatim (resources, affinity, volumes...) are
 * left to the API server to validate. Enumerations come from meshsign's own
 * option table, so the chart accepts exactly what `meshsign serve` accepts.
 */
import { z } from "zod";
import { CERTIFICATE_SHIMS, OPTIONS } from "../../src/server/config.js";

function optionEnum(flag: string): [string, ...string[]] {
  const kind = OPTIONS.find((o) => o.flag === flag)?.kind;
  if (typeof kind !== "object") throw new Error(`${flag} is not an enumeration`);
  return [...kind.enum] as [string, ...string[]];
}

/** Go's time.ParseDuration syntax, as meshsign reads it; empty keeps meshsign's default. */
const duration = z
  .string()
  .regex(/^$|^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/, "a Go duration such as 1h or 90m, or empty");
const port = z.int().min(1).max(65535);
/** A Kubernetes object passed through verbatim. */
const kubeObject = z.record(z.string(), z.unknown());
const kubeList = z.array(kubeObject);
const stringMap = z.record(z.string(), z.string());
/**
 * A Kubernetes label selector as meshsign (and labels.Parse) reads it: k=v, k==v, k!=v, k in (a,b),
 * k notin (a,b), k, !k, k>n, k<n, joined by commas, blanks between tokens. A JSON schema pattern
 * cannot count, so the 63- and 253-character limits and int64's range are left to meshsign's own
 * check at start-up; everything else the pattern refuses as meshsign does (test/deploy/chart.test.ts).
 */
const labelSelector = z.string().regex(
  (() => {
    const blank = "[ \\t\\r\\n]*";
    const name = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
    const key = `([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?${name}`;
    const value = `(${name})?`;
    const set = `\\(${blank}${value}(${blank},${blank}${value})*${blank}\\)`;
    const relation = `${blank}(=|==|!=)${blank}${value}|${blank}(<|>)${blank}[0-9]+|[ \\t\\r\\n]+(in|notin)${blank}${set}`;
    const requirement = `${blank}(!${blank}${key}|${key}(${relation})?)${blank}`;
    return new RegExp(`^(${requirement}(,${requirement})*|${blank})$`);
  })(),
  "a Kubernetes label selector (k=v, k!=v, k in (a,b), k notin (a,b), k, !k, joined by commas), or empty",
);
const issuerKind = z.enum(optionEnum("--issuer-kind"));

export const chartValuesSchema = z.strictObject({
  // Helm passes `global` to every chart.
  global: kubeObject.optional(),
  crds: z.strictObject({ enabled: z.boolean(), keep: z.boolean() }),
  replicaCount: z.int().min(0),
  image: z.strictObject({
    repository: z.string().min(1),
    tag: z.string(),
    digest: z.string().regex(/^$|^sha256:[0-9a-f]{64}$/, "sha256:<64 hex digits>, or empty"),
    pullPolicy: z.enum(["Always", "IfNotPresent", "Never"]),
  }),
  imagePullSecrets: z.array(z.strictObject({ name: z.string().min(1) })),
  service: z.strictObject({ type: z.enum(["ClusterIP", "NodePort", "LoadBalancer"]), port }),
  app: z.strictObject({
    logLevel: z.enum(["", ...optionEnum("--log-level")]),
    logFormat: z.enum(optionEnum("--log-format")),
    metrics: z.strictObject({ port }),
    readinessProbe: z.strictObject({ port }),
    bundleEndpoint: z.strictObject({ enabled: z.boolean(), port, profile: z.enum(optionEnum("--bundle-endpoint-profile")) }),
    runtimeConfiguration: z.strictObject({
      create: z.boolean(),
      name: z.string(),
      issuer: z.strictObject({ name: z.string(), kind: issuerKind, group: z.string().min(1) }),
    }),
    certmanager: z.strictObject({
      namespace: z.string().min(1),
      issuer: z.strictObject({ name: z.string(), kind: issuerKind, group: z.literal("cert-manager.io") }),
    }),
    tls: z.strictObject({
      trustDomain: z.string().regex(/^[a-z0-9._-]{1,255}$/, "a lowercase SPIFFE trust domain"),
      rootCAFile: z.string(),
      certificateDNSNames: z.array(z.string().min(1)),
      certificateDuration: duration,
      servingTLSMinVersion: z.enum(["", "VersionTLS12", "VersionTLS13"]),
      servingTLSCipherSuites: z.array(z.string().regex(/^TLS_[A-Z0-9_]+$/, "a cipher suite by Go's name")),
      servingTLSCurvePreferences: z.array(z.string().min(1)),
      istiodCertificateEnable: z.boolean(),
      istiodCertificateDuration: duration,
      istiodCertificateRenewBefore: duration,
      istiodAdditionalDNSNames: z.array(
        z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, "a DNS-1123 subdomain"),
      ),
      istiodPrivateKeyAlgorithm: z.enum(["", "RSA", "ECDSA"]),
      istiodPrivateKeySize: z.int().min(0).max(8192),
    }),
    server: z.strictObject({
      authenticators: z.strictObject({ enableClientCert: z.boolean() }),
      clusterID: z.string().min(1),
      maxCertificateDuration: duration,
      serving: z.strictObject({ address: z.string().min(1), port }),
      caTrustedNodeAccounts: z.string(),
      workers: z.int().min(0).max(64),
    }),
    istio: z.strictObject({ revisions: z.array(z.string().min(1)), namespace: z.string() }),
    controller: z.strictObject({ leaderElectionNamespace: z.string(), configmapNamespaceSelector: labelSelector }),
    shims: z.strictObject({
      enabled: z.boolean(),
      sources: z.array(z.enum(CERTIFICATE_SHIMS as unknown as [string, ...string[]])),
      defaultIssuer: z.strictObject({ name: z.string(), kind: z.string().min(1), group: z.string().min(1) }),
      istioGatewaySecretNamespace: z.string().regex(/^$|^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, "a namespace name, or empty"),
    }),
  }),
  resources: kubeObject,
  securityContext: kubeObject,
  podSecurityContext: kubeObject,
  volumes: kubeList,
  volumeMounts: kubeList,
  podLabels: stringMap,
  podAnnotations: stringMap,
  commonLabels: stringMap,
  nodeSelector: stringMap,
  tolerations: kubeList,
  topologySpreadConstraints: kubeList,
  affinity: kubeObject,
  podDisruptionBudget: z.strictObject({
    enabled: z.boolean(),
    minAvailable: z.union([z.int().min(0), z.string().regex(/^\d+%$/, "a count or a percentage")]),
  }),
  networkPolicy: z.strictObject({ enabled: z.boolean() }),
});

/** values.schema.json's text. */
export function renderValuesSchema(): string {
  return `${JSON.stringify(z.toJSONSchema(chartValuesSchema, { target: "draft-7" }), null, 2)}\n`;
}
