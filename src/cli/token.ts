import { tryParseGoDuration } from "../api/duration.js";
import { DEV_TOKEN_MAX_TTL_SECONDS, DevTokenIssuer } from "../authn/index.js";
import { MeshsignError } from "../errors/index.js";
import { loadConfig } from "../server/config.js";
import { dataDirPaths, ensureDataDir } from "../server/data-dir.js";

/**
 * Mints a development service-account token with the data dir's dev key.
 * Refused unless the configuration (file, env) enables the dev token issuer,
 * which it never does in Kubernetes mode.
 */
export async function mintDevToken(opts: {
  /** Absent: the data dir serve would use (MESHSIGN_DATA_DIR, the config file's, the default). */
  dataDir?: string;
  namespace: string;
  serviceAccount: string;
  audience?: string;
  ttlSeconds?: number;
  podName?: string;
  configFile?: string;
}): Promise<string> {
  // Only the dev issuer matters here: with it off, say so, not that a server would lack a JWKS.
  const config = loadConfig(
    { ...(opts.configFile ? { file: opts.configFile } : {}), env: process.env, flags: opts.dataDir === undefined ? {} : { dataDir: opts.dataDir } },
    { purpose: "client" },
  );
  const paths = dataDirPaths(config.dataDir);
  if (config.devTokenIssuer) ensureDataDir(paths);
  const issuer = DevTokenIssuer.loadOrCreate(paths.dir, { enabled: config.devTokenIssuer });
  return issuer.mintToken({
    namespace: opts.namespace,
    serviceAccount: opts.serviceAccount,
    ...(opts.audience ? { audience: opts.audience } : {}),
    ...(opts.ttlSeconds ? { ttlSeconds: opts.ttlSeconds } : {}),
    ...(opts.podName ? { podName: opts.podName } : {}),
  });
}

/** `meshsign token`: prints only the token on stdout. */
export async function runToken(opts: {
  namespace: string;
  serviceAccount: string;
  audience: string;
  ttl: string;
  podName?: string;
  dataDir?: string;
  config?: string;
}): Promise<void> {
  const ttlMs = tryParseGoDuration(opts.ttl);
  // The dev issuer mints at most DEV_TOKEN_MAX_TTL_SECONDS; refuse longer here, naming the flag.
  if (ttlMs === undefined || ttlMs < 1000 || ttlMs > DEV_TOKEN_MAX_TTL_SECONDS * 1000) {
    throw new MeshsignError("ERR_CONFIG_INVALID", `--ttl: "${opts.ttl}" must be a duration between 1s and 24h`);
  }
  const token = await mintDevToken({
    ...(opts.dataDir !== undefined ? { dataDir: opts.dataDir } : {}),
    namespace: opts.namespace,
    serviceAccount: opts.serviceAccount,
    audience: opts.audience,
    ttlSeconds: Math.floor(ttlMs / 1000),
    ...(opts.podName ? { podName: opts.podName } : {}),
    ...(opts.config ? { configFile: opts.config } : {}),
  });
  process.stdout.write(`${token}\n`);
}
