/**
 * The Vault issuer: cert-manager's `spec.vault` signing through Vault's PKI
 * secrets engine. For the registry: {@link vaultIssuerFactory}. For tests and
 * tools: the config parser and the issuer class.
 */
export { parseVaultConfig, referencedSecrets, VaultConfigError } from "./config.js";
export type { SecretKeyRef, VaultAuthConfig, VaultIssuerConfig } from "./config.js";
export { serviceAccountAudiences, SERVICE_ACCOUNT_TOKEN_SECONDS, vaultIssuerFactory, VAULT_CALL_TIMEOUT_MS } from "./factory.js";
export { VaultIssuer, VAULT_READY_REASONS, goDuration, healthStatus } from "./vault-issuer.js";
export type { VaultIssuerOptions } from "./vault-issuer.js";
