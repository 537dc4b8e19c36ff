import { createPrivateKey, randomBytes, X509Certificate, type KeyObject } from "node:crypto";
import { accessSync, chmodSync, constants as fsConstants, existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, type Stats, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { MeshsignError } from "../errors/index.js";
import { encodePem, NameOid, selfSignedSigner, signCertificate, type CertificateTemplate } from "../pki/index.js";
import { generateKeySync, privateKeyToPem, publicKeySpki, type KeySpec } from "../pki/keys.js";
import { writeFileAtomicSync } from "../fsutil/index.js";
import type { CaKeyAlgorithm } from "./config.js";

/**
 * The standalone data dir: created on first start, reused afterwards.
 * Nothing is regenerated silently: a half-present CA (cert without key or the
 * reverse) or a key that does not match its certificate is an error naming
 * the file. Keys are written 0600 atomically; the folder is 0700.
 *
 *   root-cert.pem   the mesh root (what clients trust; always this path)
 *   root-key.pem    its private key
 *   admin-token     bearer token of the admin API (CLI reads it)
 *   manifests-report.json  what the last `--manifests` pass refused or warned
 *                   about (file, field), for `meshsign status`
 */
export interface DataDirPaths {
  readonly dir: string;
  readonly rootCert: string;
  readonly rootKey: string;
  readonly adminToken: string;
  readonly secrets: string;
  readonly manifestsReport: string;
}

export function dataDirPaths(dir: string): DataDirPaths {
  const abs = resolve(dir);
  return {
    dir: abs,
    rootCert: join(abs, "root-cert.pem"),
    rootKey: join(abs, "root-key.pem"),
    adminToken: join(abs, "admin-token"),
    secrets: join(abs, "secrets"),
    manifestsReport: join(abs, "manifests-report.json"),
  };
}

/**
 * Creates the data dir (0700) or checks the one there, with an error that
 * says what to do: a symbolic link to nothing, a file in the way, a folder
 * that cannot be created or written (permissions, a read-only file system).
 */
export function ensureDataDir(paths: DataDirPaths): void {
  const dir = paths.dir;
  const fix = "choose another with --data-dir (MESHSIGN_DATA_DIR)";
  const link = lstatOrUndefined(dir);
  if (link?.isSymbolicLink() === true && !existsSync(dir)) {
    let target = "?";
    try {
      target = readlinkSync(dir);
    } catch {}
    throw new MeshsignError("ERR_CONFIG_INVALID", `data dir ${dir} is a symbolic link to ${target}, which does not exist: create it, or ${fix}`);
  }
  if (link === undefined) {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw new MeshsignError("ERR_CONFIG_INVALID", `cannot create data dir ${dir}: ${errnoText(err)}; ${fix}`, { cause: err });
    }
  }
  const st = statSync(dir);
  if (!st.isDirectory()) throw new MeshsignError("ERR_CONFIG_INVALID", `data dir ${dir} is not a directory; ${fix}`);
  try {
    accessSync(dir, fsConstants.W_OK | fsConstants.X_OK);
  } catch (err) {
    throw new MeshsignError("ERR_CONFIG_INVALID", `data dir ${dir} is not writable: ${errnoText(err)}; ${fix}`, { cause: err });
  }
  if ((st.mode & 0o077) !== 0) chmodSync(dir, 0o700);
}

function lstatOrUndefined(p: string): Stats | undefined {
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
}

function errnoText(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === "EROFS") return "the file system is read-only";
  if (code === "EACCES" || code === "EPERM") return "permission denied";
  if (code === "ENOTDIR") return "a file is in the way of its path";
  if (code === "ENOSPC") return "no space left on the device";
  return code ?? (err instanceof Error ? err.message : String(err));
}

export interface RootCa {
  readonly certificatePem: string;
  readonly privateKey: KeyObject;
  /** true when this call created the CA. */
  readonly created: boolean;
}

/** Loads the root CA, or creates it when neither file exists. */
export async function loadOrCreateRootCa(
  paths: DataDirPaths,
  options: { algorithm: CaKeyAlgorithm; durationMs: number; trustDomain: string; now?: Date },
): Promise<RootCa> {
  const haveCert = existsSync(paths.rootCert);
  const haveKey = existsSync(paths.rootKey);
  if (haveCert !== haveKey) {
    const missing = haveCert ? paths.rootKey : paths.rootCert;
    throw new MeshsignError(
      "ERR_CONFIG_INVALID",
      `root CA is incomplete: ${missing} is missing; restore it or remove both root-cert.pem and root-key.pem to create a new CA`,
    );
  }
  if (haveCert) return { ...loadRootCa(paths), created: false };
  const created = await createRootCa(options);
  writeFileAtomicSync(paths.rootKey, created.keyPem, { mode: 0o600 });
  writeFileAtomicSync(paths.rootCert, created.certificatePem, { mode: 0o644 });
  return { certificatePem: created.certificatePem, privateKey: createPrivateKey(created.keyPem), created: true };
}

function loadRootCa(paths: DataDirPaths): Omit<RootCa, "created"> {
  const certificatePem = readFileSync(paths.rootCert, "utf8");
  let cert: X509Certificate;
  let privateKey: KeyObject;
  try {
    cert = new X509Certificate(certificatePem);
  } catch (err) {
    throw new MeshsignError("ERR_CONFIG_INVALID", `${paths.rootCert} is not a PEM certificate`, { cause: err });
  }
  try {
    privateKey = createPrivateKey(readFileSync(paths.rootKey));
  } catch (err) {
    throw new MeshsignError("ERR_CONFIG_INVALID", `${paths.rootKey} is not a PEM private key`, { cause: err });
  }
  if (!cert.checkPrivateKey(privateKey)) {
    throw new MeshsignError("ERR_CONFIG_INVALID", `${paths.rootKey} does not match ${paths.rootCert}`);
  }
  if (!cert.ca) throw new MeshsignError("ERR_CONFIG_INVALID", `${paths.rootCert} is not a CA certificate`);
  const mode = statSync(paths.rootKey).mode & 0o777;
  if ((mode & 0o077) !== 0) chmodSync(paths.rootKey, 0o600);
  return { certificatePem, privateKey };
}

const CA_KEYS: Record<CaKeyAlgorithm, KeySpec> = {
  "ecdsa-p256": { type: "ec", curve: "P-256" },
  "ecdsa-p384": { type: "ec", curve: "P-384" },
  "rsa-2048": { type: "rsa", bits: 2048 },
  "rsa-3072": { type: "rsa", bits: 3072 },
  "rsa-4096": { type: "rsa", bits: 4096 },
  ed25519: { type: "ed25519" },
};

/**
 * A self-signed mesh root: subject O=<trust domain>, CN=meshsign root CA;
 * CA:true and keyCertSign/cRLSign, both critical; the trust domain's SPIFFE ID
 * as URI SAN (X.509-SVID §3.2: a signing certificate may carry it, with no
 * path); notBefore back-dated 5 minutes. Signed with src/pki's encoder.
 */
export async function createRootCa(options: {
  algorithm: CaKeyAlgorithm;
  durationMs: number;
  trustDomain: string;
  now?: Date;
}): Promise<{ certificatePem: string; keyPem: string }> {
  const key = generateKeySync(CA_KEYS[options.algorithm]);
  const now = (options.now ?? new Date()).getTime();
  const template: CertificateTemplate = {
    publicKeySpki: publicKeySpki(key),
    subject: [[{ type: NameOid.organizationName, value: options.trustDomain }], [{ type: NameOid.commonName, value: "meshsign root CA" }]],
    uris: [`spiffe://${options.trustDomain}`],
    isCA: true,
    keyUsage: ["keyCertSign", "cRLSign"],
    extKeyUsage: [],
    notBefore: new Date(now - 5 * 60_000),
    notAfter: new Date(now + options.durationMs),
  };
  const der = signCertificate(template, selfSignedSigner(template, key));
  return { certificatePem: encodePem("CERTIFICATE", der), keyPem: privateKeyToPem(key) };
}

/** Reads the admin API token, creating a random one (0600) on first use. */
export function loadOrCreateAdminToken(paths: DataDirPaths, create: boolean): string {
  if (existsSync(paths.adminToken)) {
    const token = readFileSync(paths.adminToken, "utf8").trim();
    if (token.length < 32) throw new MeshsignError("ERR_CONFIG_INVALID", `${paths.adminToken} is too short to be an admin token`);
    return token;
  }
  if (!create) {
    throw new MeshsignError("ERR_CONFIG_INVALID", `no admin token at ${paths.adminToken}: is meshsign serving with this --data-dir?`);
  }
  const token = randomBytes(32).toString("base64url");
  writeFileAtomicSync(paths.adminToken, `${token}\n`, { mode: 0o600 });
  return token;
}
