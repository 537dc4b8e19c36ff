import type { Config } from "./config.js";

/** The Certificate that keeps istiod's serving Secret `istiod-tls` alive (istio-csr's `istiod` Certificate). */
export const ISTIOD_CERTIFICATE = "istiod";
export const ISTIOD_SECRET = "istiod-tls";

/**
 * istiod's DNS names: `istiod.<ns>.svc` for the default revision and
 * `istiod-<rev>.<ns>.svc` for each other one, default first, no duplicates
 * (istio-csr's makeDNSNamesFromRevisions).
 */
export function istiodDnsNames(namespace: string, revisions: readonly string[]): string[] {
  const names = revisions.map((r) => (r === "default" || r === "" ? `istiod.${namespace}.svc` : `istiod-${r}.${namespace}.svc`));
  const first = `istiod.${namespace}.svc`;
  const ordered = names.includes(first) ? [first, ...names.filter((n) => n !== first)] : names;
  return [...new Set(ordered)];
}

/** The cert-manager.io/v1 Certificate for istiod, issued by `issuerRef`. */
export function istiodCertificate(
  config: Pick<
    Config,
    | "istioNamespace"
    | "istioRevisions"
    | "trustDomain"
    | "istiodCertificateDuration"
    | "istiodCertificateRenewBefore"
    | "istiodCertificateAdditionalDnsNames"
    | "istiodCertificateKeyAlgorithm"
    | "istiodCertificateKeySize"
  >,
  issuerRef: { name: string; kind: string; group: string },
): object {
  const ns = config.istioNamespace;
  return {
    apiVersion: "cert-manager.io/v1",
    kind: "Certificate",
    metadata: { name: ISTIOD_CERTIFICATE, namespace: ns, labels: { "app.kubernetes.io/managed-by": "meshsign" } },
    spec: {
      // Some issuers need the CN among the DNS names; it is always the default revision's name.
      commonName: `istiod.${ns}.svc`,
      dnsNames: [
        ...new Set([...istiodDnsNames(ns, config.istioRevisions), ...config.istiodCertificateAdditionalDnsNames]),
      ],
      uris: [`spiffe://${config.trustDomain}/ns/${ns}/sa/istiod-service-account`],
      secretName: ISTIOD_SECRET,
      duration: `${Math.round(config.istiodCertificateDuration / 1000)}s`,
      renewBefore: `${Math.round(config.istiodCertificateRenewBefore / 1000)}s`,
      privateKey: {
        rotationPolicy: "Always",
        algorithm: config.istiodCertificateKeyAlgorithm,
        size: config.istiodCertificateKeySize || (config.istiodCertificateKeyAlgorithm === "RSA" ? 2048 : 256),
      },
      revisionHistoryLimit: 1,
      issuerRef,
    },
  };
}
