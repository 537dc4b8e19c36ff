/**
 * Which AWS credentials a Route53 solver uses, in cert-manager's order:
 *
 * 1. `auth.kubernetes.serviceAccountRef`: a service-account token (audience
 *    `sts.amazonaws.com` unless `audiences` says otherwise) exchanged for the
 *    `role` by STS AssumeRoleWithWebIdentity; a fresh token on every refresh.
 * 2. Static keys: `accessKeyID` or `accessKeyIDSecretRef`, with
 *    `secretAccessKeySecretRef`; one without the other is refused.
 * 3. Neither: ambient credentials (environment, web-identity token file,
 *    container or instance role), for ClusterIssuers only; an Issuer gets
 *    cert-manager's "empty credentials" refusal, so one namespace cannot use
 *    the controller's own AWS identity.
 * 4. With `role` (and no service account), the credentials of 2 or 3 assume
 *    that role through STS AssumeRole.
 *
 * Keys and tokens are never logged nor put in an error.
 */
import { AssumeRoleCommand, AssumeRoleWithWebIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import { fromNodeProviderChain } from "@aws-sdk/credential-providers";
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from "@smithy/types";
import { MeshsignError } from "../../../../../errors/index.js";
import type { Dns01BuildContext } from "../../provider.js";
import { toDns01Error } from "./errors.js";

/** cert-manager's default audience for the service-account token. */
export const STS_AUDIENCE = "sts.amazonaws.com";
/** The session name STS records for assumed roles (cert-manager uses "cert-manager"). */
export const ROLE_SESSION_NAME = "meshsign";
/** Region used for signing when neither the solver nor (for ambient credentials) the environment names one. */
export const DEFAULT_REGION = "us-east-1";

interface SecretRef {
  readonly name: string;
  readonly key?: string | undefined;
}

/** The `route53` solver fields that decide credentials and region. */
export interface Route53CredentialConfig {
  readonly region?: string | undefined;
  readonly role?: string | undefined;
  readonly accessKeyID?: string | undefined;
  readonly accessKeyIDSecretRef?: SecretRef | undefined;
  readonly secretAccessKeySecretRef?: SecretRef | undefined;
  readonly auth?:
    | {
        readonly kubernetes: {
          readonly serviceAccountRef: {
            readonly name: string;
            readonly audiences?: readonly string[] | undefined;
          };
        };
      }
    | undefined;
}

export interface ResolvedCredentials {
  readonly region: string;
  readonly credentials: AwsCredentialIdentityProvider;
  /** How they were obtained, for the log (never the keys). */
  readonly source: "static" | "ambient" | "assume-role" | "web-identity";
}

function refused(message: string): MeshsignError {
  return new MeshsignError("ERR_DNS01_REFUSED", message, { retry: "terminal" });
}

async function readSecret(ctx: Dns01BuildContext, field: string, ref: SecretRef): Promise<string> {
  if (ref.key === undefined || ref.key === "") {
    throw refused(`route53.${field}: the key in Secret ${ctx.secretNamespace}/${ref.name} must be set`);
  }
  const value = await ctx.readSecretKey(ref.name, ref.key);
  if (value === undefined || value.trim() === "") {
    throw refused(
      `route53.${field}: key "${ref.key}" of Secret ${ctx.secretNamespace}/${ref.name} is missing or empty`,
    );
  }
  return value.trim();
}

/** STS credentials as an identity the SDK refreshes before `expiration`. */
function fromSts(
  operation: string,
  assume: (signal: AbortSignal) => Promise<AwsCredentialIdentity>,
): AwsCredentialIdentityProvider {
  return async () => {
    try {
      return await assume(AbortSignal.timeout(30_000));
    } catch (err) {
      throw toDns01Error(err, `STS ${operation}`);
    }
  };
}

function identity(out: {
  Credentials?: { AccessKeyId?: string; SecretAccessKey?: string; SessionToken?: string; Expiration?: Date };
}): AwsCredentialIdentity {
  const c = out.Credentials;
  if (c?.AccessKeyId === undefined || c.SecretAccessKey === undefined) {
    throw new MeshsignError("ERR_DNS01_UNAVAILABLE", "STS answered without credentials", {
      retry: "transient",
    });
  }
  return {
    accessKeyId: c.AccessKeyId,
    secretAccessKey: c.SecretAccessKey,
    ...(c.SessionToken !== undefined ? { sessionToken: c.SessionToken } : {}),
    ...(c.Expiration !== undefined ? { expiration: c.Expiration } : {}),
  };
}

/** Ambient credentials: the injected environment's keys when it has them, else the SDK's default chain. */
function ambient(env: Dns01BuildContext["env"]): AwsCredentialIdentityProvider {
  const id = env?.AWS_ACCESS_KEY_ID;
  const secret = env?.AWS_SECRET_ACCESS_KEY;
  if (id !== undefined && id !== "" && secret !== undefined && secret !== "") {
    const token = env?.AWS_SESSION_TOKEN;
    const creds: AwsCredentialIdentity = {
      accessKeyId: id,
      secretAccessKey: secret,
      ...(token !== undefined && token !== "" ? { sessionToken: token } : {}),
    };
    return async () => creds;
  }
  const chain = fromNodeProviderChain();
  return async () => {
    try {
      return await chain();
    } catch (err) {
      throw toDns01Error(err, "AWS ambient credentials");
    }
  };
}

/** Resolves credentials and region for one solver; `endpoint` points STS at a test server. */
export async function resolveRoute53Credentials(
  config: Route53CredentialConfig,
  ctx: Dns01BuildContext,
  endpoint: string | undefined,
): Promise<ResolvedCredentials> {
  if (config.accessKeyID !== undefined && config.accessKeyIDSecretRef !== undefined) {
    throw refused("route53: accessKeyID and accessKeyIDSecretRef cannot both be specified");
  }
  const sa = config.auth?.kubernetes.serviceAccountRef;
  const role = config.role !== undefined && config.role !== "" ? config.role : undefined;
  const envRegion = ctx.env?.AWS_REGION || ctx.env?.AWS_DEFAULT_REGION || undefined;
  const stsConfig = (region: string) => ({
    region,
    ...(endpoint !== undefined ? { endpoint } : {}),
    maxAttempts: 3,
  });

  if (sa !== undefined) {
    if (role === undefined) {
      throw refused("unable to construct route53 provider: role must be set when web identity token is set");
    }
    const request = ctx.requestServiceAccountToken;
    if (request === undefined) {
      throw refused(
        `route53.auth.kubernetes.serviceAccountRef (${sa.name}) needs a service-account token from the Kubernetes TokenRequest API, which this meshsign process does not request (standalone, or not wired); use static keys or ambient credentials`,
      );
    }
    const region = config.region || DEFAULT_REGION;
    const audiences = sa.audiences !== undefined && sa.audiences.length > 0 ? sa.audiences : [STS_AUDIENCE];
    // AssumeRoleWithWebIdentity is not signed: this client needs no credentials of its own.
    const sts = new STSClient({
      ...stsConfig(region),
      credentials: { accessKeyId: "", secretAccessKey: "" },
    });
    const credentials = fromSts("AssumeRoleWithWebIdentity", async (signal) => {
      let token: string;
      try {
        token = await request(sa.name, audiences);
      } catch (err) {
        throw new MeshsignError(
          "ERR_DNS01_UNAVAILABLE",
          `requesting a token for service account ${ctx.secretNamespace}/${sa.name} failed`,
          { retry: "transient", cause: err },
        );
      }
      const out = await sts.send(
        new AssumeRoleWithWebIdentityCommand({
          RoleArn: role,
          RoleSessionName: ROLE_SESSION_NAME,
          WebIdentityToken: token,
        }),
        { abortSignal: signal },
      );
      return identity(out);
    });
    return { region, credentials, source: "web-identity" };
  }

  const accessKeyId =
    config.accessKeyIDSecretRef !== undefined
      ? await readSecret(ctx, "accessKeyIDSecretRef", config.accessKeyIDSecretRef)
      : config.accessKeyID?.trim() || undefined;
  const secretAccessKey =
    config.secretAccessKeySecretRef !== undefined
      ? await readSecret(ctx, "secretAccessKeySecretRef", config.secretAccessKeySecretRef)
      : undefined;

  let base: AwsCredentialIdentityProvider;
  let region: string;
  let source: ResolvedCredentials["source"];
  if (accessKeyId !== undefined && secretAccessKey !== undefined) {
    const creds: AwsCredentialIdentity = { accessKeyId, secretAccessKey };
    base = async () => creds;
    // Static keys never take the region from the environment (as cert-manager).
    region = config.region || DEFAULT_REGION;
    source = "static";
  } else if (accessKeyId !== undefined || secretAccessKey !== undefined) {
    throw refused("unable to construct route53 provider: only one of access and secret key was provided");
  } else if (ctx.issuerKind !== "ClusterIssuer") {
    throw refused(
      "unable to construct route53 provider: empty credentials; perhaps you meant to enable ambient credentials?",
    );
  } else {
    base = ambient(ctx.env);
    // With ambient credentials the environment's region wins over the solver's (cert-manager >= 1.16).
    region = envRegion ?? (config.region || DEFAULT_REGION);
    source = "ambient";
  }

  if (role === undefined) return { region, credentials: base, source };
  const sts = new STSClient({ ...stsConfig(region), credentials: base });
  const credentials = fromSts("AssumeRole", async (signal) =>
    identity(
      await sts.send(new AssumeRoleCommand({ RoleArn: role, RoleSessionName: ROLE_SESSION_NAME }), {
        abortSignal: signal,
      }),
    ),
  );
  return { region, credentials, source: "assume-role" };
}
