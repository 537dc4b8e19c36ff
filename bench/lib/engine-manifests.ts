/**
 * Manifests for the engine case: a self-signed root Certificate, a CA
 * ClusterIssuer on it (as examples/pki-bootstrap.yaml builds a
 * private PKI), and `count` leaf Certificates in namespace `bench` with
 * ECDSA P-256 keys, written in files of 1,000 documents.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";

export const ENGINE_NAMESPACE = "bench";
const PER_FILE = 1000;

const BOOTSTRAP = `apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata:
  name: bench-selfsigned
spec:
  selfSigned: {}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: bench-root
  namespace: meshsign-system
spec:
  isCA: true
  commonName: bench-root
  secretName: bench-root-ca
  duration: 87600h
  privateKey:
    algorithm: ECDSA
    size: 256
  issuerRef:
    name: bench-selfsigned
    kind: ClusterIssuer
    group: cert-manager.io
---
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata:
  name: bench-ca
spec:
  ca:
    secretName: bench-root-ca
`;

export function certificateName(i: number): string {
  return `svc-${i}`;
}

function leaf(i: number): string {
  const name = certificateName(i);
  return `apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: ${name}
  namespace: ${ENGINE_NAMESPACE}
spec:
  secretName: ${name}-tls
  dnsNames:
    - ${name}.${ENGINE_NAMESPACE}.svc
  uris:
    - spiffe://cluster.local/ns/${ENGINE_NAMESPACE}/sa/${name}
  privateKey:
    algorithm: ECDSA
    size: 256
  issuerRef:
    name: bench-ca
    kind: ClusterIssuer
    group: cert-manager.io
`;
}

/** Writes the manifests under `dir` (created). */
export function writeEngineManifests(dir: string, count: number): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, "00-pki.yaml"), BOOTSTRAP);
  for (let start = 0; start < count; start += PER_FILE) {
    const docs: string[] = [];
    for (let i = start; i < Math.min(count, start + PER_FILE); i++) docs.push(leaf(i));
    writeFileSync(
      path.join(dir, `certificates-${String(start / PER_FILE).padStart(3, "0")}.yaml`),
      docs.join("---\n"),
    );
  }
}
