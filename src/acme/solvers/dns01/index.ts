/**
 * DNS-01: the provider contract and registry, and the propagation check. Provider modules register
 * themselves when imported from here.
 */

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
export {
  createDns01Provider,
  dns01ProviderKey,
  isDns01ProviderSupported,
  registerDns01Provider,
} from "./registry.js";
