import { readFileSync } from "node:fs";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { authenticateChain, JwksAuthenticator, type Authenticator, type JwksSource } from "../authn/index.js";
import { DevTokenIssuer } from "../authn/index.js";
import type { CsrServiceDeps, IssuedEvent } from "../csr-service/handler.js";
import { CsrMetrics } from "../csr-service/metrics.js";
import { createSvidPolicy } from "../csr-service/policy.js";
import { MeshsignError } from "../errors/index.js";
import { CaIssuer } from "../issuers/ca/ca-issuer.js";
import type { Issuer } from "../issuers/issuer.js";
import type { Config } from "./config.js";
import type { DataDirPaths } from "./data-dir.js";

/** Everything CreateCertificate needs, built once per process from the config and data dir. */
export interface CsrStack {
  readonly issuer: Issuer;
  /** Concatenated PEM of the mesh roots. */
  roots(): string;
  deps(onIssued: (event: IssuedEvent) => void): CsrServiceDeps;
  close(): Promise<void>;
}

export async function buildCsrStack(config: Config, paths: DataDirPaths, log: Logger, registry: Registry): Promise<CsrStack> {
  const issuer = await CaIssuer.create({
    certificatePem: readFileSync(paths.rootCert, "utf8"),
    privateKeyPem: readFileSync(paths.rootKey, "utf8"),
    origin: `file ${paths.rootCert}`,
  });
  const status = issuer.status();
  if (!status.ready) throw new MeshsignError("ERR_ISSUER_NOT_READY", `the CA is not usable: ${status.message}`);
  const rootsPem = loadRoots(config.rootCaFile || paths.rootCert);
  const authenticators = await buildAuthenticators(config, paths);
  const metrics = new CsrMetrics(registry);
  const caNotAfter = new (await import("node:crypto")).X509Certificate(readFileSync(paths.rootCert)).validTo;
  metrics.caExpiry.set(Date.parse(caNotAfter) / 1000);
  const policy = createSvidPolicy({
    trustDomain: config.trustDomain,
    maxDurationMs: config.maxClientCertificateDuration,
    defaultDurationMs: config.defaultClientCertificateDuration,
    maxCsrBytes: config.maxCsrBytes,
    keyTypes: config.csrKeyTypes,
    trustedNodeAccounts: config.caTrustedNodeAccounts,
  });
  return {
    issuer,
    roots: () => rootsPem,
    deps: (onIssued) => ({
      authenticate: (input) => authenticateChain(authenticators, input),
      policy,
      issuer,
      roots: () => rootsPem,
      metrics,
      log,
      onIssued,
    }),
    close: async () => {},
  };
}

function loadRoots(path: string): string {
  let pem: string;
  try {
    pem = readFileSync(path, "utf8");
  } catch (err) {
    throw new MeshsignError("ERR_CONFIG_INVALID", `--root-ca-file: cannot read ${path}`, { cause: err });
  }
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
  if (!blocks || blocks.length === 0) throw new MeshsignError("ERR_CONFIG_INVALID", `--root-ca-file: ${path} holds no PEM certificate`);
  return `${blocks.join("\n")}\n`;
}

async function buildAuthenticators(config: Config, paths: DataDirPaths): Promise<Authenticator[]> {
  const common = {
    trustDomain: config.trustDomain,
    clusterId: config.clusterId,
    audiences: config.tokenAudiences,
    clockSkewSeconds: config.tokenClockSkew,
  };
  const list: Authenticator[] = [];
  if (config.tokenAuthenticator === "jwks") {
    const sources: { source: JwksSource; issuer?: string }[] = [];
    if (config.jwksFile) sources.push({ source: { kind: "file", path: config.jwksFile } });
    if (config.jwksUrl) sources.push({ source: { kind: "url", url: config.jwksUrl } });
    if (config.oidcIssuerUrl) sources.push({ source: { kind: "oidc", issuer: config.oidcIssuerUrl } });
    for (const s of sources) {
      const issuer = config.tokenIssuer || (s.source.kind === "oidc" ? s.source.issuer : undefined);
      if (!issuer) throw new MeshsignError("ERR_CONFIG_INVALID", "--token-issuer: required with --jwks-file or --jwks-url");
      list.push(await JwksAuthenticator.create({ ...common, source: s.source, issuer }));
    }
  }
  if (config.devTokenIssuer) {
    const dev = DevTokenIssuer.loadOrCreate(paths.dir, { enabled: true });
    list.push(await JwksAuthenticator.create({ ...common, source: { kind: "static", jwks: dev.jwks }, issuer: dev.issuer }));
  }
  return list;
}
