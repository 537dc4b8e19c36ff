/**
 * DNS-01 through Cloudflare's API. Importing this module registers the
 * provider under `cloudflare`; tests build their own factory with a
 * stand-in server's URL.
 */
import { registerDns01Provider } from "../registry.js";
import { createCloudflareFactory } from "./factory.js";

registerDns01Provider("cloudflare", createCloudflareFactory());

export { CLOUDFLARE_API_URL, type CloudflareFactoryOptions, createCloudflareFactory } from "./factory.js";
export { CLOUDFLARE_TXT_TTL, CloudflareProvider } from "./provider.js";
