/**
 * The RFC 2136 DNS-01 provider. Importing this module registers it under
 * `rfc2136` (dns01/index.ts imports it).
 */
import { registerDns01Provider } from "../registry.js";
import { createRfc2136Provider } from "./provider.js";

export type { Rfc2136Deps } from "./provider.js";
export {
  createRfc2136Provider,
  RFC2136_DEFAULT_TSIG_ALGORITHM,
  RFC2136_TIMEOUT_MS,
  RFC2136_TXT_TTL_SECONDS,
} from "./provider.js";
export type { TsigAlgorithm } from "./tsig.js";

registerDns01Provider("rfc2136", (config, _dns01, ctx) => createRfc2136Provider(config, ctx));
