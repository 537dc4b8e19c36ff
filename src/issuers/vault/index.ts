/**
 * The Vault issuer: cert-manager's `spec.vault` signing through Vault's PKI
 * secrets engine. For the registry: {@link vaultIssuerFactory}. For tests and
 * tools: the config parser and the issuer class. For meshsign's processes
 * sharing one login: {@link vaultGrant} (the owner) and
 * {@link relayedVaultIssuer} (a worker).
 */
export { parseVaultConfig, referencedSecrets, VaultConfigError } from "./config.js";
export type { SecretKeyRef, VaultAuthConfig, VaultIssuerConfig } from "./config.js";
export { serviceAccountAudiences, SERVICE_ACCOUNT_TOKEN_SECONDS, vaultIssuerFactory, VAULT_CALL_TIMEOUT_MS } from "./factory.js";
export { relayedVaultIssuer, vaultGrant } from "./grant.js";
export type { VaultGrant } from "./grant.js";
export type { RelayedToken } from "./lib/relayed-token.js";
export type { VaultToken } from "./lib/session.js";
export { VaultIssuer, VAULT_READY_REASONS, goDuration, healthStatus } from "./vault-issuer.js";
export type { VaultIssuerOptions, VaultShare } from "./vault-issuer.js";
