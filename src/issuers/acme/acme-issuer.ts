/**
 * The ACME issuer (cert-manager's `spec.acme`): one registered account per
 * Issuer/ClusterIssuer, and signing through Orders.
 *
 * Building it is cert-manager's `setup`: validate the spec, load the account
 * key from `privateKeySecretRef` (generating an RSA-2048 PKCS#1 key when the
 * Secret is missing, unless `disableAccountKeyGeneration`), fetch the
 * directory, register the account (or find the one the key already owns,
 * with the External Account Binding when configured) and update its email.
 * The Ready condition and `status.acme` say how that went, with
 * cert-manager's reasons. A transient failure (the CA unreachable, 5xx, rate
 * limited) is retried with back-off; a refusal waits for a change to the
 * Issuer or its Secrets.
 *
 * Signing is not a call but a resource lifecycle (Order, Challenges), which
 * the engine drives: `sign` hands the request to the {@link AcmeOrderSigner}
 * the engine lent at build time. Without one (the CreateCertificate hot
 * path), an ACME issuer refuses: public ACME CAs do not issue SPIFFE SVIDs.
 */

import {
  AcmeClient,
  type AcmeRequestObservation,
  getRenewalInfo,
  registerAccount,
  type Transport,
  updateAccountEmail,
} from "../../acme/index.js";
import { MeshsignError, toMeshsignError } from "../../errors/index.js";
import { decodePemAll } from "../../pki/index.js";
import type { Issuer, IssuerStatus, SignRequest, SignResult } from "../issuer.js";
import type { BuiltIssuer, IssuerBuildContext, IssuerFactory } from "../registry.js";
import { ACCOUNT_KEY_LABELS, accountKeyHash, generateAccountKey, parseAccountKey } from "./account-key.js";
import { type AcmeIssuerConfig, parseAcmeConfig } from "./config.js";
import type { AcmeOrderSigner } from "./types.js";

/** Ready reasons of an ACME Issuer (cert-manager `pkg/issuer/acme/setup.go`). */
export const ACME_READY_REASONS = {
  registered: "ACMEAccountRegistered",
  errRegister: "ErrRegisterACMEAccount",
  errVerify: "ErrVerifyACMEAccount",
  errUpdate: "ErrUpdateACMEAccount",
  invalidConfig: "InvalidConfig",
  invalidUrl: "InvalidURL",
} as const;

const REGISTERED_MESSAGE = "The ACME account was registered with the ACME server";

/** First retry of a transient registration failure; doubles per failed build up to the cap. */
export const ACCOUNT_RETRY_MIN_MS = 10_000;
export const ACCOUNT_RETRY_MAX_MS = 5 * 60_000;

export class AcmeIssuer implements Issuer {
  readonly kind = "acme";
  readonly #status: IssuerStatus;
  readonly #orders: AcmeOrderSigner | undefined;

  constructor(
    readonly config: AcmeIssuerConfig,
    readonly client: AcmeClient,
    status: IssuerStatus,
    orders: AcmeOrderSigner | undefined,
    /** Namespace the issuer's Secrets (and DNS-01 provider credentials) are read from. */
    readonly secretNamespace: string,
  ) {
    this.#status = status;
    this.#orders = orders;
  }

  status(): IssuerStatus {
    return this.#status;
  }

  /** ARI (RFC 9773) when `renewalInformationSource` is ARI (the default) and the CA offers `renewalInfo`. */
  async renewalWindow(
    leafPem: string,
  ): Promise<{ startMs: number; endMs: number; retryAfterMs?: number } | undefined> {
    if (this.config.renewalInformationSource !== "ARI" || this.client.directory.renewalInfo === undefined)
      return undefined;
    const der = decodePemAll(leafPem, "CERTIFICATE")[0];
    if (der === undefined) return undefined;
    const info = await getRenewalInfo(this.client, der);
    return {
      startMs: info.suggestedWindow.start.getTime(),
      endMs: info.suggestedWindow.end.getTime(),
      ...(info.retryAfterMs === undefined ? {} : { retryAfterMs: info.retryAfterMs }),
    };
  }

  async sign(request: SignRequest): Promise<SignResult> {
    if (this.#orders === undefined) {
      throw new MeshsignError(
        "ERR_ISSUER_REJECTED",
        "ACME issuers issue Certificates through Orders; they cannot sign CreateCertificate requests (public ACME CAs do not issue SPIFFE SVIDs)",
      );
    }
    return this.#orders.sign(this, request);
  }
}

export interface AcmeIssuerFactoryOptions {
  /** Sees every ACME request (cert-manager's `certmanager_http_acme_client_request_*` metrics). */
  readonly observe?: (o: AcmeRequestObservation) => void;
  readonly userAgent?: string;
  /** Every ACME request goes through this instead of HTTPS (tests: an in-memory ACME server). */
  readonly transport?: Transport;
  /** Per-request timeout. Default 90 s. */
  readonly timeoutMs?: number;
}

function notReady(
  reason: string,
  message: string,
  secretNames: readonly string[],
  retryAfterMs?: number,
): BuiltIssuer {
  const status: IssuerStatus = { ready: false, reason, message };
  const issuer: Issuer = {
    kind: "acme",
    status: () => status,
    sign: async (): Promise<SignResult> => {
      throw new MeshsignError("ERR_ISSUER_NOT_READY", `ACME issuer is not ready: ${message}`, {
        retry: "transient",
      });
    },
  };
  return { issuer, secretNames, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };
}

async function loadKey(config: AcmeIssuerConfig, ctx: IssuerBuildContext) {
  const ref = config.privateKeySecretRef;
  const where = `secret "${ctx.secretNamespace}/${ref.name}"`;
  const data = await ctx.readSecret(ref.name);
  const pem = data?.[ref.key];
  if (pem !== undefined && pem.trim() !== "") return parseAccountKey(pem, where);
  if (config.disableAccountKeyGeneration) {
    throw new MeshsignError(
      "ERR_CONFIG_INVALID",
      `Failed to load the ACME account key: ${where} ${data === undefined ? "not found" : `has no key "${ref.key}"`} and disableAccountKeyGeneration is set`,
    );
  }
  if (data !== undefined) {
    throw new MeshsignError(
      "ERR_CONFIG_INVALID",
      `Failed to load the ACME account key: ${where} exists without key "${ref.key}"; meshsign does not overwrite it`,
    );
  }
  if (ctx.createSecret === undefined)
    throw new MeshsignError("ERR_CONFIG_INVALID", `Failed to load the ACME account key: ${where} not found`);
  const generated = await generateAccountKey();
  try {
    await ctx.createSecret(ref.name, { [ref.key]: generated.pem }, ACCOUNT_KEY_LABELS);
    return generated.key;
  } catch (err) {
    // Another build (or replica) created it first: use theirs.
    if (toMeshsignError(err).code !== "ERR_ALREADY_EXISTS") throw err;
    const again = (await ctx.readSecret(ref.name))?.[ref.key];
    if (again === undefined) throw err;
    return parseAccountKey(again, where);
  }
}

export function createAcmeIssuerFactory(options: AcmeIssuerFactoryOptions = {}): IssuerFactory {
  /** Consecutive transient failures per account (server + key Secret), for the rebuild back-off. */
  const failures = new Map<string, number>();
  return async (spec, ctx) => {
    let config: AcmeIssuerConfig;
    try {
      config = parseAcmeConfig(spec);
    } catch (err) {
      return notReady(ACME_READY_REASONS.invalidConfig, toMeshsignError(err).message, []);
    }
    const secretNames = [
      config.privateKeySecretRef.name,
      ...(config.externalAccountBinding ? [config.externalAccountBinding.keySecretRef.name] : []),
    ];
    const failureKey = `${ctx.secretNamespace}/${config.privateKeySecretRef.name}@${config.server}`;
    const transient = (reason: string, prefix: string, err: unknown): BuiltIssuer => {
      const e = toMeshsignError(err);
      if (e.retry !== "transient") {
        failures.delete(failureKey);
        return notReady(reason, `${prefix}: ${e.message}`, secretNames);
      }
      const n = (failures.get(failureKey) ?? 0) + 1;
      failures.set(failureKey, n);
      const hinted = (e.detail as { retryAfterMs?: unknown } | undefined)?.retryAfterMs;
      const backoff = Math.min(ACCOUNT_RETRY_MAX_MS, ACCOUNT_RETRY_MIN_MS * 2 ** (n - 1));
      return notReady(
        reason,
        `${prefix}: ${e.message}`,
        secretNames,
        typeof hinted === "number" ? Math.max(hinted, backoff) : backoff,
      );
    };
    let key: Awaited<ReturnType<typeof loadKey>>;
    let eab: { keyId: string; hmacKey: string } | undefined;
    try {
      key = await loadKey(config, ctx);
      if (config.externalAccountBinding !== undefined) {
        const ref = config.externalAccountBinding.keySecretRef;
        const v = (await ctx.readSecret(ref.name))?.[ref.key];
        if (v === undefined || v.trim() === "")
          throw new MeshsignError(
            "ERR_CONFIG_INVALID",
            `Failed to load the External Account Binding key: secret "${ctx.secretNamespace}/${ref.name}" ${v === undefined ? "or its key " : ""}"${ref.key}" not found or empty`,
          );
        eab = { keyId: config.externalAccountBinding.keyID, hmacKey: v.trim() };
      }
    } catch (err) {
      return transient(ACME_READY_REASONS.errRegister, "Failed to register ACME account", err);
    }
    let client: AcmeClient;
    try {
      client = await AcmeClient.connect({
        directoryUrl: config.server,
        accountKey: key,
        ...(config.caBundle !== undefined ? { caBundle: config.caBundle } : {}),
        ...(config.skipTLSVerify ? { skipTLSVerify: true } : {}),
        ...(options.observe ? { observe: options.observe } : {}),
        ...(options.userAgent ? { userAgent: options.userAgent } : {}),
        ...(options.transport ? { transport: options.transport } : {}),
        ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
      });
    } catch (err) {
      const e = toMeshsignError(err);
      if (e.code === "ERR_CONFIG_INVALID")
        return notReady(
          ACME_READY_REASONS.invalidUrl,
          `Failed to get the ACME directory: ${e.message}`,
          secretNames,
        );
      return transient(ACME_READY_REASONS.errRegister, "Failed to register ACME account", err);
    }
    let account: Awaited<ReturnType<typeof registerAccount>>;
    try {
      account = await registerAccount(client, {
        ...(config.email !== undefined ? { email: config.email } : {}),
        ...(eab !== undefined ? { externalAccountBinding: eab } : {}),
      });
    } catch (err) {
      return transient(ACME_READY_REASONS.errRegister, "Failed to register ACME account", err);
    }
    if (account.status !== "valid") {
      return notReady(
        ACME_READY_REASONS.errVerify,
        `Failed to verify ACME account: the account is ${account.status}`,
        secretNames,
      );
    }
    const want = config.email === undefined ? [] : [`mailto:${config.email.toLowerCase()}`];
    if (want.join(",") !== account.contact.join(",")) {
      try {
        await updateAccountEmail(client, config.email);
      } catch (err) {
        return transient(ACME_READY_REASONS.errUpdate, "Failed to update ACME account", err);
      }
    }
    failures.delete(failureKey);
    const status: IssuerStatus = {
      ready: true,
      reason: ACME_READY_REASONS.registered,
      message: REGISTERED_MESSAGE,
      acme: {
        uri: account.url,
        ...(config.email !== undefined ? { lastRegisteredEmail: config.email } : {}),
        lastPrivateKeyHash: accountKeyHash(key),
      },
    };
    return {
      issuer: new AcmeIssuer(config, client, status, ctx.services?.acmeOrders, ctx.secretNamespace),
      secretNames,
    };
  };
}

/** The factory registered under `acme` (no metrics hook). */
export const acmeIssuerFactory: IssuerFactory = createAcmeIssuerFactory();
