import { evaluate } from "./chain.js";
import { CSR_CHECKS, type CsrAuthzInput } from "./csr-checks.js";

/**
 * Authorizes a parsed CSR for `expectedIdentity`: runs {@link CSR_CHECKS} in
 * order and throws the first failure as a MeshsignError whose message names
 * the rule (e.g. `uri-matches-identity: ...`). Returns normally when the CSR
 * may be signed.
 */
export function authorizeCsr(input: CsrAuthzInput): void {
  evaluate(CSR_CHECKS, input);
}
