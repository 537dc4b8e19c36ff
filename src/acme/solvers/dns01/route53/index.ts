/**
 * DNS-01 through AWS Route53. Importing this module registers the provider
 * under `route53`; tests build their own factory with an emulator endpoint.
 */
import { registerDns01Provider } from "../registry.js";
import { createRoute53Factory } from "./factory.js";

registerDns01Provider("route53", createRoute53Factory());

export { createRoute53Factory, type Route53FactoryOptions } from "./factory.js";
export { ROUTE53_TXT_TTL, Route53Provider, type Route53ProviderOptions } from "./provider.js";
