import { connect, type TLSSocket } from "node:tls";

/** What came back on the request's stream: the DATA payload and whether the server ended it cleanly. */
export interface RawH2Outcome {
  /** Every DATA payload of stream 1, concatenated (gRPC length-prefixed messages). */
  readonly data: Buffer;
  /** The server reset the stream or closed the connection before ending the stream. */
  readonly reset: boolean;
}

/**
 * One HTTP/2 request written frame by frame, for header lists Node's own
 * client refuses to send (two `authorization` fields: `ERR_HTTP2_HEADER_SINGLE_VALUE`).
 * Headers are HPACK literals without indexing and without Huffman coding
 * (RFC 7541 §6.2.2), sent in the given order. The response's header blocks are
 * not decoded; callers judge by the DATA (a gRPC refusal has none).
 */
export function rawH2Request(options: {
  readonly host: string;
  readonly port: number;
  readonly ca: string;
  readonly path: string;
  readonly headers: readonly (readonly [string, string])[];
  readonly body: Buffer;
  readonly timeoutMs?: number;
}): Promise<RawH2Outcome> {
  return new Promise((resolve, reject) => {
    const socket: TLSSocket = connect({
      host: options.host,
      port: options.port,
      ca: options.ca,
      servername: options.host,
      ALPNProtocols: ["h2"],
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error("raw HTTP/2 request timed out"));
    }, options.timeoutMs ?? 10_000);
    let buffered = Buffer.alloc(0);
    const data: Buffer[] = [];
    let done = false;
    const finish = (reset: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.end();
      resolve({ data: Buffer.concat(data), reset });
    };
    socket.on("error", (err) => {
      if (!done) {
        clearTimeout(timer);
        done = true;
        reject(err);
      }
    });
    socket.on("close", () => finish(true));
    socket.on("secureConnect", () => {
      const block = Buffer.concat(
        [
          [":method", "POST"],
          [":scheme", "https"],
          [":path", options.path],
          [":authority", `${options.host}:${options.port}`],
          ["content-type", "application/grpc"],
          ["te", "trailers"],
          ...options.headers,
        ].map(([name, value]) => literal(name as string, value as string)),
      );
      socket.write(Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1"));
      socket.write(frame(0x4, 0, 0, Buffer.alloc(0))); // SETTINGS
      socket.write(frame(0x1, 0x4, 1, block)); // HEADERS, END_HEADERS
      const chunks: Buffer[] = [];
      for (let at = 0; at < options.body.length; at += 16_384)
        chunks.push(options.body.subarray(at, at + 16_384));
      chunks.forEach((chunk, i) => {
        socket.write(frame(0x0, i === chunks.length - 1 ? 0x1 : 0, 1, chunk)); // DATA, END_STREAM on the last
      });
    });
    socket.on("data", (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 9) {
        const length = buffered.readUIntBE(0, 3);
        if (buffered.length < 9 + length) break;
        const type = buffered[3] as number;
        const flags = buffered[4] as number;
        const stream = buffered.readUInt32BE(5) & 0x7fffffff;
        const payload = buffered.subarray(9, 9 + length);
        buffered = buffered.subarray(9 + length);
        if (type === 0x4 && (flags & 0x1) === 0) socket.write(frame(0x4, 0x1, 0, Buffer.alloc(0))); // SETTINGS ACK
        if (type === 0x6 && (flags & 0x1) === 0) socket.write(frame(0x6, 0x1, 0, payload)); // PING ACK
        if (stream !== 1) {
          if (type === 0x7) finish(true); // GOAWAY
          continue;
        }
        if (type === 0x0) {
          data.push(Buffer.from(payload));
          // Give the flow-control window back so a large response is not stalled.
          const increment = Buffer.alloc(4);
          increment.writeUInt32BE(Math.max(length, 1));
          socket.write(frame(0x8, 0, 0, increment));
        }
        if (type === 0x3) finish(true); // RST_STREAM
        if ((type === 0x0 || type === 0x1) && (flags & 0x1) !== 0) finish(false);
      }
    });
  });
}

/** A gRPC message frame: uncompressed flag and a 4-byte big-endian length (gRPC over HTTP/2, "Length-Prefixed-Message"). */
export function grpcMessage(body: Uint8Array): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(body.length, 1);
  return Buffer.concat([prefix, body]);
}

/** The first gRPC message of a DATA payload, or undefined when there is none. */
export function firstGrpcMessage(data: Buffer): Buffer | undefined {
  if (data.length < 5) return undefined;
  const length = data.readUInt32BE(1);
  return data.length >= 5 + length ? data.subarray(5, 5 + length) : undefined;
}

function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(stream, 5);
  return Buffer.concat([header, payload]);
}

/** "Literal Header Field without Indexing — New Name", both strings raw (H = 0). */
function literal(name: string, value: string): Buffer {
  return Buffer.concat([Buffer.from([0x00]), hpackString(name), hpackString(value)]);
}

function hpackString(s: string): Buffer {
  const bytes = Buffer.from(s, "utf8");
  return Buffer.concat([hpackInteger(bytes.length, 7), bytes]);
}

/** RFC 7541 §5.1 integer with an N-bit prefix (the prefix's other bits zero). */
function hpackInteger(value: number, prefixBits: number): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([value]);
  const out = [max];
  let rest = value - max;
  while (rest >= 0x80) {
    out.push((rest & 0x7f) | 0x80);
    rest >>>= 7;
  }
  out.push(rest);
  return Buffer.from(out);
}
