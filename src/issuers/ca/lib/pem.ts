/** Minimal PEM helpers for the issuers (src/pki will own these once it lands). */

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

/** Every `CERTIFICATE` block of `pem` as DER, in order. */
export function pemCertificatesToDer(pem: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const m of pem.matchAll(PEM_BLOCK)) {
    if (m[1] !== "CERTIFICATE") continue;
    out.push(new Uint8Array(Buffer.from((m[2] ?? "").replace(/\s+/g, ""), "base64")));
  }
  return out;
}

/** PEM of one DER certificate, 64-column base64, trailing newline. */
export function derToPem(der: Uint8Array, label = "CERTIFICATE"): string {
  const b64 = Buffer.from(der).toString("base64");
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}
