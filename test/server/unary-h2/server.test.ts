import http2 from "node:http2";
import { createServer, type Server as NetServer } from "node:net";
import { type handleUnaryCall, Metadata, type ServerUnaryCall, status } from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { type UnaryH2Limits, UnaryH2Server } from "../../../src/server/unary-h2/index.js";

/*
 * meshsign's unary gRPC server on node:http2, spoken to by hand over plaintext
 * HTTP/2 (in meshsign it gets TLS connections; the framing, statuses and
 * timers are the same). The method echoes its request's bytes, upper-cased,
 * unless a test gives another handler.
 */

const PATH = "/test.Echo/Call";
const MAX = 64;
const LIMITS: UnaryH2Limits = {
  maxConcurrentStreams: 100,
  maxSessionMemoryMb: 10,
  keepaliveTimeMs: 120_000,
  keepaliveTimeoutMs: 20_000,
  maxConnectionIdleMs: 300_000,
  maxConnectionAgeMs: 1_800_000,
  connectionAgeGraceMs: 10_000,
};

type Echo = handleUnaryCall<string, string>;
const echo: Echo = (call, callback) => callback(null, call.request.toUpperCase());

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function serve(
  handler: Echo = echo,
  limits: Partial<UnaryH2Limits> = {},
): Promise<{ server: UnaryH2Server<string, string>; connect: () => http2.ClientHttp2Session }> {
  const server = new UnaryH2Server<string, string>(
    {
      path: PATH,
      decode: (b) => b.toString("utf8"),
      encode: (s) => Buffer.from(s, "utf8"),
      handler,
      maxReceiveMessageBytes: MAX,
    },
    { ...LIMITS, ...limits },
  );
  const listener: NetServer = createServer((socket) => server.inject(socket));
  await new Promise<void>((r) => listener.listen(0, "127.0.0.1", r));
  const port = (listener.address() as { port: number }).port;
  cleanups.push(() => {
    server.destroy();
    return new Promise((r) => listener.close(r));
  });
  return {
    server,
    connect: () => {
      const session = http2.connect(`http://127.0.0.1:${port}`);
      session.on("error", () => {});
      cleanups.push(() => session.destroy());
      return session;
    },
  };
}

function frame(payload: string | Buffer, flag = 0): Buffer {
  const body = typeof payload === "string" ? Buffer.from(payload) : payload;
  const out = Buffer.alloc(5 + body.length);
  out[0] = flag;
  out.writeUInt32BE(body.length, 1);
  body.copy(out, 5);
  return out;
}

interface Answer {
  headers: http2.IncomingHttpHeaders;
  trailers: http2.IncomingHttpHeaders | undefined;
  body: Buffer;
  /** grpc-status from the trailers, or from the headers of a trailers-only answer. */
  status: string | undefined;
  message: string | undefined;
}

function call(
  session: http2.ClientHttp2Session,
  options: { body?: Buffer[]; headers?: http2.OutgoingHttpHeaders; end?: boolean } = {},
): { stream: http2.ClientHttp2Stream; answer: Promise<Answer> } {
  const stream = session.request({
    ":method": "POST",
    ":path": PATH,
    "content-type": "application/grpc",
    te: "trailers",
    ...options.headers,
  });
  stream.on("error", () => {});
  const answer = new Promise<Answer>((resolve) => {
    let headers: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders | undefined;
    const chunks: Buffer[] = [];
    stream.on("response", (h) => {
      headers = h;
    });
    stream.on("trailers", (t) => {
      trailers = t;
    });
    stream.on("data", (d: Buffer) => chunks.push(d));
    stream.on("close", () => {
      const s = trailers?.["grpc-status"] ?? headers["grpc-status"];
      const m = trailers?.["grpc-message"] ?? headers["grpc-message"];
      resolve({
        headers,
        trailers,
        body: Buffer.concat(chunks),
        status: s as string | undefined,
        message: m === undefined ? undefined : decodeURIComponent(String(m)),
      });
    });
  });
  for (const b of options.body ?? [frame("hello")]) stream.write(b);
  if (options.end !== false) stream.end();
  return { stream, answer };
}

describe("a call of the method", () => {
  it("is answered with the message and grpc-status 0 in trailers", async () => {
    const { connect } = await serve();
    const a = await call(connect()).answer;
    expect(a.headers[":status"]).toBe(200);
    expect(a.headers["content-type"]).toBe("application/grpc+proto");
    expect(a.trailers?.["grpc-status"]).toBe("0");
    expect(a.body).toEqual(frame("HELLO"));
  });

  it("gets its request in any number of DATA frames, and every repeated header value in order", async () => {
    let seen: string[] = [];
    const { connect } = await serve((c, cb) => {
      seen = (c.metadata as Metadata).get("clusterid").map(String);
      cb(null, c.request);
    });
    const whole = frame("split across frames");
    const session = connect();
    const a = await call(session, {
      body: [whole.subarray(0, 2), whole.subarray(2, 9), whole.subarray(9)],
      headers: { clusterid: ["east", "west"] },
    }).answer;
    expect(a.body).toEqual(whole);
    expect(seen).toEqual(["east", "west"]);
  });

  it("refused by the handler is a trailers-only answer with the status, the percent-encoded message and the handler's metadata", async () => {
    const { connect } = await serve((_c, cb) => {
      const metadata = new Metadata();
      metadata.set("grpc-retry-pushback-ms", "1500");
      cb({ code: status.RESOURCE_EXHAUSTED, details: "busy: 100% — retry later", metadata });
    });
    const a = await call(connect()).answer;
    expect(a.trailers).toBeUndefined();
    expect(a.headers["grpc-status"]).toBe("8");
    expect(a.headers["grpc-message"]).toBe("busy: 100%25 %E2%80%94 retry later");
    expect(a.message).toBe("busy: 100% — retry later");
    expect(a.headers["grpc-retry-pushback-ms"]).toBe("1500");
  });
});

describe("a request the server does not take", () => {
  it.each([
    ["another path", { ":path": "/test.Echo/Other" }, "12"],
    ["a grpc-timeout that is not one", { "grpc-timeout": "1 hour" }, "13"],
  ])("%s is answered trailers-only with grpc-status %s", async (_name, headers, code) => {
    const { connect } = await serve();
    const a = await call(connect(), { headers }).answer;
    expect(a.trailers).toBeUndefined();
    expect(a.headers["grpc-status"]).toBe(code);
  });

  it.each(["text/plain", "application/grpc-web", "application/grpcx"])(
    "with content-type %s gets HTTP 415",
    async (ct) => {
      const { connect } = await serve();
      const a = await call(connect(), { headers: { "content-type": ct } }).answer;
      expect(a.headers[":status"]).toBe(415);
    },
  );

  it.each(["application/grpc+proto", "application/grpc;charset=utf-8"])(
    "with content-type %s is served",
    async (ct) => {
      const { connect } = await serve();
      expect((await call(connect(), { headers: { "content-type": ct } }).answer).status).toBe("0");
    },
  );

  it.each([
    ["a compressed message", [frame("x", 1)], "12"],
    ["a message flag that is not 0 or 1", [frame("x", 7)], "13"],
    ["two messages", [frame("a"), frame("b")], "12"],
    ["no message", [], "13"],
    ["half a message", [frame("hello").subarray(0, 7)], "13"],
  ])("%s is refused with grpc-status %s", async (_name, body, code) => {
    const { connect } = await serve();
    expect((await call(connect(), { body }).answer).status).toBe(code);
  });

  it("declaring a message over the cap is refused RESOURCE_EXHAUSTED from its prefix, before the body is sent", async () => {
    const { connect } = await serve();
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(MAX + 1, 1);
    const a = await call(connect(), { body: [prefix], end: false }).answer;
    expect(a.status).toBe("8");
    expect(a.message).toBe(`Received message larger than max (${MAX + 1} vs. ${MAX})`);
  });
});

/** A promise and its resolve, for handlers that report what they got. */
function signal<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe("deadlines and cancellation", () => {
  it("a call past its grpc-timeout is answered DEADLINE_EXCEEDED and the handler's call is cancelled", async () => {
    const got = signal<ServerUnaryCall<string, string>>();
    const { connect } = await serve((c) => got.resolve(c));
    const answer = call(connect(), { headers: { "grpc-timeout": "50m" } }).answer;
    const c = await got.promise;
    const a = await answer;
    expect(a.status).toBe("4");
    expect(a.message).toBe("Deadline exceeded");
    expect(c.cancelled).toBe(true);
  });

  it.each(["2592000S", "99999999H"])(
    "a grpc-timeout of %s, longer than a timer can hold, is not turned into an instant deadline",
    async (timeout) => {
      // grpc-go spells a 30-day deadline "2592000S": 2.6e9 ms, past setTimeout's 2^31-1 ms.
      const { connect } = await serve((c, cb) => setTimeout(() => cb(null, c.request), 50));
      const a = await call(connect(), { headers: { "grpc-timeout": timeout } }).answer;
      expect(a.status).toBe("0");
    },
  );

  it("a call the client resets is cancelled, and a late answer is dropped", async () => {
    const got = signal<{ c: ServerUnaryCall<string, string>; cb: () => void }>();
    const { connect } = await serve((c, cb) =>
      c.request === "again" ? cb(null, c.request) : got.resolve({ c, cb: () => cb(null, "late") }),
    );
    const session = connect();
    const { stream } = call(session);
    const { c, cb } = await got.promise;
    const cancelled = new Promise<void>((r) => c.once("cancelled", () => r()));
    stream.close(http2.constants.NGHTTP2_CANCEL);
    await cancelled;
    expect(c.cancelled).toBe(true);
    cb();
    // The connection still serves.
    expect((await call(session, { body: [frame("again")] }).answer).status).toBe("0");
  });
});

describe("connections", () => {
  it("advertise the stream limit", async () => {
    const { connect } = await serve(echo, { maxConcurrentStreams: 7 });
    const session = connect();
    await new Promise<void>((r) => session.once("remoteSettings", () => r()));
    expect(session.remoteSettings.maxConcurrentStreams).toBe(7);
  });

  it("get GOAWAY on close, and a call in flight still finishes before close resolves", async () => {
    const got = signal<() => void>();
    const { server, connect } = await serve((c, cb) => got.resolve(() => cb(null, c.request)));
    const session = connect();
    const goaway = new Promise<void>((r) => session.once("goaway", () => r()));
    const inFlight = call(session).answer;
    const finish = await got.promise;
    const closed = server.close();
    await goaway;
    finish();
    expect((await inFlight).status).toBe("0");
    await closed;
    expect(server.sessions).toBe(0);
  });

  it("still in their max-age grace period on close, are waited for: close resolves after their calls finish", async () => {
    const got = signal<() => void>();
    const { server, connect } = await serve((c, cb) => got.resolve(() => cb(null, c.request)), {
      maxConnectionAgeMs: 100,
      connectionAgeGraceMs: 10_000,
    });
    const session = connect();
    const goaway = new Promise<void>((r) => session.once("goaway", () => r()));
    const inFlight = call(session).answer;
    const finish = await got.promise;
    await goaway;
    let closed = false;
    const closing = server.close().then(() => {
      closed = true;
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(closed).toBe(false);
    finish();
    expect((await inFlight).status).toBe("0");
    await closing;
    expect(server.sessions).toBe(0);
  });

  it.each([
    ["a maximum age", { maxConnectionAgeMs: 30 * 86_400_000 }],
    ["an idle time", { maxConnectionIdleMs: 30 * 86_400_000 }],
    ["a keepalive time", { keepaliveTimeMs: 30 * 86_400_000 }],
  ])("with %s longer than a timer can hold (30 days) are neither closed at once nor pinged in a loop", async (_name, limits) => {
    const { connect } = await serve(echo, limits);
    const session = connect();
    let goaway = false;
    let pings = 0;
    session.once("goaway", () => {
      goaway = true;
    });
    session.on("ping", () => pings++);
    expect((await call(session).answer).status).toBe("0");
    await new Promise((r) => setTimeout(r, 100));
    expect(goaway).toBe(false);
    expect(session.closed || session.destroyed).toBe(false);
    expect(pings).toBe(0);
  });

  it("are closed with GOAWAY after the idle time with no call, and after their maximum age", async () => {
    for (const limits of [
      { maxConnectionIdleMs: 100 },
      { maxConnectionAgeMs: 100, maxConnectionIdleMs: 300_000 },
    ]) {
      const { connect } = await serve(echo, limits);
      const session = connect();
      const goaway = new Promise<number>((r) => session.once("goaway", (code) => r(code)));
      expect((await call(session).answer).status).toBe("0");
      expect(await goaway).toBe(http2.constants.NGHTTP2_NO_ERROR);
      await new Promise<void>((r) => (session.closed ? r() : session.once("close", () => r())));
    }
  });
});
