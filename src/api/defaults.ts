import type { Certificate, CertificateSpec, KeyUsage } from "./types.js";

/**
 * cert-manager's documented defaults for a Certificate
 * (`internal/apis/certmanager/v1/defaults.go`, `pkg/apis/certmanager/v1/const.go`).
 */

export const DEFAULT_DURATION = "2160h";
export const DEFAULT_PRIVATE_KEY_ALGORITHM = "RSA";
export const DEFAULT_RSA_KEY_SIZE = 2048;
export const DEFAULT_ECDSA_KEY_SIZE = 256;
export const DEFAULT_PRIVATE_KEY_ENCODING = "PKCS1";
/** cert-manager v1.18+ default (gate DefaultPrivateKeyRotationPolicyAlways, GA). */
export const DEFAULT_ROTATION_POLICY = "Always";
export const DEFAULT_USAGES: readonly KeyUsage[] = ["digital signature", "key encipherment"];
export const DEFAULT_ISSUER_KIND = "Issuer";
export const DEFAULT_ISSUER_GROUP = "cert-manager.io";
export const DEFAULT_REVISION_HISTORY_LIMIT = 1;

/** A Certificate spec with every defaulted field present. */
export type DefaultedCertificateSpec = CertificateSpec & {
  duration: string;
  issuerRef: { name: string; kind: string; group: string };
  privateKey: {
    algorithm: "RSA" | "ECDSA" | "Ed25519";
    encoding: "PKCS1" | "PKCS8";
    size?: number;
    rotationPolicy: "Never" | "Always";
  };
  usages: KeyUsage[];
  encodeUsagesInRequest: boolean;
  revisionHistoryLimit: number;
};

export type DefaultedCertificate = Omit<Certificate, "spec"> & { spec: DefaultedCertificateSpec };

/**
 * Returns a copy of `cert` with cert-manager's defaults filled in; `cert` is
 * not modified. Meant as the engine's working view: store the user's spec as
 * written (cert-manager does not persist most of these defaults either).
 * `renewBefore` is deliberately not defaulted: without it renewal happens at
 * 2/3 of the *issued* lifetime, which only the issued certificate tells.
 */
export function applyCertificateDefaults(cert: Certificate): DefaultedCertificate {
  const out = structuredClone(cert);
  const spec = out.spec;
  const algorithm = spec.privateKey?.algorithm ?? DEFAULT_PRIVATE_KEY_ALGORITHM;
  const size = spec.privateKey?.size !== undefined && spec.privateKey.size !== 0 ? spec.privateKey.size : algorithm === "RSA" ? DEFAULT_RSA_KEY_SIZE : algorithm === "ECDSA" ? DEFAULT_ECDSA_KEY_SIZE : undefined;
  const privateKey: DefaultedCertificateSpec["privateKey"] = {
    algorithm,
    // Ed25519 keys only exist as PKCS#8; cert-manager writes them so whatever the spec says.
    encoding: algorithm === "Ed25519" ? "PKCS8" : (spec.privateKey?.encoding ?? DEFAULT_PRIVATE_KEY_ENCODING),
    rotationPolicy: spec.privateKey?.rotationPolicy ?? DEFAULT_ROTATION_POLICY,
  };
  if (size !== undefined) privateKey.size = size;
  const defaulted: DefaultedCertificateSpec = {
    ...spec,
    duration: spec.duration ?? DEFAULT_DURATION,
    issuerRef: {
      name: spec.issuerRef.name,
      kind: spec.issuerRef.kind === undefined || spec.issuerRef.kind === "" ? DEFAULT_ISSUER_KIND : spec.issuerRef.kind,
      group: spec.issuerRef.group === undefined || spec.issuerRef.group === "" ? DEFAULT_ISSUER_GROUP : spec.issuerRef.group,
    },
    privateKey,
    usages: spec.usages === undefined || spec.usages.length === 0 ? [...DEFAULT_USAGES] : spec.usages,
    encodeUsagesInRequest: spec.encodeUsagesInRequest ?? true,
    revisionHistoryLimit: spec.revisionHistoryLimit ?? DEFAULT_REVISION_HISTORY_LIMIT,
  };
  return { ...out, spec: defaulted };
}
