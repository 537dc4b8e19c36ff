/**
 * A `grpc-message` value: UTF-8, then every byte outside printable ASCII
 * (0x20-0x7E) and `%` itself percent-encoded, as gRPC over HTTP/2 requires
 * ("Status-Message"). grpc-go, grpc-js and grpcio decode it back.
 */
export function encodeGrpcMessage(message: string): string {
  // The common case, a plain ASCII message, is returned as it is.
  if (/^[\x20-\x24\x26-\x7e]*$/.test(message)) return message;
  let out = "";
  for (const byte of Buffer.from(message, "utf8")) {
    out +=
      byte >= 0x20 && byte <= 0x7e && byte !== 0x25
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}
