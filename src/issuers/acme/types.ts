/**
 * The seam between the ACME issuer and the engine: signing a request with an
 * ACME issuer is an Order resource's lifecycle (created, solved, finalized),
 * which lives in the store the engine owns. The issuer holds the account;
 * the engine lends it an {@link AcmeOrderSigner} that drives the Order.
 */
import type { SignRequest, SignResult } from "../issuer.js";
import type { AcmeIssuer } from "./acme-issuer.js";

export interface AcmeOrderSigner {
  /** Pending until the request's Order is valid, then its checked chain; terminal when the Order failed. */
  sign(issuer: AcmeIssuer, request: SignRequest): Promise<SignResult>;
}
