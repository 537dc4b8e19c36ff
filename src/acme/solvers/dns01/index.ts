/**
 * DNS-01: the provider contract and registry, and the propagation check. Provider modules register
 * themselves when imported from here.
 */
// Registers the RFC 2136 provider under "rfc2136".
import "./rfc2136/index.js";
// Registers the webhook provider under "webhook".
import "./webhook/index.js";

export type { PropagationOptions, PropagationResult } from "./propagation.js";
export { checkPropagation, resolveChallengeRecord } from "./propagation.js";
export type {
  Dns01BuildContext,
  Dns01ChallengeInfo,
  Dns01Config,
  Dns01Provider,
  Dns01ProviderFactory,
  Dns01Record,
} from "./provider.js";
export { parseRecursiveNameservers } from "./recursive-nameservers.js";
export {
  createDns01Provider,
  dns01ProviderKey,
  isDns01ProviderSupported,
  registerDns01Provider,
} from "./registry.js";

// Providers register themselves on import.
import "./route53/index.js";
import "./cloudflare/index.js";
