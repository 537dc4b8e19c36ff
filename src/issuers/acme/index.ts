/**
 * The ACME issuer backend: the account (key, registration, status) and the
 * seam through which the engine's Order controller signs requests.
 */

export { ACCOUNT_KEY_LABELS, accountKeyHash } from "./account-key.js";
export {
  ACME_READY_REASONS,
  AcmeIssuer,
  type AcmeIssuerFactoryOptions,
  acmeIssuerFactory,
  createAcmeIssuerFactory,
} from "./acme-issuer.js";
export type { AcmeIssuerConfig } from "./config.js";
export type { AcmeOrderSigner } from "./types.js";
