/**
 * Reads the extensions a CSR or certificate carries that the parsers keep
 * only as raw values: NameConstraints and UTF8String otherName SANs. An
 * issuer that signs from a CSR uses these to carry them into the certificate
 * (cert-manager's CA and SelfSigned issuers do), never dropping them.
 */
import type { ErrorCode } from "../errors/index.js";
import { decodeUtf8OtherNames, type Extension } from "./lib/extensions.js";
import { decodeNameConstraintsValue } from "./lib/name-constraints.js";
import { ExtensionOid } from "./oids.js";
import type { NameConstraints, OtherName } from "./template.js";

/**
 * The NameConstraints extension, or undefined when absent. Throws a
 * MeshsignError with `code` when it holds a form meshsign cannot re-encode
 * exactly (a directoryName base, minimum/maximum, a non-prefix IP mask).
 */
export function readNameConstraints(
  extensions: readonly Extension[],
  code: ErrorCode = "ERR_CSR_DER",
): NameConstraints | undefined {
  const ext = extensions.find((e) => e.oid === ExtensionOid.nameConstraints);
  if (ext === undefined) return undefined;
  return decodeNameConstraintsValue(ext.value, ext.critical, code);
}

/** The otherName SANs with UTF8String values, in order (empty without a SAN). */
export function readUtf8OtherNames(extensions: readonly Extension[], code: ErrorCode = "ERR_CSR_DER"): OtherName[] {
  const ext = extensions.find((e) => e.oid === ExtensionOid.subjectAltName);
  if (ext === undefined) return [];
  return decodeUtf8OtherNames(ext.value, code);
}
