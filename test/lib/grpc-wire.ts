import http2 from "node:http2";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  IstioCertificateRequestSchema,
  IstioCertificateResponseSchema,
} from "../../src/gen/istio/v1/auth/ca_pb.js";
import { CREATE_CERTIFICATE_PATH } from "../../src/csr-service/service-definition.js";

/**
 * A CreateCertificate call spoken by hand over HTTP/2, so a test can hold it
 * half-sent: the server has the call open (headers and part of the message)
 * while the test does something else, then `finish()` sends the rest.
 * This is how a request is kept reliably "in flight" across a SIGTERM.
 */
export class HeldCall {
  readonly #session: http2.ClientHttp2Session;
  readonly #stream: http2.ClientHttp2Stream;
  readonly #frame: Buffer;
  readonly #result: Promise<{
    grpcStatus: string | undefined;
    grpcMessage: string | undefined;
    certChain: string[];
  }>;

  private constructor(session: http2.ClientHttp2Session, stream: http2.ClientHttp2Stream, frame: Buffer) {
    this.#session = session;
    this.#stream = stream;
    this.#frame = frame;
    const chunks: Buffer[] = [];
    this.#result = new Promise((resolve, reject) => {
      let trailers: http2.IncomingHttpHeaders = {};
      let headers: http2.IncomingHttpHeaders = {};
      stream.on("response", (h) => (headers = h));
      stream.on("trailers", (t) => (trailers = t));
      stream.on("data", (d: Buffer) => chunks.push(d));
      stream.on("error", reject);
      stream.on("close", () => {
        const body = Buffer.concat(chunks);
        const status = (trailers["grpc-status"] ?? headers["grpc-status"]) as string | undefined;
        const message = (trailers["grpc-message"] ?? headers["grpc-message"]) as string | undefined;
        const certChain =
          body.length >= 5
            ? fromBinary(IstioCertificateResponseSchema, body.subarray(5, 5 + body.readUInt32BE(1))).certChain
            : [];
        resolve({ grpcStatus: status, grpcMessage: message && decodeURIComponent(message), certChain });
      });
    });
  }

  /**
   * Opens a TLS HTTP/2 connection, sends the call's headers and the first
   * bytes of its message, and resolves once the server has read them (an
   * HTTP/2 PING sent after them is acknowledged).
   */
  static async open(options: {
    port: number;
    rootsPem: string;
    token: string;
    csr: string;
  }): Promise<HeldCall> {
    // 127.0.0.1, not localhost: node may resolve localhost to ::1 first, where nothing listens.
    const session = http2.connect(`https://127.0.0.1:${options.port}`, {
      ca: options.rootsPem,
      servername: "localhost",
    });
    await new Promise<void>((resolve, reject) => {
      session.once("connect", () => resolve());
      session.once("error", reject);
    });
    session.on("error", () => {});
    const stream = session.request({
      ":method": "POST",
      ":path": CREATE_CERTIFICATE_PATH,
      "content-type": "application/grpc",
      te: "trailers",
      authorization: `Bearer ${options.token}`,
    });
    const message = toBinary(
      IstioCertificateRequestSchema,
      create(IstioCertificateRequestSchema, { csr: options.csr }),
    );
    const frame = Buffer.alloc(5 + message.length);
    frame.writeUInt32BE(message.length, 1);
    frame.set(message, 5);
    const call = new HeldCall(session, stream, frame);
    stream.write(frame.subarray(0, 16));
    await new Promise<void>((resolve, reject) => session.ping((err) => (err ? reject(err) : resolve())));
    return call;
  }

  /** Sends the rest of the message and resolves with the call's outcome. */
  async finish(): Promise<{
    grpcStatus: string | undefined;
    grpcMessage: string | undefined;
    certChain: string[];
  }> {
    this.#stream.end(this.#frame.subarray(16));
    try {
      return await this.#result;
    } finally {
      this.#session.close();
    }
  }
}
