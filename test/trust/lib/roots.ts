import { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";

const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

/** A self-signed root CA certificate in PEM (only the certificate: trust anchors carry no key). */
export async function rootPem(cn: string, options: { ca?: boolean } = {}): Promise<string> {
  const keys = (await webcrypto.subtle.generateKey(alg, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: `CN=${cn}`,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    keys: keys as unknown as Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]["keys"],
    signingAlgorithm: alg,
    extensions: [new x509.BasicConstraintsExtension(options.ca ?? true, undefined, true)],
  });
  return cert.toString("pem").replace(/\r\n/g, "\n").trimEnd().concat("\n");
}
