/**
 * Builds the Cloudflare provider for one solver's `cloudflare` block:
 * `apiTokenSecretRef` (preferred; `Authorization: Bearer`) or `email` with
 * `apiKeySecretRef` (the global API key; `X-Auth-Email`/`X-Auth-Key`), the
 * Secret read from the Issuer's namespace (or the cluster resource namespace).
 *
 * Written on fetch against Cloudflare's documented REST API rather than the
 * `cloudflare` SDK: four endpoints are used, and the SDK is 71 MB unpacked in
 * 17,000 files with its own retry loop whose errors we would translate anyway.
 */
import { acmeDns01Schema } from "../../../../api/schemas/acme.js";
import { MeshsignError } from "../../../../errors/index.js";
import type { Dns01BuildContext, Dns01ProviderFactory } from "../provider.js";
import { type CloudflareAuth, CloudflareClient } from "./lib/api.js";
import { CloudflareProvider } from "./provider.js";

/** Cloudflare's API base. */
export const CLOUDFLARE_API_URL = "https://api.cloudflare.com/client/v4";

/** Options of the factory itself: injected by the process or by tests, never user fields. */
export interface CloudflareFactoryOptions {
  /** API base URL (a stand-in server in tests); {@link CLOUDFLARE_API_URL} when absent. */
  readonly baseUrl?: string;
  readonly fetch?: typeof fetch;
  /** Per-request timeout (default 30 s, cert-manager's). */
  readonly timeoutMs?: number;
}

const cloudflareSchema = acmeDns01Schema.shape.cloudflare.unwrap();

function refused(message: string): MeshsignError {
  return new MeshsignError("ERR_DNS01_REFUSED", message, { retry: "terminal" });
}

async function readSecret(
  ctx: Dns01BuildContext,
  field: string,
  ref: { readonly name: string; readonly key?: string | undefined },
): Promise<string> {
  if (ref.key === undefined || ref.key === "") {
    throw refused(`cloudflare.${field}: the key in Secret ${ctx.secretNamespace}/${ref.name} must be set`);
  }
  const value = (await ctx.readSecretKey(ref.name, ref.key))?.trim();
  if (value === undefined || value === "") {
    throw refused(
      `cloudflare.${field}: key "${ref.key}" of Secret ${ctx.secretNamespace}/${ref.name} is missing or empty`,
    );
  }
  // A header cannot carry a line break; a Secret written with one is a configuration error.
  if (/[\r\n]/.test(value)) {
    throw refused(
      `cloudflare.${field}: key "${ref.key}" of Secret ${ctx.secretNamespace}/${ref.name} spans several lines`,
    );
  }
  // Tokens and keys are printable ASCII. Anything else (NULs from a file saved as UTF-16) would make
  // fetch refuse the header with a message that quotes it, token included, and fail the same way again.
  if (!/^[\x21-\x7e]+$/.test(value)) {
    throw refused(
      `cloudflare.${field}: key "${ref.key}" of Secret ${ctx.secretNamespace}/${ref.name} holds a character that is not printable ASCII (a file saved as UTF-16?)`,
    );
  }
  return value;
}

/** A factory for `registerDns01Provider("cloudflare", ...)`. */
export function createCloudflareFactory(options: CloudflareFactoryOptions = {}): Dns01ProviderFactory {
  return async (config, _dns01, ctx) => {
    const parsed = cloudflareSchema.safeParse(config);
    if (!parsed.success) {
      throw refused(
        `invalid cloudflare solver: ${parsed.error.issues.map((i) => `${i.path.join(".") || "cloudflare"}: ${i.message}`).join("; ")}`,
      );
    }
    const cfg = parsed.data;
    const tokenRef = cfg.apiTokenSecretRef;
    const keyRef = cfg.apiKeySecretRef;
    let auth: CloudflareAuth;
    if (tokenRef !== undefined && keyRef === undefined) {
      auth = { kind: "token", token: await readSecret(ctx, "apiTokenSecretRef", tokenRef) };
    } else if (keyRef !== undefined && tokenRef === undefined) {
      const email = cfg.email?.trim();
      if (email === undefined || email === "") {
        throw refused("cloudflare: email is required with apiKeySecretRef (the global API key's account)");
      }
      auth = { kind: "key", email, key: await readSecret(ctx, "apiKeySecretRef", keyRef) };
    } else {
      throw refused("cloudflare: exactly one of apiKeySecretRef or apiTokenSecretRef must be set");
    }
    const client = new CloudflareClient({
      baseUrl: (options.baseUrl ?? CLOUDFLARE_API_URL).replace(/\/$/, ""),
      auth,
      fetch: options.fetch ?? globalThis.fetch,
      timeoutMs: options.timeoutMs ?? 30_000,
    });
    return new CloudflareProvider(client);
  };
}
