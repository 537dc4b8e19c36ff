/**
 * Parts of a cert-manager Certificate spec that meshsign does not implement.
 * They are refused, never accepted and ignored: validation refuses the
 * manifest, and the engine refuses a Certificate that reached the store
 * another way (a kubectl apply without meshsign's validation) with Ready=False
 * UnsupportedSpec, issuing nothing, rather than acting as if the field were
 * not there.
 */
import type { CertificateSpec } from "./api.js";

/** Why the engine refuses this spec, or undefined when it implements all of it. */
export function unsupportedSpec(spec: CertificateSpec): string | undefined {
  const problems: string[] = [];
  // Renewal windows (cert-manager v1.21): renewing outside the windows asked for would break the
  // maintenance schedule they encode.
  if ((spec.renewal?.windows?.length ?? 0) > 0) {
    problems.push("spec.renewal.windows is not supported: meshsign renews at the renewBefore time and does not implement renewal windows");
  }
  // Keystores: an application reading keystore.jks / keystore.p12 would find none.
  for (const name of ["jks", "pkcs12"] as const) {
    if (spec.keystores?.[name]?.create === true) problems.push(`spec.keystores.${name}.create is not supported: meshsign does not write JKS or PKCS#12 keystores`);
  }
  return problems.length === 0 ? undefined : problems.join("; ");
}
