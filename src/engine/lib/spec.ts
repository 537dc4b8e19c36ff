/**
 * A Certificate spec with cert-manager's defaults applied and its durations
 * parsed: the single view of "what the user asked for" that policies,
 * key generation and request building share.
 */
import { KEY_USAGE_BITS } from "../../pki/index.js";
import type { ExtKeyUsage, KeyUsage } from "../../pki/template.js";
import type { CertificateSpec, IssuerRef } from "./api.js";

export const DEFAULT_DURATION_MS = 90 * 24 * 3_600_000;
export const DEFAULT_USAGES = ["digital signature", "key encipherment"] as const;
export const DEFAULT_REVISION_HISTORY_LIMIT = 1;
export const DEFAULT_ISSUER_KIND = "Issuer";
export const DEFAULT_ISSUER_GROUP = "cert-manager.io";

export type KeyAlgorithm = "RSA" | "ECDSA" | "Ed25519";

export interface ResolvedSpec {
  readonly secretName: string;
  readonly issuerRef: Required<IssuerRef>;
  readonly commonName: string | undefined;
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
  readonly uris: readonly string[];
  readonly emailAddresses: readonly string[];
  readonly isCA: boolean;
  readonly usages: readonly string[];
  readonly encodeUsagesInRequest: boolean;
  /** Whether spec.duration was set (RequestMatchesSpec compares it only then). */
  readonly durationSet: boolean;
  readonly durationMs: number;
  readonly renewBeforeMs: number | undefined;
  readonly renewBeforePercentage: number | undefined;
  readonly renewalDisabled: boolean;
  readonly keyAlgorithm: KeyAlgorithm;
  readonly keySize: number;
  readonly keyEncoding: "PKCS1" | "PKCS8";
  readonly rotationPolicy: "Always" | "Never";
  readonly revisionHistoryLimit: number;
}

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, "µs": 1e-3, "μs": 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go `time.ParseDuration` to milliseconds; undefined when malformed. */
export function goDurationMs(text: string | undefined): number | undefined {
  if (text === undefined || text === "") return undefined;
  if (text === "0") return 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;
  let pos = 0;
  let total = 0;
  while (pos < text.length) {
    re.lastIndex = pos;
    const m = re.exec(text);
    if (m === null) return undefined;
    total += Number(m[1]) * (UNIT_MS[m[2] as string] ?? Number.NaN);
    pos = re.lastIndex;
  }
  return Number.isFinite(total) ? total : undefined;
}

export function defaultKeySize(algorithm: KeyAlgorithm): number {
  return algorithm === "RSA" ? 2048 : algorithm === "ECDSA" ? 256 : 0;
}

export function resolveIssuerRef(ref: IssuerRef): Required<IssuerRef> {
  return {
    name: ref.name,
    kind: ref.kind === undefined || ref.kind === "" ? DEFAULT_ISSUER_KIND : ref.kind,
    group: ref.group === undefined || ref.group === "" ? DEFAULT_ISSUER_GROUP : ref.group,
  };
}

export function resolveSpec(spec: CertificateSpec): ResolvedSpec {
  const algorithm = spec.privateKey?.algorithm ?? "RSA";
  const durationMs = goDurationMs(spec.duration);
  return {
    secretName: spec.secretName,
    issuerRef: resolveIssuerRef(spec.issuerRef),
    commonName: spec.commonName === "" ? undefined : spec.commonName,
    dnsNames: spec.dnsNames ?? [],
    ipAddresses: spec.ipAddresses ?? [],
    uris: spec.uris ?? [],
    emailAddresses: spec.emailAddresses ?? [],
    isCA: spec.isCA ?? false,
    usages: spec.usages !== undefined && spec.usages.length > 0 ? spec.usages : DEFAULT_USAGES,
    encodeUsagesInRequest: spec.encodeUsagesInRequest ?? true,
    durationSet: durationMs !== undefined,
    durationMs: durationMs ?? DEFAULT_DURATION_MS,
    renewBeforeMs: goDurationMs(spec.renewBefore),
    renewBeforePercentage: spec.renewBeforePercentage,
    renewalDisabled: spec.renewal?.policy === "Disabled",
    keyAlgorithm: algorithm,
    keySize: spec.privateKey?.size !== undefined && spec.privateKey.size > 0 ? spec.privateKey.size : defaultKeySize(algorithm),
    keyEncoding: algorithm === "Ed25519" ? "PKCS8" : (spec.privateKey?.encoding ?? "PKCS1"),
    rotationPolicy: spec.privateKey?.rotationPolicy ?? "Always",
    revisionHistoryLimit: spec.revisionHistoryLimit ?? DEFAULT_REVISION_HISTORY_LIMIT,
  };
}

/** cert-manager usage names to X.509 key usages and extended key usages (its `pkg/api/util` maps). */
const KU: Readonly<Record<string, KeyUsage>> = {
  signing: "digitalSignature",
  "digital signature": "digitalSignature",
  "content commitment": "contentCommitment",
  "key encipherment": "keyEncipherment",
  "key agreement": "keyAgreement",
  "data encipherment": "dataEncipherment",
  "cert sign": "keyCertSign",
  "crl sign": "cRLSign",
  "encipher only": "encipherOnly",
  "decipher only": "decipherOnly",
};
const EKU: Readonly<Record<string, ExtKeyUsage>> = {
  any: "any",
  "server auth": "serverAuth",
  "client auth": "clientAuth",
  "code signing": "codeSigning",
  "email protection": "emailProtection",
  "s/mime": "emailProtection",
  "ipsec end system": "ipsecEndSystem",
  "ipsec tunnel": "ipsecTunnel",
  "ipsec user": "ipsecUser",
  timestamping: "timeStamping",
  "ocsp signing": "ocspSigning",
  "microsoft sgc": "microsoftServerGatedCrypto",
  "netscape sgc": "netscapeServerGatedCrypto",
};

/** A usage name cert-manager does not know. */
export class UnknownUsageError extends Error {}

/**
 * Splits cert-manager usages into KU (a set, in bit order) and EKU (in the
 * order given, duplicates kept, as cert-manager's
 * `KeyUsagesForCertificateOrCertificateRequest` returns them); no usages
 * means the defaults, and `isCA` adds keyCertSign. Throws UnknownUsageError
 * for a name cert-manager does not know (validation refuses those first).
 */
export function usagesToTemplate(usages: readonly string[], isCA: boolean): { keyUsage: KeyUsage[]; extKeyUsage: ExtKeyUsage[] } {
  const keyUsage = new Set<KeyUsage>();
  const extKeyUsage: ExtKeyUsage[] = [];
  for (const u of usages.length === 0 ? DEFAULT_USAGES : usages) {
    const ku = Object.hasOwn(KU, u) ? KU[u] : undefined;
    const eku = Object.hasOwn(EKU, u) ? EKU[u] : undefined;
    if (ku !== undefined) keyUsage.add(ku);
    else if (eku !== undefined) extKeyUsage.push(eku);
    else throw new UnknownUsageError(`unknown key usage ${JSON.stringify(u)}`);
  }
  if (isCA) keyUsage.add("keyCertSign");
  return { keyUsage: KEY_USAGE_BITS.filter((k) => keyUsage.has(k)), extKeyUsage };
}

