import "reflect-metadata";
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, webcrypto, X509Certificate, type KeyObject } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import * as x509 from "@peculiar/x509";
import { MeshsignError } from "../errors/index.js";
import type { CaKeyAlgorithm } from "./config.js";
import { writeFileAtomic } from "./lib/atomic-file.js";

/**
 * The standalone data dir: created on first start, reused afterwards.
 * Nothing is regenerated silently: a half-present CA (cert without key or the
 * reverse) or a key that does not match its certificate is an error naming
 * the file. Keys are written 0600 atomically; the folder is 0700.
 *
 *   root-cert.pem   the mesh root (what clients trust; always this path)
 *   root-key.pem    its private key
 *   admin-token     bearer token of the admin API (CLI reads it)
 */
export interface DataDirPaths {
  readonly dir: string;
  readonly rootCert: string;
  readonly rootKey: string;
  readonly adminToken: string;
  readonly secrets: string;
}

export function dataDirPaths(dir: string): DataDirPaths {
  const abs = resolve(dir);
  return {
    dir: abs,
    rootCert: join(abs, "root-cert.pem"),
    rootKey: join(abs, "root-key.pem"),
    adminToken: join(abs, "admin-token"),
    secrets: join(abs, "secrets"),
  };
}

export function ensureDataDir(paths: DataDirPaths): void {
  if (!existsSync(paths.dir)) mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
  const st = statSync(paths.dir);
  if (!st.isDirectory()) throw new MeshsignError("ERR_CONFIG_INVALID", `data dir ${paths.dir} is not a directory`);
  if ((st.mode & 0o077) !== 0) chmodSync(paths.dir, 0o700);
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
  writeFileAtomic(paths.rootKey, created.keyPem, 0o600);
  writeFileAtomic(paths.rootCert, created.certificatePem, 0o644);
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

type SigningAlgorithm = { name: string; hash?: string };

function keyGenParams(alg: CaKeyAlgorithm): { gen: () => KeyObject; sign: SigningAlgorithm } {
  switch (alg) {
    case "ecdsa-p256":
    case "ecdsa-p384": {
      const namedCurve = alg === "ecdsa-p256" ? "P-256" : "P-384";
      return {
        gen: () => generateKeyPairSync("ec", { namedCurve }).privateKey,
        sign: { name: "ECDSA", hash: alg === "ecdsa-p256" ? "SHA-256" : "SHA-384" },
      };
    }
    case "ed25519":
      return { gen: () => generateKeyPairSync("ed25519").privateKey, sign: { name: "Ed25519" } };
    default: {
      const modulusLength = Number(alg.slice(4));
      return {
        gen: () => generateKeyPairSync("rsa", { modulusLength }).privateKey,
        sign: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
      };
    }
  }
}

export async function createRootCa(options: {
  algorithm: CaKeyAlgorithm;
  durationMs: number;
  trustDomain: string;
  now?: Date;
}): Promise<{ certificatePem: string; keyPem: string }> {
  const { gen, sign } = keyGenParams(options.algorithm);
  const key = gen();
  const keyPem = key.export({ type: "pkcs8", format: "pem" }).toString();
  const importAlg =
    sign.name === "ECDSA"
      ? { name: "ECDSA", namedCurve: options.algorithm === "ecdsa-p256" ? "P-256" : "P-384" }
      : sign.name === "Ed25519"
        ? { name: "Ed25519" }
        : { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
  const pkcs8 = key.export({ type: "pkcs8", format: "der" });
  const privateKey = await webcrypto.subtle.importKey("pkcs8", pkcs8, importAlg, false, ["sign"]);
  const publicKey = await webcrypto.subtle.importKey(
    "spki",
    createPublicKey(key).export({ type: "spki", format: "der" }),
    importAlg,
    true,
    ["verify"],
  );
  const now = options.now ?? new Date();
  const notBefore = new Date(now.getTime() - 5 * 60_000);
  const notAfter = new Date(now.getTime() + options.durationMs);
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomBytes(16).toString("hex").replace(/^[89a-f]/, "7"),
    name: [{ O: [options.trustDomain] }, { CN: ["meshsign root CA"] }],
    notBefore,
    notAfter,
    signingAlgorithm: sign,
    keys: { privateKey, publicKey },
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      // X.509-SVID §3.2: a signing certificate may carry the trust domain's SPIFFE ID, with no path.
      new x509.SubjectAlternativeNameExtension([{ type: "url", value: `spiffe://${options.trustDomain}` }]),
      await x509.SubjectKeyIdentifierExtension.create(publicKey),
    ],
  });
  return { certificatePem: `${cert.toString("pem")}\n`, keyPem };
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
  writeFileAtomic(paths.adminToken, `${token}\n`, 0o600);
  return token;
}
