import type { ServerUnaryCall } from "@grpc/grpc-js";
import { decodePemAll, type ParsedCertificate, parseCertificate, verifyChain } from "../pki/index.js";

/**
 * The client certificate of a call, verified against the mesh roots, as the
 * client-cert authenticator expects it (DER, leaf first). The TLS layer asks
 * for a certificate but does not reject a missing or unknown one (token-only
 * callers must get through), so verification happens here: a path from the
 * leaf to one of the roots, through the intermediates the client presented
 * with it (`presentedAbove`, untrusted), every link's signature, validity and
 * CA constraints checked, as Go's TLS verifies istiod's client certificates.
 * Anything else yields no certificate, and the authenticator then refuses the
 * call.
 */
export function verifiedPeerCertificates(
  rootsPem: () => string,
  presentedAbove: (leafDer: Uint8Array) => readonly Uint8Array[] = () => [],
  clock: () => number = Date.now,
): (call: ServerUnaryCall<unknown, unknown>) => Uint8Array[] | undefined {
  let cachedPem = "";
  let roots: ParsedCertificate[] = [];
  return (call) => {
    const raw = call.getAuthContext?.()?.sslPeerCertificate?.raw;
    if (!raw) return undefined;
    const pem = rootsPem();
    if (pem !== cachedPem) {
      roots = decodePemAll(pem, "CERTIFICATE").map((der) => parseCertificate(der));
      cachedPem = pem;
    }
    const leafDer = new Uint8Array(raw);
    try {
      const above: ParsedCertificate[] = [];
      for (const der of presentedAbove(leafDer)) {
        try {
          above.push(parseCertificate(der));
        } catch {
          // A certificate Go would not parse is no link of a path.
        }
      }
      verifyChain(leafDer, above, roots, { at: new Date(clock()) });
    } catch {
      return undefined;
    }
    return [leafDer];
  };
}
