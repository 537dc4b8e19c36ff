import { EventEmitter } from "node:events";
import {
  constants,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type ServerHttp2Stream,
} from "node:http2";
import type { PeerCertificate, TLSSocket } from "node:tls";
import { status as GrpcStatus, type Metadata, type ServerUnaryCall, type StatusObject } from "@grpc/grpc-js";
import { timerDelay } from "../../lib/timer-delay.js";
import type { UnaryMethod } from "../method.js";
import { isGrpcContentType } from "./content-type.js";
import { encodeGrpcMessage } from "./grpc-message.js";
import { parseGrpcTimeout } from "./grpc-timeout.js";

/** Headers of every response that carries a message, and of trailers-only answers. */
const RESPONSE_HEADERS: OutgoingHttpHeaders = {
  ":status": 200,
  "content-type": "application/grpc+proto",
  // Clients may compress only with an encoding the server lists; this server lists none but identity.
  "grpc-accept-encoding": "identity",
};
const OK_TRAILERS: OutgoingHttpHeaders = { "grpc-status": "0", "grpc-message": "OK" };

/** Length-prefixed message framing: 1 byte compressed flag, 4 bytes big-endian length. */
const PREFIX_BYTES = 5;
/**
 * Serves one HTTP/2 stream as a gRPC unary call: checks the request's
 * content type and path, reads exactly one length-prefixed message (refusing
 * a declared length over the cap from the prefix alone, and compressed
 * messages), arms the `grpc-timeout` deadline, runs the handler, and answers
 * with the message and status trailers, or a trailers-only status. The
 * handler gets a call object with the parts of grpc-js's `ServerUnaryCall`
 * that handlers read (request, metadata, peer, auth context, cancellation).
 */
export function serveUnaryStream<Req, Res>(
  method: UnaryMethod<Req, Res>,
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
  rawHeaders: readonly string[],
): void {
  // Every stream error is followed by "close", which ends the call; nothing else to do here.
  stream.on("error", noop);
  if (!isGrpcContentType(headers["content-type"])) {
    // As grpc-go and grpc-js answer a request that is not gRPC at all: plain HTTP 415.
    stream.respond({ ":status": 415 }, { endStream: true });
    return;
  }
  if (headers[":path"] !== method.path) {
    trailersOnly(
      stream,
      GrpcStatus.UNIMPLEMENTED,
      `The server does not implement the method ${String(headers[":path"])}`,
    );
    stream.close(constants.NGHTTP2_NO_ERROR);
    return;
  }
  new UnaryCall(method, stream, headers, rawHeaders);
}

/** The metadata a handler reads: every value of a header, in the order received, from the raw header list. */
class RawMetadata {
  constructor(private readonly raw: readonly string[]) {}

  get(key: string): string[] {
    const values: string[] = [];
    // HTTP/2 header names are lower case on the wire (RFC 9113 §8.2.1): no case folding needed.
    for (let i = 0; i + 1 < this.raw.length; i += 2)
      if (this.raw[i] === key) values.push(this.raw[i + 1] as string);
    return values;
  }
}

class UnaryCall<Req, Res> extends EventEmitter {
  request: Req | undefined;
  readonly metadata: RawMetadata;
  /** The client went away (reset, closed) or the deadline passed: no answer is sent any more. */
  cancelled = false;
  #answered = false;
  #deadline: NodeJS.Timeout | undefined;
  /** The message read so far (prefix included), allocated once its length is known. */
  #chunks: Buffer[] = [];
  #received = 0;
  #declared = -1;

  constructor(
    private readonly method: UnaryMethod<Req, Res>,
    private readonly stream: ServerHttp2Stream,
    headers: IncomingHttpHeaders,
    rawHeaders: readonly string[],
  ) {
    super();
    this.metadata = new RawMetadata(rawHeaders);
    stream.once("close", () => this.#closed());
    const timeout = headers["grpc-timeout"];
    if (timeout !== undefined) {
      const ms = parseGrpcTimeout(String(timeout));
      if (ms === undefined) {
        this.#refuse(GrpcStatus.INTERNAL, `Invalid grpc-timeout value "${String(timeout)}"`);
        return;
      }
      this.#deadline = setTimeout(() => this.#deadlineExceeded(), timerDelay(ms));
    }
    stream.on("data", (chunk: Buffer) => this.#data(chunk));
    stream.once("end", () => this.#end());
  }

  /** As grpc-js spells it (an IPv6 address without brackets), so logs read the same under either server. */
  getPeer(): string {
    const socket = this.stream.session?.socket;
    if (!socket?.remoteAddress) return "unknown";
    return socket.remotePort ? `${socket.remoteAddress}:${socket.remotePort}` : socket.remoteAddress;
  }

  /** As grpc-js reports it: the peer's certificate (its `raw` DER is what the client-cert authenticator reads). */
  getAuthContext(): { transportSecurityType: string; sslPeerCertificate?: PeerCertificate } {
    const socket = this.stream.session?.socket as TLSSocket | undefined;
    const certificate = socket?.getPeerCertificate?.();
    return {
      transportSecurityType: "ssl",
      ...(certificate && Object.keys(certificate).length > 0 ? { sslPeerCertificate: certificate } : {}),
    };
  }

  #data(chunk: Buffer): void {
    if (this.#answered) return;
    this.#received += chunk.length;
    this.#chunks.push(chunk);
    if (this.#declared < 0 && this.#received >= PREFIX_BYTES) {
      const head = this.#chunks.length === 1 ? chunk : Buffer.concat(this.#chunks);
      if (this.#chunks.length > 1) this.#chunks = [head];
      const flag = head[0];
      if (flag !== 0) {
        // Compressed (1) needs a grpc-encoding this server does not accept; anything else is not gRPC framing.
        if (flag === 1)
          this.#refuse(
            GrpcStatus.UNIMPLEMENTED,
            "compressed messages are not accepted: send grpc-encoding identity",
          );
        else this.#refuse(GrpcStatus.INTERNAL, `invalid message flag ${flag}`);
        return;
      }
      this.#declared = head.readUInt32BE(1);
      if (this.#declared > this.method.maxReceiveMessageBytes) {
        this.#refuse(
          GrpcStatus.RESOURCE_EXHAUSTED,
          `Received message larger than max (${this.#declared} vs. ${this.method.maxReceiveMessageBytes})`,
        );
        return;
      }
    }
    if (this.#declared >= 0 && this.#received > PREFIX_BYTES + this.#declared) {
      this.#refuse(GrpcStatus.UNIMPLEMENTED, "a unary call takes exactly one request message");
    }
  }

  #end(): void {
    if (this.#answered) return;
    if (this.#declared < 0 || this.#received !== PREFIX_BYTES + this.#declared) {
      this.#refuse(
        GrpcStatus.INTERNAL,
        this.#received === 0 ? "no request message received" : "incomplete request message",
      );
      return;
    }
    const all =
      this.#chunks.length === 1 ? (this.#chunks[0] as Buffer) : Buffer.concat(this.#chunks, this.#received);
    this.#chunks = [];
    this.request = this.method.decode(all.subarray(PREFIX_BYTES));
    this.method.handler(this as unknown as ServerUnaryCall<Req, Res>, (err, value, trailer) =>
      this.#answer(err, value ?? undefined, trailer),
    );
  }

  #answer(err: Partial<StatusObject> | null, value: Res | undefined, trailer?: Metadata): void {
    if (this.#answered || this.cancelled) return;
    if (err) {
      const metadata = (err as { metadata?: Metadata }).metadata ?? trailer;
      this.#finish(err.code ?? GrpcStatus.UNKNOWN, err.details ?? "", metadata);
      return;
    }
    if (value === undefined) {
      this.#finish(GrpcStatus.INTERNAL, "the handler returned no response");
      return;
    }
    const body = this.method.encode(value);
    const frame = Buffer.allocUnsafe(PREFIX_BYTES + body.length);
    frame[0] = 0;
    frame.writeUInt32BE(body.length, 1);
    body.copy(frame, PREFIX_BYTES);
    this.#settle();
    const stream = this.stream;
    if (stream.destroyed || stream.closed) return;
    stream.respond(RESPONSE_HEADERS, { waitForTrailers: true });
    stream.once("wantTrailers", () => stream.sendTrailers(OK_TRAILERS));
    stream.end(frame);
  }

  /** An error status before any response: trailers-only, and the rest of the request is not wanted. */
  #refuse(code: GrpcStatus, details: string): void {
    this.#finish(code, details);
    // RST_STREAM(NO_ERROR) after the answer: stop the client sending the rest (RFC 9113 §8.1).
    if (!this.stream.destroyed) this.stream.close(constants.NGHTTP2_NO_ERROR);
  }

  #finish(code: GrpcStatus, details: string, metadata?: Metadata): void {
    this.#settle();
    if (this.stream.destroyed || this.stream.closed) return;
    trailersOnly(this.stream, code, details, metadata);
  }

  #settle(): void {
    this.#answered = true;
    this.#chunks = [];
    if (this.#deadline) clearTimeout(this.#deadline);
  }

  #deadlineExceeded(): void {
    if (this.#answered) return;
    this.#refuse(GrpcStatus.DEADLINE_EXCEEDED, "Deadline exceeded");
    this.#cancel();
  }

  #closed(): void {
    if (this.#deadline) clearTimeout(this.#deadline);
    if (!this.#answered) {
      this.#answered = true;
      this.#chunks = [];
      this.#cancel();
    }
  }

  #cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.emit("cancelled", "cancelled");
  }
}

function trailersOnly(
  stream: ServerHttp2Stream,
  code: GrpcStatus,
  details: string,
  metadata?: Metadata,
): void {
  const headers: OutgoingHttpHeaders = {
    ...RESPONSE_HEADERS,
    "grpc-status": String(code),
    "grpc-message": encodeGrpcMessage(details),
  };
  if (metadata) {
    for (const [key, value] of Object.entries(metadata.toHttp2Headers())) {
      // Status headers are the server's; a handler's metadata cannot replace them.
      if (!(key in headers)) headers[key] = value;
    }
  }
  stream.respond(headers, { endStream: true });
}

function noop(): void {}
