import { errors } from "jose";
import { MeshsignError } from "../../errors/index.js";

/**
 * Translates what jose throws while verifying a JWT into a client-safe
 * MeshsignError naming the rule that failed. The jose error stays as `cause`
 * for the log; its message may quote claim values, so it is not shown.
 */
export function tokenErrorFromJose(err: unknown): MeshsignError {
  if (err instanceof MeshsignError) return err;
  const reject = (code: ConstructorParameters<typeof MeshsignError>[0], message: string): MeshsignError =>
    new MeshsignError(code, message, { cause: err });
  if (err instanceof errors.JWTExpired) return reject("ERR_TOKEN_EXPIRED", "token expired");
  if (err instanceof errors.JWTClaimValidationFailed) {
    const missing = err.reason === "missing";
    switch (err.claim) {
      case "nbf":
        return reject("ERR_TOKEN_NOT_YET_VALID", "token not yet valid");
      case "iss":
        return reject("ERR_TOKEN_ISSUER", missing ? "token has no issuer" : "token issuer mismatch");
      case "aud":
        return reject("ERR_TOKEN_AUDIENCE", missing ? "token has no audience" : "token audience mismatch");
      case "exp":
        return reject(
          "ERR_TOKEN_CLAIMS",
          missing ? "token has no expiry (exp)" : "token expiry (exp) is invalid",
        );
      default:
        return reject("ERR_TOKEN_CLAIMS", `token claim ${JSON.stringify(err.claim)} is invalid`);
    }
  }
  if (err instanceof errors.JOSEAlgNotAllowed || err instanceof errors.JOSENotSupported) {
    return reject("ERR_TOKEN_ALGORITHM", "token algorithm not allowed");
  }
  if (err instanceof errors.JWSSignatureVerificationFailed)
    return reject("ERR_TOKEN_SIGNATURE", "token signature invalid");
  if (err instanceof errors.JWKSNoMatchingKey)
    return reject("ERR_TOKEN_KID_UNKNOWN", "token signing key (kid) unknown");
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) {
    return reject("ERR_TOKEN_MALFORMED", "token malformed");
  }
  // jose signals a few key/token mismatches (e.g. an RSA key under 2048 bits) with TypeError.
  return reject("ERR_TOKEN_REJECTED", "token rejected");
}
