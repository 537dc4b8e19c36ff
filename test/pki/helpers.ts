import "reflect-metadata";
import { execFileSync } from "node:child_process";
import type { KeyObject } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { generateKeySync, type KeySpec, publicKeySpki } from "../../src/pki/keys.js";
import { encodePem } from "../../src/pki/pem.js";
import {
  type CaSigner,
  selfSignedSigner,
  signCertificate,
  signerFromCertificate,
} from "../../src/pki/sign.js";
import type { CertificateTemplate, Name } from "../../src/pki/template.js";

/** Runs the openssl CLI (tests only) and returns stdout. */
export function openssl(args: readonly string[], input?: string | Uint8Array): string {
  return execFileSync("openssl", args, { input, stdio: ["pipe", "pipe", "pipe"] }).toString();
}

/** Like openssl() but returns the exit status and combined output instead of throwing. */
export function opensslStatus(args: readonly string[]): { status: number; output: string } {
  try {
    return { status: 0, output: openssl(args) };
  } catch (err) {
    const e = err as { status?: number; stdout?: Buffer; stderr?: Buffer };
    return { status: e.status ?? 1, output: `${e.stdout ?? ""}${e.stderr ?? ""}` };
  }
}

export class TempDir {
  readonly dir = mkdtempSync(path.join(tmpdir(), "meshsign-pki-"));
  write(name: string, data: string | Uint8Array): string {
    const p = path.join(this.dir, name);
    writeFileSync(p, data);
    return p;
  }
  file(name: string): string {
    return path.join(this.dir, name);
  }
  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const keyCache = new Map<string, KeyObject>();
/** One key per spec and label, generated once per test file. */
export function key(spec: KeySpec, label = ""): KeyObject {
  const id = `${JSON.stringify(spec)}/${label}`;
  let k = keyCache.get(id);
  if (k === undefined) {
    k = generateKeySync(spec);
    keyCache.set(id, k);
  }
  return k;
}

export const KEY_SPECS: readonly { readonly name: string; readonly spec: KeySpec }[] = [
  { name: "ECDSA P-256", spec: { type: "ec", curve: "P-256" } },
  { name: "ECDSA P-384", spec: { type: "ec", curve: "P-384" } },
  { name: "ECDSA P-521", spec: { type: "ec", curve: "P-521" } },
  { name: "RSA 2048", spec: { type: "rsa", bits: 2048 } },
  { name: "Ed25519", spec: { type: "ed25519" } },
];

export const HOUR = 3600_000;
export const DAY = 24 * HOUR;

export function rootTemplate(
  k: KeyObject,
  subject: Name,
  notBefore: Date,
  lifetimeMs: number,
): CertificateTemplate {
  return {
    publicKeySpki: publicKeySpki(k),
    subject,
    isCA: true,
    keyUsage: ["digitalSignature", "keyCertSign", "cRLSign"],
    extKeyUsage: [],
    notBefore,
    notAfter: new Date(notBefore.getTime() + lifetimeMs),
  };
}

export interface TestCa {
  readonly key: KeyObject;
  readonly der: Uint8Array;
  readonly pem: string;
  readonly signer: CaSigner;
}

/** A self-signed root CA valid from an hour ago for ten years. */
export function makeRoot(spec: KeySpec, cn = "meshsign test root", label = cn): TestCa {
  const k = key(spec, label);
  const t = rootTemplate(
    k,
    [[{ type: "2.5.4.10", value: "meshsign" }], [{ type: "2.5.4.3", value: cn }]],
    new Date(Date.now() - HOUR),
    3650 * DAY,
  );
  const der = signCertificate(t, selfSignedSigner(t, k));
  return { key: k, der, pem: encodePem("CERTIFICATE", der), signer: signerFromCertificate(der, k) };
}

/** An intermediate CA signed by `parent`. */
export function makeIntermediate(parent: TestCa, spec: KeySpec, cn: string, pathLen?: number): TestCa {
  const k = key(spec, cn);
  const t: CertificateTemplate = {
    ...rootTemplate(k, [[{ type: "2.5.4.3", value: cn }]], new Date(Date.now() - HOUR), 365 * DAY),
    maxPathLen: pathLen,
  };
  const der = signCertificate(t, parent.signer);
  return { key: k, der, pem: encodePem("CERTIFICATE", der), signer: signerFromCertificate(der, k) };
}

export function svidTemplate(
  spki: Uint8Array,
  uri: string,
  notBefore = new Date(Date.now() - 60_000),
): CertificateTemplate {
  return {
    publicKeySpki: spki,
    uris: [uri],
    isCA: false,
    keyUsage: ["digitalSignature", "keyEncipherment"],
    extKeyUsage: ["serverAuth", "clientAuth"],
    notBefore,
    notAfter: new Date(notBefore.getTime() + DAY),
  };
}
