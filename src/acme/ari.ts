/**
 * ACME Renewal Information (RFC 9773): the certificate identifier
 * (`base64url(AKI keyIdentifier) "." base64url(serial content octets)`) that
 * names a certificate in `renewalInfo` and in a new order's `replaces`, and
 * the CA's suggested renewal window (an unauthenticated GET).
 */
import { MeshsignError } from "../errors/index.js";
import { parseCertificate } from "../pki/index.js";
import type { AcmeClient } from "./client.js";
import { readJson } from "./lib/json.js";

export interface RenewalInfo {
  readonly suggestedWindow: { readonly start: Date; readonly end: Date };
  readonly explanationURL?: string;
  /** When to ask again (the CA's Retry-After), in ms from the fetch. */
  readonly retryAfterMs?: number;
}

/** The RFC 9773 §4.1 certificate identifier of a certificate (DER). */
export function ariCertId(certDer: Uint8Array): string {
  // Only the AKI and the serial are read: importing the key would cost more than the rest of the parse.
  const cert = parseCertificate(certDer, { lazyKey: true });
  if (cert.authorityKeyId === undefined)
    throw new MeshsignError(
      "ERR_CERT_INVALID",
      "the certificate has no authority key identifier, so ARI cannot name it",
    );
  return `${Buffer.from(cert.authorityKeyId).toString("base64url")}.${Buffer.from(cert.serialNumber).toString("base64url")}`;
}

/** The CA's renewal window for `certDer`; ERR_CONFIG_INVALID when the server has no ARI. */
export async function getRenewalInfo(client: AcmeClient, certDer: Uint8Array): Promise<RenewalInfo> {
  const base = client.directory.renewalInfo;
  if (base === undefined)
    throw new MeshsignError("ERR_CONFIG_INVALID", "the ACME server does not offer renewalInfo (ARI)");
  const { body, retryAfterMs } = await client.get(
    `${base.replace(/\/$/, "")}/${ariCertId(certDer)}`,
    "renewalInfo",
  );
  const b = readJson(body, "ACME renewalInfo");
  const w = (b.suggestedWindow ?? {}) as Record<string, unknown>;
  const start = typeof w.start === "string" ? new Date(w.start) : new Date(Number.NaN);
  const end = typeof w.end === "string" ? new Date(w.end) : new Date(Number.NaN);
  if (Number.isNaN(start.getTime()) || Number.isNaN(end.getTime()) || end.getTime() < start.getTime())
    throw new MeshsignError("ERR_ACME_PROTOCOL", "ACME renewalInfo has no valid suggestedWindow");
  return {
    suggestedWindow: { start, end },
    ...(typeof b.explanationURL === "string" ? { explanationURL: b.explanationURL } : {}),
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  };
}
