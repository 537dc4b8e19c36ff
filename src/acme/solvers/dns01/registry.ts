/**
 * Which `dns01` provider keys this build implements. A solver naming any
 * other provider (azureDNS, cloudDNS, akamai, digitalocean, acmeDNS) is
 * parsed and reported on the Issuer and Challenge as not supported yet,
 * never ignored.
 */
import { MeshsignError } from "../../../errors/index.js";
import type { Dns01BuildContext, Dns01Config, Dns01Provider, Dns01ProviderFactory } from "./provider.js";

const FACTORIES = new Map<string, Dns01ProviderFactory>();

/** Registers a provider factory under its spec key; each provider module calls this once. */
export function registerDns01Provider(key: string, factory: Dns01ProviderFactory): void {
  FACTORIES.set(key, factory);
}

/** The provider key a `dns01` block names (the schema guarantees exactly one). */
export function dns01ProviderKey(dns01: Dns01Config): string {
  const keys = [
    "akamai",
    "cloudDNS",
    "cloudflare",
    "route53",
    "azureDNS",
    "digitalocean",
    "acmeDNS",
    "rfc2136",
    "webhook",
  ] as const;
  const found = keys.find((k) => dns01[k] !== undefined);
  if (found === undefined)
    throw new MeshsignError("ERR_DNS01_UNSUPPORTED", "dns01 names no provider", { retry: "terminal" });
  return found;
}

export function isDns01ProviderSupported(dns01: Dns01Config): boolean {
  return FACTORIES.has(dns01ProviderKey(dns01));
}

/** Builds the provider for a `dns01` block; terminal error naming the provider when it is not supported yet. */
export async function createDns01Provider(
  dns01: Dns01Config,
  ctx: Dns01BuildContext,
): Promise<Dns01Provider> {
  const key = dns01ProviderKey(dns01);
  const factory = FACTORIES.get(key);
  if (factory === undefined) {
    throw new MeshsignError(
      "ERR_DNS01_UNSUPPORTED",
      `DNS01 provider "${key}" is not supported by meshsign yet (supported: ${[...FACTORIES.keys()].sort().join(", ") || "none"})`,
      { retry: "terminal" },
    );
  }
  return factory((dns01 as Record<string, unknown>)[key], dns01, ctx);
}
