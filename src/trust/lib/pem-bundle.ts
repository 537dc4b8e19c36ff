import { X509Certificate } from "node:crypto";
import { MeshsignError } from "../../errors/index.js";
import { splitPemBundle } from "../../pki/pem.js";

/** A roots bundle of more than this is not a set of trust anchors (and would not fit a ConfigMap). */
const MAX_BUNDLE_BYTES = 512 * 1024;

/**
 * Checks that `text` is a usable roots bundle: at most 512 KiB, at least one
 * CERTIFICATE block, every one of them a parseable X.509 CA certificate.
 * Returns the text unchanged (published byte for byte, as istio-csr does).
 * Throws ERR_CERT_INVALID naming `source` otherwise.
 */
export function checkRootsBundle(text: string, source: string): string {
  if (Buffer.byteLength(text) > MAX_BUNDLE_BYTES) {
    throw new MeshsignError(
      "ERR_CERT_INVALID",
      `roots bundle ${source} is larger than ${MAX_BUNDLE_BYTES} bytes`,
    );
  }
  const certs = splitPemBundle(text);
  if (certs.length === 0) {
    throw new MeshsignError("ERR_CERT_INVALID", `roots bundle ${source} holds no certificate`);
  }
  for (const [i, pem] of certs.entries()) {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(pem);
    } catch (cause) {
      throw new MeshsignError(
        "ERR_CERT_INVALID",
        `roots bundle ${source}: certificate ${i + 1} does not parse`,
        { cause },
      );
    }
    if (!cert.ca) {
      throw new MeshsignError("ERR_CERT_INVALID", `roots bundle ${source}: certificate ${i + 1} is not a CA`);
    }
  }
  return text;
}
