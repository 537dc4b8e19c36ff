/**
 * Builds a {@link VaultIssuer} from an Issuer/ClusterIssuer's `spec.vault`:
 * validates the spec, reads the Secrets it names (in the issuer's Secret
 * namespace), prepares the TLS transport and the token source, then logs in
 * and checks Vault's health once so the Ready condition says something true.
 * A new instance (and so a new token) is built whenever the spec or one of
 * these Secrets changes. Given a {@link SharedIssuers} pool, builders of the
 * same resource with the same spec and Secrets (the engine and the
 * CreateCertificate path) get one instance between them.
 */
import { MeshsignError } from "../../errors/index.js";
import { SharedIssuers } from "../instance-pool.js";
import type { Issuer, SignResult } from "../issuer.js";
import type { IssuerBuildContext, IssuerFactory } from "../registry.js";
import { parseVaultConfig, referencedSecrets, type SecretKeyRef, VaultConfigError } from "./config.js";
import { VaultTransport } from "./lib/http.js";
import { type TokenSource, VaultSession } from "./lib/session.js";
import { VAULT_READY_REASONS, VaultIssuer } from "./vault-issuer.js";

/** Deadline of every call to Vault (login, sign, health). */
export const VAULT_CALL_TIMEOUT_MS = 10_000;

/** Lifetime of the service account token requested for each Kubernetes login (cert-manager's). */
export const SERVICE_ACCOUNT_TOKEN_SECONDS = 600;

/**
 * The audiences cert-manager requests for `serviceAccountRef`: the extra
 * ones given, `vault://<namespace>/<issuer>` (an Issuer) or
 * `vault://<clusterissuer>`, and the Vault server's URL; a Vault role's
 * `audience` names one of them.
 */
export function serviceAccountAudiences(
  extra: readonly string[],
  resource: IssuerBuildContext["resource"],
  server: string,
): string[] {
  const own =
    resource === undefined
      ? []
      : [
          resource.kind === "ClusterIssuer"
            ? `vault://${resource.name}`
            : `vault://${resource.namespace ?? ""}/${resource.name}`,
        ];
  return [...new Set([...extra, ...own, server])];
}

async function secretValue(ctx: IssuerBuildContext, ref: SecretKeyRef): Promise<string> {
  const data = await ctx.readSecret(ref.name);
  const where = `secret "${ctx.secretNamespace}/${ref.name}"`;
  if (data === undefined) throw new VaultConfigError(`${where} not found`);
  const v = data[ref.key];
  if (v === undefined || v.trim() === "")
    throw new VaultConfigError(`${where} has no data under key "${ref.key}"`);
  return v;
}

/** A Vault issuer whose spec or Secrets are unusable: never signs, says why. */
function unusable(message: string): Issuer {
  const status = { ready: false, reason: VAULT_READY_REASONS.error, message } as const;
  return {
    kind: "vault",
    status: () => status,
    sign: async (): Promise<SignResult> => {
      throw new MeshsignError("ERR_ISSUER_NOT_READY", `Vault issuer is not ready: ${message}`, {
        retry: "transient",
      });
    },
  };
}

/** The `vault` issuer factory registered in the issuer registry. */
export const vaultIssuerFactory: IssuerFactory = async (spec, buildCtx) => {
  // Every Secret read is part of what the instance is built from: the key of a shared instance.
  const reads: [string, Readonly<Record<string, string>> | undefined][] = [];
  const ctx: IssuerBuildContext = {
    ...buildCtx,
    readSecret: async (name) => {
      const data = await buildCtx.readSecret(name);
      reads.push([name, data]);
      return data;
    },
  };
  let secretNames: string[] = [];
  const notReady = (message: string) => ({ issuer: unusable(message), secretNames });
  try {
    const config = parseVaultConfig(spec);
    secretNames = referencedSecrets(config);
    const ca =
      config.caBundle ??
      (config.caBundleSecretRef !== undefined ? await secretValue(ctx, config.caBundleSecretRef) : undefined);
    const cert =
      config.clientCertSecretRef !== undefined
        ? await secretValue(ctx, config.clientCertSecretRef)
        : undefined;
    const key =
      config.clientKeySecretRef !== undefined ? await secretValue(ctx, config.clientKeySecretRef) : undefined;
    const transport = new VaultTransport({
      server: config.server,
      timeoutMs: VAULT_CALL_TIMEOUT_MS,
      ...(ca !== undefined ? { ca } : {}),
      ...(config.serverName !== undefined ? { serverName: config.serverName } : {}),
      ...(cert !== undefined && key !== undefined ? { cert, key } : {}),
    });
    let source: TokenSource;
    const a = config.auth;
    switch (a.method) {
      case "token":
        source = { kind: "static", token: (await secretValue(ctx, a.tokenSecretRef)).trim() };
        break;
      case "appRole": {
        const secretId = (await secretValue(ctx, a.secretRef)).trim();
        source = {
          kind: "login",
          path: `${a.path}/login`,
          describe: "AppRole",
          body: async () => ({ role_id: a.roleId, secret_id: secretId }),
        };
        break;
      }
      case "kubernetes": {
        if (a.serviceAccountRef !== undefined) {
          const request = ctx.requestServiceAccountToken;
          if (request === undefined) {
            transport.close();
            return notReady(
              "spec.vault.auth.kubernetes.serviceAccountRef needs a service account token from the Kubernetes TokenRequest API, which only meshsign --mode kubernetes can request; use auth.kubernetes.secretRef with a token Secret, or another auth method",
            );
          }
          const sa = a.serviceAccountRef;
          const audiences = serviceAccountAudiences(sa.audiences, ctx.resource, config.server);
          // A fresh short-lived token for every login (they are rare: one per issuer and token lifetime).
          source = {
            kind: "login",
            path: `${a.mountPath}/login`,
            describe: "Kubernetes",
            body: async () => {
              let jwt: string;
              try {
                jwt = await request({
                  namespace: ctx.secretNamespace,
                  name: sa.name,
                  audiences,
                  expirationSeconds: SERVICE_ACCOUNT_TOKEN_SECONDS,
                });
              } catch (err) {
                throw new MeshsignError(
                  "ERR_ISSUER_UNAVAILABLE",
                  `cannot request a token for service account ${ctx.secretNamespace}/${sa.name}: ${err instanceof Error ? err.message : "TokenRequest failed"}`,
                  { retry: "transient", cause: err },
                );
              }
              return { role: a.role, jwt };
            },
          };
          break;
        }
        const jwt = (await secretValue(ctx, a.secretRef as SecretKeyRef)).trim();
        source = {
          kind: "login",
          path: `${a.mountPath}/login`,
          describe: "Kubernetes",
          body: async () => ({ role: a.role, jwt }),
        };
        break;
      }
      case "clientCertificate": {
        let loginTransport = transport;
        if (a.secretName !== undefined) {
          const c = await secretValue(ctx, { name: a.secretName, key: "tls.crt" });
          const k = await secretValue(ctx, { name: a.secretName, key: "tls.key" });
          loginTransport = transport.withClientCertificate(c, k);
        } else if (cert === undefined) {
          transport.close();
          return notReady(
            "spec.vault.auth.clientCertificate needs a client certificate: set auth.clientCertificate.secretName or spec.vault.clientCertSecretRef/clientKeySecretRef",
          );
        }
        source = {
          kind: "login",
          path: `${a.mountPath}/login`,
          describe: "certificate",
          transport: loginTransport,
          body: async () => (a.name !== undefined ? { name: a.name } : {}),
        };
        break;
      }
    }
    const session = new VaultSession({
      transport,
      source,
      now: Date.now,
      ...(config.namespace !== undefined ? { namespace: config.namespace } : {}),
    });
    const issuer = new VaultIssuer({ config, transport, session });
    const shared = ctx.shared;
    if (shared === undefined) {
      await issuer.refresh();
      return { issuer, secretNames };
    }
    // The engine and the CreateCertificate path share one instance: one login, one token, one pool.
    // A ClusterIssuer's key has no namespace, whatever namespace its reference was seen from.
    const r = ctx.resource;
    const resourceKey =
      r === undefined
        ? ""
        : r.kind === "ClusterIssuer"
          ? `ClusterIssuer/${r.name}`
          : `Issuer/${r.namespace ?? ""}/${r.name}`;
    const sharedKey = SharedIssuers.key(`vault/${resourceKey}`, {
      secretNamespace: ctx.secretNamespace,
      spec,
      reads,
    });
    const handle = await shared.acquire(sharedKey, async () => {
      await issuer.refresh();
      return issuer;
    });
    if (!handle.created) issuer.close();
    return { issuer: handle.issuer, secretNames };
  } catch (err) {
    if (err instanceof VaultConfigError) return notReady(err.message);
    throw err;
  }
};
