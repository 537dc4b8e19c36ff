/**
 * `meshsign bundle`: prints the trust domain's bundle, as the SPIFFE bundle
 * endpoint serves it (`--format spiffe`, a JWK Set) or as a PEM bundle of the
 * roots (`--format pem`).
 *
 * - From the data dir (default): the roots meshsign serves (`--root-ca-file`
 *   or `<data-dir>/root-cert.pem`) with the sequence it keeps there; when the
 *   roots or the refresh hint changed since meshsign last served them, the
 *   number it will serve next. Nothing is written: it can run beside a running meshsign.
 * - From a running meshsign (`--url`): fetched from its bundle endpoint and
 *   checked, authenticated as https_web (the server certificate must chain to
 *   `--ca-file` and name the URL's host) or, with `--endpoint-id`, as
 *   https_spiffe (its SVID must chain to `--ca-file` and carry that ID).
 */
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { PeerCertificate } from "node:tls";
import { request } from "node:https";
import { MeshsignError } from "../errors/index.js";
import { loadConfig } from "../server/config.js";
import { dataDirPaths } from "../server/data-dir.js";
import {
  BUNDLE_SEQUENCE_FILE,
  buildSpiffeBundle,
  FileBundleSequence,
  nextBundleSequence,
  parseSpiffeBundle,
  spiffeBundleToPem,
} from "../trust/index.js";

interface BundleOpts {
  format: string;
  /** Absent: the data dir serve would use (MESHSIGN_DATA_DIR, the config file's, the default). */
  dataDir?: string;
  config?: string;
  url?: string;
  caFile?: string;
  endpointId?: string;
}

/** A bundle larger than this is not one meshsign serves. */
const MAX_RESPONSE_BYTES = 1024 * 1024;
const FETCH_TIMEOUT_MS = 10_000;

export async function runBundle(opts: BundleOpts): Promise<void> {
  if (opts.format !== "spiffe" && opts.format !== "pem") {
    throw new MeshsignError("ERR_CONFIG_INVALID", `--format ${opts.format}: must be spiffe or pem`);
  }
  if (opts.endpointId !== undefined && opts.url === undefined) {
    throw new MeshsignError("ERR_CONFIG_INVALID", "--endpoint-id: only with --url");
  }
  const text = opts.url !== undefined ? await fetchBundle(opts.url, opts) : await bundleFromDataDir(opts);
  process.stdout.write(opts.format === "pem" ? spiffeBundleToPem(parseSpiffeBundle(text)) : text);
}

/** The configuration as serve reads it (file, MESHSIGN_*), with --data-dir when given. */
function clientConfig(opts: BundleOpts) {
  return loadConfig(
    { ...(opts.config ? { file: opts.config } : {}), env: process.env, flags: opts.dataDir === undefined ? {} : { dataDir: opts.dataDir } },
    { purpose: "client" },
  );
}

async function bundleFromDataDir(opts: BundleOpts): Promise<string> {
  const config = clientConfig(opts);
  if (config.mode === "kubernetes") {
    throw new MeshsignError("ERR_CONFIG_INVALID", "in kubernetes mode the roots live in the cluster, not the data dir: fetch the bundle with --url");
  }
  const paths = dataDirPaths(config.dataDir);
  const rootsFile = config.rootCaFile || paths.rootCert;
  let roots: string;
  try {
    roots = await readFile(rootsFile, "utf8");
  } catch (cause) {
    throw new MeshsignError("ERR_CONFIG_INVALID", `cannot read the roots ${rootsFile}: is ${paths.dir} meshsign's data dir (--data-dir)?`, { cause });
  }
  const refreshHintSeconds = Math.max(1, Math.round(config.bundleEndpointRefreshHint / 1000));
  const state = nextBundleSequence(await new FileBundleSequence(join(paths.dir, BUNDLE_SEQUENCE_FILE)).read(), roots, refreshHintSeconds);
  const doc = buildSpiffeBundle(roots, { sequence: state.sequence, refreshHintSeconds });
  return `${JSON.stringify(doc, null, 2)}\n`;
}

function fetchBundle(url: string, opts: BundleOpts): Promise<string> {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    throw new MeshsignError("ERR_CONFIG_INVALID", `--url ${url}: not a URL`);
  }
  if (target.protocol !== "https:") throw new MeshsignError("ERR_CONFIG_INVALID", `--url ${url}: a bundle endpoint is served over https`);
  const caFile = opts.caFile ?? dataDirPaths(opts.dataDir ?? clientConfig(opts).dataDir).rootCert;
  let ca: string;
  try {
    ca = readFileSync(caFile, "utf8");
  } catch (cause) {
    throw new MeshsignError("ERR_CONFIG_INVALID", `--ca-file: cannot read ${caFile}`, { cause });
  }
  const endpointId = opts.endpointId;
  if (endpointId !== undefined && !/^spiffe:\/\/[a-z0-9._-]+\/\S+$/.test(endpointId)) {
    throw new MeshsignError("ERR_CONFIG_INVALID", `--endpoint-id ${endpointId}: not a SPIFFE ID`);
  }
  return new Promise((resolve, reject) => {
    const req = request(
      target,
      {
        method: "GET",
        ca,
        minVersion: "TLSv1.2",
        timeout: FETCH_TIMEOUT_MS,
        // https_spiffe: the chain is verified against --ca-file as usual; the name checked is the SPIFFE ID, not the host.
        ...(endpointId !== undefined ? { checkServerIdentity: (_host: string, cert: PeerCertificate) => checkSpiffeId(cert, endpointId) } : {}),
      },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          reject(new MeshsignError("ERR_CONFIG_INVALID", `${url} answered HTTP ${res.statusCode}: is it a bundle endpoint?`));
          return;
        }
        let size = 0;
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_RESPONSE_BYTES) {
            req.destroy(new MeshsignError("ERR_CERT_INVALID", `${url} sent more than ${MAX_RESPONSE_BYTES} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          try {
            parseSpiffeBundle(text);
            resolve(text.endsWith("\n") ? text : `${text}\n`);
          } catch (err) {
            reject(err);
          }
        });
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new MeshsignError("ERR_CONFIG_INVALID", `${url} did not answer within ${FETCH_TIMEOUT_MS / 1000}s`)));
    req.on("error", (err) => reject(err instanceof MeshsignError ? err : new MeshsignError("ERR_CONFIG_INVALID", `cannot fetch ${url}: ${err.message}`, { cause: err })));
    req.end();
  });
}

/** An https_spiffe endpoint must present exactly one URI SAN, the expected SPIFFE ID (X.509-SVID §2). */
function checkSpiffeId(cert: PeerCertificate, expected: string): Error | undefined {
  const uris = (cert.subjectaltname ?? "")
    .split(", ")
    .filter((s) => s.startsWith("URI:"))
    .map((s) => s.slice(4));
  if (uris.length === 1 && uris[0] === expected) return undefined;
  return new Error(`the bundle endpoint presented ${uris.length === 0 ? "no SPIFFE ID" : uris.join(", ")}, not ${expected}`);
}
