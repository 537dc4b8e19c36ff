import { X509Certificate } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { join, sep } from "node:path";
import { tryParseGoDuration } from "../api/duration.js";
import { IstioCaClient } from "../csr-service/client.js";
import { MeshsignError } from "../errors/index.js";
import { writeFileAtomicSync } from "../fsutil/index.js";
import { buildCsr, generateKeySync, privateKeyToPem, type KeySpec } from "../pki/keys.js";
import { loadConfig } from "../server/config.js";
import { dataDirPaths } from "../server/data-dir.js";
import { mintDevToken } from "./token.js";

const KEY_TYPES: Record<string, KeySpec> = {
  "rsa-2048": { type: "rsa", bits: 2048 },
  "rsa-3072": { type: "rsa", bits: 3072 },
  "rsa-4096": { type: "rsa", bits: 4096 },
  "ecdsa-p256": { type: "ec", curve: "P-256" },
  "ecdsa-p384": { type: "ec", curve: "P-384" },
  ed25519: { type: "ed25519" },
};

/**
 * `meshsign request`: what istio-agent does for a sidecar. Reads (or mints, in
 * dev mode) the service-account token, generates the key, builds the CSR
 * (O="" subject, one critical URI SAN), calls CreateCertificate over TLS
 * verified against the root, and writes the files istio-agent writes for
 * file-mounted certificates into `--out` (default ./meshsign-certs, 0700,
 * so a private key never lands untracked in a project folder):
 *
 *   key.pem         the workload's private key (0600)
 *   cert-chain.pem  the leaf followed by any intermediates, not the root
 *   root-cert.pem   the root it chains to (what peers trust)
 */
export async function runRequest(opts: {
  namespace: string;
  serviceAccount: string;
  address: string;
  caFile?: string;
  tokenFile?: string;
  keyType: string;
  ttl: string;
  /** Absent: MESHSIGN_TRUST_DOMAIN, else serve's default. */
  trustDomain?: string;
  clusterId?: string;
  serverName?: string;
  out: string;
  /** Absent: MESHSIGN_DATA_DIR, else serve's default. */
  dataDir?: string;
}): Promise<void> {
  const spec = KEY_TYPES[opts.keyType];
  if (!spec) throw new MeshsignError("ERR_CONFIG_INVALID", `--key-type: must be one of ${Object.keys(KEY_TYPES).join(", ")}`);
  const ttlMs = tryParseGoDuration(opts.ttl);
  if (ttlMs === undefined) throw new MeshsignError("ERR_CONFIG_INVALID", `--ttl: "${opts.ttl}" is not a duration`);
  // validity_duration is whole seconds and 0 asks for the server's default (24h in istiod and
  // meshsign): a lifetime under a second would have come back as a day's certificate, unsaid.
  // A fraction above is dropped, as istio-agent's int64(SECRET_TTL.Seconds()) drops it.
  if (ttlMs < 1000) {
    throw new MeshsignError(
      "ERR_CONFIG_INVALID",
      `--ttl: "${opts.ttl}" must be at least 1s (CreateCertificate asks for whole seconds; 0 would get the server's default lifetime)`,
    );
  }
  // Where serve takes them from when not given, so a meshsign run with MESHSIGN_* is reached the same way.
  const { dataDir, trustDomain } = loadConfig(
    {
      env: process.env,
      flags: { ...(opts.dataDir !== undefined ? { dataDir: opts.dataDir } : {}), ...(opts.trustDomain !== undefined ? { trustDomain: opts.trustDomain } : {}) },
    },
    { purpose: "client" },
  );
  const paths = dataDirPaths(dataDir);
  const caFile = opts.caFile ?? paths.rootCert;
  const rootsPem = readFile(caFile, "--ca-file");
  const token = opts.tokenFile
    ? readFile(opts.tokenFile, "--token-file").trim()
    : await mintDevToken({ dataDir, namespace: opts.namespace, serviceAccount: opts.serviceAccount });
  const identity = `spiffe://${trustDomain}/ns/${opts.namespace}/sa/${opts.serviceAccount}`;
  const key = generateKeySync(spec);
  const csr = buildCsr(key, { uris: [identity] });
  const client = new IstioCaClient({ address: opts.address, rootsPem, ...(opts.serverName ? { serverName: opts.serverName } : {}) });
  let chain: string[];
  try {
    chain = await client.createCertificate({
      csr,
      token,
      validityDurationSeconds: Math.floor(ttlMs / 1000),
      ...(opts.clusterId !== undefined ? { clusterId: opts.clusterId } : {}),
    });
  } catch (err) {
    const e = err as { code?: number; details?: string };
    throw new MeshsignError("ERR_INTERNAL", `CreateCertificate failed: ${e.details ?? String(err)} (gRPC code ${e.code ?? "?"})`);
  } finally {
    client.close();
  }
  if (chain.length < 2) throw new MeshsignError("ERR_CHAIN_INVALID", "server returned fewer than 2 chain elements");
  const leaf = new X509Certificate(chain[0] as string);
  ensureOutDir(opts.out);
  writeFileAtomicSync(join(opts.out, "key.pem"), privateKeyToPem(key), { mode: 0o600 });
  writeFileAtomicSync(join(opts.out, "cert-chain.pem"), chain.map((c) => (c.endsWith("\n") ? c : `${c}\n`)).slice(0, -1).join(""), { mode: 0o644 });
  writeFileAtomicSync(join(opts.out, "root-cert.pem"), chain.at(-1) as string, { mode: 0o644 });
  process.stdout.write(
    `${[
      `SPIFFE ID:  ${leaf.subjectAltName?.replace(/^URI:/, "") ?? identity}`,
      `serial:     ${leaf.serialNumber}`,
      `not after:  ${new Date(leaf.validTo).toISOString()}`,
      `written to ${opts.out.endsWith(sep) ? opts.out : `${opts.out}${sep}`}:`,
      `  key.pem         private key (${describeKeyType(opts.keyType)}, mode 0600)`,
      `  cert-chain.pem  certificate chain: leaf + intermediates (${intermediates(chain.length - 2)}), not the root, as istio-agent writes it`,
      `  root-cert.pem   root CA to verify it: openssl verify -CAfile ${join(opts.out, "root-cert.pem")} ${join(opts.out, "cert-chain.pem")}`,
    ].join("\n")}\n`,
  );
}

/** The output folder, created 0700 (it holds a private key); an existing folder is used as it is. */
function ensureOutDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === "EEXIST" || code === "ENOTDIR" ? "exists and is not a folder" : code === "EACCES" || code === "EROFS" ? "cannot be created here (no write permission or a read-only file system)" : `cannot be created (${code ?? "error"})`;
    throw new MeshsignError("ERR_CONFIG_INVALID", `--out ${dir}: ${why}`, { cause: err });
  }
}

function intermediates(n: number): string {
  return n <= 0 ? "none here" : `${n} here`;
}

function describeKeyType(keyType: string): string {
  return keyType.startsWith("rsa-") ? `RSA ${keyType.slice(4)}` : keyType === "ed25519" ? "Ed25519" : keyType.replace("ecdsa-p", "ECDSA P-");
}

function readFile(path: string, flag: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw new MeshsignError("ERR_CONFIG_INVALID", `${flag}: cannot read ${path}`, { cause: err });
  }
}
