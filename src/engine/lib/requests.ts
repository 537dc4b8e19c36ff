/** CertificateRequest helpers: names, revisions, state, base64 fields. */
import { createHash } from "node:crypto";
import { ANN } from "./annotations.js";
import type { Certificate, CertificateRequest } from "./api.js";
import { getCondition } from "./conditions.js";

export type RequestState = "pending" | "issued" | "failed" | "denied" | "invalid";

/** Kubernetes names are at most 253 characters; long ones keep a readable prefix and a hash. */
export function boundedName(base: string, suffix: string): string {
  const full = `${base}-${suffix}`;
  if (full.length <= 253) return full;
  const hash = createHash("sha256").update(base).digest("hex").slice(0, 10);
  return `${base.slice(0, 253 - suffix.length - hash.length - 2)}-${hash}-${suffix}`;
}

/** Deterministic request name per revision, so a restart finds the request instead of creating a duplicate. */
export function requestName(cert: Certificate, revision: number): string {
  return boundedName(cert.metadata.name ?? "", String(revision));
}

/** Deterministic name of the staged next private key Secret. */
export function nextKeySecretName(cert: Certificate): string {
  return boundedName(cert.metadata.name ?? "", "next-private-key");
}

export function requestRevision(cr: CertificateRequest): number | undefined {
  const raw = cr.metadata.annotations?.[ANN.certificateRevision];
  if (raw === undefined || !/^[1-9]\d{0,9}$/.test(raw)) return undefined;
  return Number(raw);
}

export function requestState(cr: CertificateRequest): RequestState {
  const conds = cr.status?.conditions;
  if (getCondition(conds, "Denied")?.status === "True") return "denied";
  if (getCondition(conds, "InvalidRequest")?.status === "True") return "invalid";
  const ready = getCondition(conds, "Ready");
  if (ready?.status === "True") return "issued";
  if (ready?.status === "False" && (ready.reason === "Failed" || ready.reason === "Denied")) return "failed";
  return "pending";
}

export const b64encode = (s: string): string => Buffer.from(s, "utf8").toString("base64");
export const b64decode = (s: string | undefined): string => (s === undefined ? "" : Buffer.from(s, "base64").toString("utf8"));
