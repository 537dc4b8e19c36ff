import type { handleUnaryCall } from "@grpc/grpc-js";

/** The one method a {@link UnaryH2Server} serves, with its message codecs and handler. */
export interface UnaryMethod<Req, Res> {
  /** `/package.Service/Method`; every other path is answered UNIMPLEMENTED. */
  readonly path: string;
  /** The request's bytes (no prefix) as a message; must not throw (refusals belong to the handler). */
  readonly decode: (body: Buffer) => Req;
  readonly encode: (response: Res) => Buffer;
  /** The same handler grpc-js would run: it cannot tell the servers apart. */
  readonly handler: handleUnaryCall<Req, Res>;
  /** Largest request message, bytes without the 5-byte prefix: checked on the prefix, before the body is read. */
  readonly maxReceiveMessageBytes: number;
}
