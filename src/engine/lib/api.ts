/**
 * The slice of the cert-manager.io/v1 API the engine reads and writes, as
 * plain TypeScript types. The validated zod schemas live in `src/api`; the
 * engine receives objects that already passed them (or came from a cluster
 * that validated them) and only relies on the fields below.
 */
import type { KubeObject } from "../../store/types.js";

// One source for ResourceType constants: the API package.
export { CERTIFICATE_REQUESTS, CERTIFICATES, CLUSTER_ISSUERS, EVENTS, ISSUERS, SECRETS } from "../../api/types.js";

export interface Condition {
  type: string;
  status: "True" | "False" | "Unknown";
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
  observedGeneration?: number;
}

export interface IssuerRef {
  name: string;
  kind?: string;
  group?: string;
}

export interface CertificateSpec {
  secretName: string;
  issuerRef: IssuerRef;
  commonName?: string;
  literalSubject?: string;
  subject?: {
    organizations?: string[];
    countries?: string[];
    organizationalUnits?: string[];
    localities?: string[];
    provinces?: string[];
    streetAddresses?: string[];
    postalCodes?: string[];
    serialNumber?: string;
  };
  duration?: string;
  renewBefore?: string;
  renewBeforePercentage?: number;
  renewal?: { policy?: "RenewBefore" | "Disabled"; windows?: { cron: string; windowDuration: string; timezone?: string }[] };
  dnsNames?: string[];
  ipAddresses?: string[];
  uris?: string[];
  emailAddresses?: string[];
  otherNames?: { oid: string; utf8Value: string }[];
  isCA?: boolean;
  usages?: string[];
  encodeUsagesInRequest?: boolean;
  nameConstraints?: {
    critical?: boolean;
    permitted?: NameConstraintItem;
    excluded?: NameConstraintItem;
  };
  privateKey?: {
    algorithm?: "RSA" | "ECDSA" | "Ed25519";
    size?: number;
    encoding?: "PKCS1" | "PKCS8";
    rotationPolicy?: "Never" | "Always";
  };
  secretTemplate?: { annotations?: Record<string, string>; labels?: Record<string, string> };
  additionalOutputFormats?: { type: "DER" | "CombinedPEM" }[];
  /** JKS / PKCS#12 keystores: not implemented, refused (see lib/unsupported.ts). */
  keystores?: { jks?: { create?: boolean }; pkcs12?: { create?: boolean } };
  revisionHistoryLimit?: number;
}

export interface NameConstraintItem {
  dnsDomains?: string[];
  ipRanges?: string[];
  emailAddresses?: string[];
  uriDomains?: string[];
}

export interface CertificateStatus {
  conditions?: Condition[];
  notBefore?: string;
  notAfter?: string;
  renewalTime?: string;
  revision?: number;
  nextPrivateKeySecretName?: string;
  lastFailureTime?: string;
  failedIssuanceAttempts?: number;
}

export interface Certificate extends KubeObject {
  spec: CertificateSpec;
  status?: CertificateStatus;
}

export interface CertificateRequestSpec {
  request: string;
  issuerRef: IssuerRef;
  duration?: string;
  isCA?: boolean;
  usages?: string[];
}

export interface CertificateRequestStatus {
  conditions?: Condition[];
  certificate?: string;
  ca?: string;
  failureTime?: string;
}

export interface CertificateRequest extends KubeObject {
  spec: CertificateRequestSpec;
  status?: CertificateRequestStatus;
}

export interface IssuerSpec {
  ca?: { secretName: string };
  selfSigned?: Record<string, unknown>;
  acme?: Record<string, unknown>;
  vault?: Record<string, unknown>;
  venafi?: Record<string, unknown>;
  [other: string]: unknown;
}

export interface IssuerResource extends KubeObject {
  spec: IssuerSpec;
  status?: { conditions?: Condition[]; acme?: { uri?: string; lastRegisteredEmail?: string; lastPrivateKeyHash?: string } };
}

export interface Secret extends KubeObject {
  type?: string;
  /** base64 values, as the Kubernetes API carries them. */
  data?: Record<string, string>;
}

export interface EventResource extends KubeObject {
  involvedObject: { apiVersion: string; kind: string; name: string; namespace?: string; uid?: string };
  reason: string;
  message: string;
  type: "Normal" | "Warning";
  count: number;
  firstTimestamp: string;
  lastTimestamp: string;
  source?: { component: string };
}
