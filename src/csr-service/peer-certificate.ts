import { X509Certificate } from "node:crypto";
import type { ServerUnaryCall } from "@grpc/grpc-js";
import { decodePemAll } from "../pki/index.js";

/**
 * The client certificate of a call, verified against the mesh roots, as the
 * client-cert authenticator expects it (DER, leaf first). The TLS layer asks
 * for a certificate but does not reject a missing or unknown one (token-only
 * callers must get through), so verification happens here: the leaf must be
 * signed by one of the roots and be inside its validity period. Anything else
 * yields no certificate, and the authenticator then refuses the call.
 */
export function verifiedPeerCertificates(
  rootsPem: () => string,
  clock: () => number = Date.now,
): (call: ServerUnaryCall<unknown, unknown>) => Uint8Array[] | undefined {
  let cachedPem = "";
  let roots: X509Certificate[] = [];
  return (call) => {
    const raw = call.getAuthContext?.()?.sslPeerCertificate?.raw;
    if (!raw) return undefined;
    const pem = rootsPem();
    if (pem !== cachedPem) {
      cachedPem = pem;
      roots = decodePemAll(pem, "CERTIFICATE").map((der) => new X509Certificate(der));
    }
    let leaf: X509Certificate;
    try {
      leaf = new X509Certificate(raw);
    } catch {
      return undefined;
    }
    const now = clock();
    if (now < Date.parse(leaf.validFrom) || now > Date.parse(leaf.validTo)) return undefined;
    const signedByRoot = roots.some((r) => leaf.checkIssued(r) && leaf.verify(r.publicKey));
    return signedByRoot ? [new Uint8Array(raw)] : undefined;
  };
}
