import type { Http2Server, IncomingHttpHeaders, ServerHttp2Stream } from "node:http2";
import type { Server } from "@grpc/grpc-js";

/**
 * The request headers whose every value meshsign reads, as grpc-go (and so
 * istiod and istio-csr) hands them to the CA: one metadata value per header
 * field, in the order received.
 *
 * Node's HTTP/2 layer does not: it joins a repeated `clusterid` into one
 * `"a, b"` string (Istio's rule "more than one value is no claim" would then
 * never apply, and the caller would be refused as from a foreign cluster), and
 * it keeps only the first of several `authorization` fields (so `Basic ...`
 * before `Bearer ...` hid the bearer token Istio's `ExtractBearerToken` finds).
 */
export const REPEATABLE_CREDENTIAL_HEADERS: readonly string[] = ["authorization", "clusterid"];

type SetupHandlers = (this: Server, http2Server: Http2Server | null, ...rest: unknown[]) => void;

/**
 * Makes `server` see every value of the {@link REPEATABLE_CREDENTIAL_HEADERS}:
 * each HTTP/2 server grpc-js creates gets a `stream` listener, run before
 * grpc-js's own, that puts the values from the raw header list back as an
 * array (grpc-js turns an array into one metadata entry per value). Other
 * headers are left as Node parsed them.
 *
 * grpc-js has no public hook at that level, so this wraps its (stable since
 * 1.x) private `_setupHandlers`; a changed internal fails here at start-up, and
 * the wire tests of repeated headers fail too, rather than silently reverting.
 */
export function keepRepeatedCredentialHeaders(server: Server): Server {
  const target = server as unknown as { _setupHandlers?: SetupHandlers };
  const setup = target._setupHandlers;
  if (typeof setup !== "function") {
    throw new Error("@grpc/grpc-js has no Server._setupHandlers: cannot read repeated request headers");
  }
  target._setupHandlers = function (this: Server, http2Server, ...rest) {
    http2Server?.on("stream", restoreRepeatedHeaders);
    setup.call(this, http2Server, ...rest);
  };
  return server;
}

/** The `stream` listener: rewrites `headers` in place (the same object reaches grpc-js's listener next). */
export function restoreRepeatedHeaders(
  _stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
  _flags: number,
  rawHeaders: readonly string[] | undefined,
): void {
  if (!Array.isArray(rawHeaders)) return;
  for (const name of REPEATABLE_CREDENTIAL_HEADERS) {
    const values: string[] = [];
    // Names arrive in lower case: HTTP/2 forbids upper case and nghttp2 refuses it (RFC 9113 §8.2.1).
    for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
      if (rawHeaders[i] === name) values.push(rawHeaders[i + 1] as string);
    }
    if (values.length > 1) (headers as Record<string, string | string[]>)[name] = values;
  }
}
