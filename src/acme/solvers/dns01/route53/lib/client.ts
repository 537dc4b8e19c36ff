/**
 * The AWS SDK side of the provider: credentials, the Route53 client and the
 * {@link Route53Api} over it. Kept apart so the factory loads the AWS SDK
 * (about a second and 25 MB on first load) only when a route53 solver is
 * first used, not in every meshsign process.
 */
import { Route53Client } from "@aws-sdk/client-route-53";
import type { Dns01BuildContext } from "../../provider.js";
import { type Route53Api, sdkRoute53Api } from "./api.js";
import { type Route53CredentialConfig, resolveRoute53Credentials } from "./credentials.js";

export async function createRoute53Api(
  config: Route53CredentialConfig,
  ctx: Dns01BuildContext,
  options: { readonly endpoint?: string | undefined; readonly maxAttempts: number },
): Promise<Route53Api> {
  const { region, credentials } = await resolveRoute53Credentials(config, ctx, options.endpoint);
  const client = new Route53Client({
    region,
    credentials,
    maxAttempts: options.maxAttempts,
    ...(options.endpoint !== undefined ? { endpoint: options.endpoint } : {}),
  });
  return sdkRoute53Api(client);
}
