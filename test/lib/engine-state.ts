/**
 * What a `meshsign serve` data dir holds, read through a read-only embedded
 * store (safe while the server runs or after it was killed), and the
 * invariants of issuance that must hold after any crash and restart.
 */
import { X509Certificate, createPrivateKey, createPublicKey } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { ANN, LABEL } from "../../src/engine/lib/annotations.js";
import { CERTIFICATE_REQUESTS, CERTIFICATES, type Certificate, type CertificateRequest, SECRETS, type Secret } from "../../src/engine/lib/api.js";
import { openEmbeddedStore } from "../../src/store/embedded/index.js";

export interface StoreSnapshot {
  readonly certificates: Certificate[];
  readonly requests: CertificateRequest[];
  readonly secrets: Secret[];
}

export async function snapshotStore(dataDir: string): Promise<StoreSnapshot> {
  const store = await openEmbeddedStore({ dataDir, readOnly: true });
  try {
    return {
      certificates: await store.list<Certificate>(CERTIFICATES, {}),
      requests: await store.list<CertificateRequest>(CERTIFICATE_REQUESTS, {}),
      secrets: await store.list<Secret>(SECRETS, {}),
    };
  } finally {
    await store.close();
  }
}

export const isReady = (c: Certificate | undefined): boolean => c?.status?.conditions?.some((x) => x.type === "Ready" && x.status === "True") === true;
export const isIssuing = (c: Certificate | undefined): boolean => c?.status?.conditions?.some((x) => x.type === "Issuing" && x.status === "True") === true;
export const isStagedKey = (s: Secret): boolean => s.metadata.labels?.[LABEL.nextPrivateKey] === "true";
export const b64 = (v: string | undefined): string => Buffer.from(v ?? "", "base64").toString("utf8");
/** Base64 SPKI of a PEM private key: compares keys whatever their encoding. */
export const spkiOfKeyPem = (pem: string): string => createPublicKey(createPrivateKey(pem)).export({ format: "der", type: "spki" }).toString("base64");

export const find = <T extends Certificate | Secret | CertificateRequest>(objects: readonly T[], namespace: string, name: string): T | undefined =>
  objects.find((o) => o.metadata.namespace === namespace && o.metadata.name === name);

/** The requests a Certificate owns, by the certificate-name annotation. */
export const requestsOf = (s: StoreSnapshot, namespace: string, name: string): CertificateRequest[] =>
  s.requests.filter((r) => r.metadata.namespace === namespace && r.metadata.annotations?.[ANN.certificateName] === name);

/**
 * The invariants every Certificate of a finished store keeps, whatever crashed before: Ready, no
 * staged key left, at most one request per revision (and one for the current revision), a Secret
 * whose key is the certificate's, whose SANs are the spec's, that chains to `rootPem`, and whose
 * published files (when `outputDir` is given) are its bytes. `only` picks the Certificates checked
 * (meshsign's own serving certificate chains to another CA). Returns the problems found.
 */
export function issuanceProblems(s: StoreSnapshot, rootPem: string, options: { outputDir?: string; only?: (c: Certificate) => boolean } = {}): string[] {
  const { outputDir, only = () => true } = options;
  const problems: string[] = [];
  const root = new X509Certificate(rootPem);
  for (const s2 of s.secrets.filter(isStagedKey)) problems.push(`staged key ${s2.metadata.namespace}/${s2.metadata.name} left behind`);
  for (const cert of s.certificates.filter(only)) {
    const id = `${cert.metadata.namespace}/${cert.metadata.name}`;
    if (!isReady(cert)) problems.push(`${id} is not Ready: ${JSON.stringify(cert.status?.conditions)}`);
    const revisions = requestsOf(s, cert.metadata.namespace ?? "", cert.metadata.name ?? "").map((r) => r.metadata.annotations?.[ANN.certificateRevision]);
    if (new Set(revisions).size !== revisions.length) problems.push(`${id} has two requests for one revision: ${revisions.join(",")}`);
    if (!revisions.includes(String(cert.status?.revision))) problems.push(`${id} at revision ${cert.status?.revision} has no request of that revision (${revisions.join(",")})`);
    const secretProblems = secretMismatches(s, cert, root);
    problems.push(...secretProblems);
    if (secretProblems.length > 0) continue;
    const secret = find(s.secrets, cert.metadata.namespace ?? "", cert.spec.secretName);
    if (outputDir !== undefined) {
      const dir = path.join(outputDir, cert.metadata.namespace ?? "", cert.spec.secretName);
      for (const file of ["tls.key", "tls.crt"]) {
        const p = path.join(dir, file);
        if (!existsSync(p) || readFileSync(p, "utf8") !== b64(secret?.data?.[file])) problems.push(`${id}: ${p} is not the Secret's ${file}`);
      }
    }
  }
  return problems;
}

/**
 * How a Certificate's Secret fails to be what its spec and status say: missing, a key that is not
 * the certificate's, not chaining to `root`, other DNS names than the spec's, or another notAfter
 * than the status. A Ready Certificate must have none, at any instant.
 */
export function secretMismatches(s: StoreSnapshot, cert: Certificate, root: X509Certificate): string[] {
  const id = `${cert.metadata.namespace}/${cert.metadata.name}`;
  const secret = find(s.secrets, cert.metadata.namespace ?? "", cert.spec.secretName);
  if (secret === undefined) return [`${id} has no Secret`];
  const problems: string[] = [];
  const keyPem = b64(secret.data?.["tls.key"]);
  const leaf = new X509Certificate(b64(secret.data?.["tls.crt"]));
  if (leaf.publicKey.export({ format: "der", type: "spki" }).toString("base64") !== spkiOfKeyPem(keyPem)) problems.push(`${id}: tls.key is not the key of tls.crt`);
  if (!leaf.verify(root.publicKey)) problems.push(`${id}: tls.crt does not chain to the root`);
  const sans = (leaf.subjectAltName ?? "").split(", ").filter((x) => x.startsWith("DNS:")).map((x) => x.slice(4)).sort();
  const wanted = [...(cert.spec.dnsNames ?? [])].sort();
  if (JSON.stringify(sans) !== JSON.stringify(wanted)) problems.push(`${id}: tls.crt names ${sans.join(",")} but the spec asks for ${wanted.join(",")}`);
  if (Date.parse(cert.status?.notAfter ?? "") !== Date.parse(leaf.validTo)) problems.push(`${id}: status.notAfter ${cert.status?.notAfter} is not the Secret's ${leaf.validTo}`);
  return problems;
}

/**
 * pki-bootstrap's shape as the crash tests write it: a SelfSigned ClusterIssuer, an ECDSA root CA
 * Certificate on it and the CA ClusterIssuer `mesh-ca` whose leaves the tests add after this.
 */
export const MESH_CA_MANIFESTS = `apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: { name: selfsigned }
spec: { selfSigned: {} }
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: { name: mesh-root, namespace: meshsign-system }
spec:
  isCA: true
  commonName: mesh-root
  secretName: mesh-root-ca
  duration: 87600h
  privateKey: { algorithm: ECDSA, size: 256 }
  issuerRef: { name: selfsigned, kind: ClusterIssuer, group: cert-manager.io }
---
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: { name: mesh-ca }
spec: { ca: { secretName: mesh-root-ca } }
`;
