/**
 * Micro-measure of the PKI hot path (not a test): ops/s for parseCsr,
 * authorizeCsr (signature included), signCertificate of an SVID leaf with a
 * P-256 CA, next to @peculiar/x509 doing the same work and to the bare
 * node:crypto operations. Run: `node --import tsx bench/pki.ts`.
 */
import "reflect-metadata";
import { createPublicKey, sign, verify, webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { authorizeCsr, buildSvidTemplate, DEFAULT_CSR_POLICY } from "../src/authz/index.js";
import {
  buildCsr,
  type CertificateTemplate,
  computeValidity,
  generateKeySync,
  parseCsr,
  publicKeySpki,
  selfSignedSigner,
  signCertificate,
  signerFromCertificate,
} from "../src/pki/index.js";
import { keyPairSync } from "../test/lib/key-pair.js";

const ID = "spiffe://cluster.local/ns/default/sa/sleep";

async function measure(name: string, fn: () => unknown | Promise<unknown>, ms = 1500): Promise<void> {
  for (let i = 0; i < 50; i++) await fn();
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < ms) {
    await fn();
    n++;
  }
  const elapsed = performance.now() - start;
  console.log(
    `${name.padEnd(58)} ${String(Math.round((n * 1000) / elapsed)).padStart(7)} ops/s  ${((elapsed * 1000) / n).toFixed(1).padStart(8)} us/op`,
  );
}

const caKey = generateKeySync({ type: "ec", curve: "P-256" });
const now = new Date();
const caTemplate: CertificateTemplate = {
  publicKeySpki: publicKeySpki(caKey),
  subject: [[{ type: "2.5.4.10", value: "meshsign" }], [{ type: "2.5.4.3", value: "bench root" }]],
  isCA: true,
  keyUsage: ["keyCertSign", "cRLSign"],
  extKeyUsage: [],
  notBefore: now,
  notAfter: new Date(now.getTime() + 3650 * 86400_000),
};
const caDer = signCertificate(caTemplate, selfSignedSigner(caTemplate, caKey));
const signer = signerFromCertificate(caDer, caKey);

const rsaCsr = buildCsr(generateKeySync({ type: "rsa", bits: 2048 }), { uris: [ID] });
const ecCsr = buildCsr(generateKeySync({ type: "ec", curve: "P-256" }), { uris: [ID] });

console.log(`node ${process.version}, ${new Date().toISOString()}`);
for (const [label, pem] of [
  ["RSA-2048", rsaCsr],
  ["ECDSA P-256", ecCsr],
] as const) {
  await measure(`meshsign parseCsr (${label})`, () => parseCsr(pem));
  await measure(`meshsign parseCsr + authorizeCsr incl. PoP (${label})`, () => {
    authorizeCsr({ csr: parseCsr(pem), expectedIdentity: ID, policy: DEFAULT_CSR_POLICY });
  });
  await measure(
    `@peculiar/x509 Pkcs10CertificateRequest (${label})`,
    () => new x509.Pkcs10CertificateRequest(pem),
  );
  await measure(`@peculiar/x509 parse + verify (${label})`, async () => {
    await new x509.Pkcs10CertificateRequest(pem).verify();
  });
  const csr = parseCsr(pem);
  await measure(`meshsign signCertificate SVID leaf, P-256 CA (${label} key)`, () =>
    signCertificate(
      buildSvidTemplate(ID, csr.publicKeySpki, computeValidity(3600, new Date(), signer.notAfter)),
      signer,
    ),
  );
}

// @peculiar/x509 building the same leaf with WebCrypto keys.
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
const caKeys = (await webcrypto.subtle.generateKey(alg, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
const leafKeys = (await webcrypto.subtle.generateKey(alg, true, [
  "sign",
  "verify",
])) as webcrypto.CryptoKeyPair;
await measure("@peculiar/x509 X509CertificateGenerator.create SVID leaf", () =>
  x509.X509CertificateGenerator.create({
    serialNumber: "01",
    subject: "",
    issuer: "O=meshsign, CN=bench root",
    notBefore: new Date(),
    notAfter: new Date(Date.now() + 3600_000),
    signingAlgorithm: alg,
    publicKey: leafKeys.publicKey,
    signingKey: caKeys.privateKey,
    extensions: [
      new x509.SubjectAlternativeNameExtension([{ type: "url", value: ID }], true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([
        x509.ExtendedKeyUsage.serverAuth,
        x509.ExtendedKeyUsage.clientAuth,
      ]),
      new x509.BasicConstraintsExtension(false, undefined, true),
    ],
  }),
);

// The ceilings: bare node:crypto work one request needs.
const data = Buffer.alloc(600, 7);
const ec = keyPairSync("ec", { namedCurve: "P-256" });
const rsa = keyPairSync("rsa", { modulusLength: 2048 });
const ecSig = sign("sha256", data, ec.privateKey);
const rsaSig = sign("sha256", data, rsa.privateKey);
await measure("node:crypto ECDSA P-256 sign (KeyObject)", () => sign("sha256", data, ec.privateKey));
await measure("node:crypto ECDSA P-256 verify (KeyObject)", () =>
  verify("sha256", data, ec.publicKey, ecSig),
);
await measure("node:crypto RSA-2048 verify (KeyObject)", () => verify("sha256", data, rsa.publicKey, rsaSig));
const ecJwk = ec.publicKey.export({ format: "jwk" });
await measure("node:crypto createPublicKey EC P-256 (JWK)", () =>
  createPublicKey({ key: ecJwk, format: "jwk" }),
);
const ecSpki = ec.publicKey.export({ type: "spki", format: "der" });
await measure("node:crypto createPublicKey EC P-256 (SPKI DER)", () =>
  createPublicKey({ key: ecSpki, format: "der", type: "spki" }),
);
