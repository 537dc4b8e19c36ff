/**
 * One Vault issuer called from several processes with one login: the
 * process that built it (meshsign's primary, which logs in, renews and logs
 * in again) turns it into a {@link VaultGrant}, and each CreateCertificate
 * worker builds a {@link VaultIssuer} from the grant with its own kept-alive
 * connections and a {@link RelayedToken} instead of a login. A grant holds
 * the token and the transport's client key: it travels over meshsign's own
 * IPC channel and is never logged.
 */
import { VaultTransport, type VaultTransportOptions } from "./lib/http.js";
import { RelayedToken } from "./lib/relayed-token.js";
import type { VaultToken } from "./lib/session.js";
import type { VaultIssuerConfig } from "./config.js";
import { VaultIssuer, type VaultShare } from "./vault-issuer.js";

export interface VaultGrant {
  readonly config: VaultIssuerConfig;
  readonly transport: VaultTransportOptions;
  /** Whether the owner can replace a refused token (false for tokenSecretRef). */
  readonly canReobtain: boolean;
  readonly token: VaultToken;
}

/** The owner's side: the grant of a shared issuer, with a current token (logging in first if needed). */
export async function vaultGrant(share: VaultShare): Promise<VaultGrant> {
  return {
    config: share.config,
    transport: share.transport,
    canReobtain: share.session.canReobtain,
    token: await share.session.current(),
  };
}

/**
 * A worker's side: a Vault issuer calling Vault over its own connections with
 * the granted token. `ask` requests a token newer than a refused generation
 * from the owner, whose answer goes to the relay's offer() or refused().
 */
export function relayedVaultIssuer(
  grant: VaultGrant,
  ask: (rejected: number) => void,
): { issuer: VaultIssuer; relay: RelayedToken } {
  const relay = new RelayedToken({
    initial: grant.token,
    canReobtain: grant.canReobtain,
    ask,
    timeoutMs: grant.transport.timeoutMs,
  });
  const issuer = new VaultIssuer({ config: grant.config, transport: new VaultTransport(grant.transport), session: relay });
  return { issuer, relay };
}
