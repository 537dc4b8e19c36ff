/**
 * AWS SDK failures as DNS-01 errors. Throttling, 5xx and network failures are
 * transient (the Challenge retries with back-off); every other refusal
 * (AccessDenied, NoSuchHostedZone, InvalidChangeBatch, a bad key) is terminal
 * and keeps AWS's own message, which names what was refused. Request ids go
 * to `detail` only: a message that changes on every attempt would make the
 * Challenge's status flap (cert-manager had to "stabilize" such messages).
 */
import { MeshsignError } from "../../../../../errors/index.js";

/** Error names AWS uses for "slow down" or "try again"; retried by the SDK first, then transient here. */
const TRANSIENT_NAMES = new Set([
  "Throttling",
  "ThrottlingException",
  "ThrottledException",
  "RequestLimitExceeded",
  "TooManyRequestsException",
  "PriorRequestNotComplete",
  "ServiceUnavailable",
  "InternalFailure",
  "InternalError",
  "RequestTimeout",
  "RequestTimeoutException",
  "TimeoutError",
  "IDPCommunicationError",
  // A projected token that expired between minting and use: the next attempt mints a new one.
  "ExpiredTokenException",
]);

interface AwsErrorShape {
  readonly name?: unknown;
  readonly message?: unknown;
  readonly code?: unknown;
  readonly $fault?: unknown;
  readonly $metadata?: { readonly httpStatusCode?: unknown; readonly requestId?: unknown };
}

/** AWS messages sometimes carry a request id; strip it so the message is stable. */
function stableMessage(message: string): string {
  return message
    .replace(/\s*\(?(Service: [^;)]*; )?Status Code: \d+; Error Code: [^;)]*; Request ID: [^)]*\)?/g, "")
    .replace(/\s*Request ?Id:?\s*[0-9a-fA-F-]{8,}/gi, "")
    .trim();
}

/** Maps anything thrown by the SDK during `operation` (e.g. "Route53 ChangeResourceRecordSets") to a MeshsignError. */
export function toDns01Error(err: unknown, operation: string): MeshsignError {
  if (err instanceof MeshsignError) return err;
  const e = (typeof err === "object" && err !== null ? err : {}) as AwsErrorShape;
  const name = typeof e.name === "string" ? e.name : "Error";
  const message = stableMessage(typeof e.message === "string" ? e.message : String(err));
  const status = typeof e.$metadata?.httpStatusCode === "number" ? e.$metadata.httpStatusCode : undefined;
  const detail = { operation, awsError: name, httpStatus: status, requestId: e.$metadata?.requestId };
  if (name === "AbortError") {
    return new MeshsignError("ERR_DNS01_UNAVAILABLE", `${operation} was cancelled`, {
      retry: "transient",
      detail,
      cause: err,
    });
  }
  if (name === "CredentialsProviderError") {
    return new MeshsignError(
      "ERR_DNS01_REFUSED",
      `${operation}: no AWS credentials found in the environment or instance role: ${message}`,
      { retry: "terminal", detail, cause: err },
    );
  }
  const serverSide = e.$fault === "server" || (status !== undefined && status >= 500) || status === 429;
  // No HTTP status at all means the request never got an answer (refused, reset, DNS, timeout).
  const network = status === undefined && typeof e.code === "string";
  if (serverSide || network || TRANSIENT_NAMES.has(name)) {
    return new MeshsignError(
      "ERR_DNS01_UNAVAILABLE",
      `${operation} failed, will retry: ${name}: ${message}`,
      {
        retry: "transient",
        detail,
        cause: err,
      },
    );
  }
  // An answer the SDK could not parse (a proxy's HTML page, an emulator's other error shape):
  // the HTTP status is all there is to say.
  const unparsed = name === "Unknown" || message === "UnknownError" || message === "";
  const said = unparsed ? `HTTP ${status ?? "?"} with no AWS error in the body` : `${name}: ${message}`;
  return new MeshsignError("ERR_DNS01_REFUSED", `${operation} refused: ${said}`, {
    retry: "terminal",
    detail,
    cause: err,
  });
}
