import { timingSafeEqual, createHash, X509Certificate } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { constants as http2, createSecureServer, type Http2SecureServer, type Http2ServerRequest, type Http2ServerResponse } from "node:http2";
import { create, type JsonObject } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ConnectRouter, type Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { grpcStatusOf } from "../csr-service/status.js";
import { MeshsignError, toMeshsignError } from "../errors/index.js";
import { splitPemBundle } from "../pki/index.js";
import { AdminService, CertificateSummarySchema, IssuanceSchema } from "../gen/meshsign/admin/v1/admin_pb.js";
import type { IssuanceLog } from "./issuance-log.js";
import type { ReadinessCheck } from "./observability.js";
import type { ServingKeyPair } from "./tls/rotating-credentials.js";

/** What the admin API reads from and acts on. Certificates are absent until the engine runs. */
export interface AdminSources {
  readonly version: string;
  readonly mode: string;
  readonly trustDomain: string;
  roots(): string;
  checks(): readonly ReadinessCheck[];
  readonly issuances: IssuanceLog;
  readonly certificates?: CertificateControl;
}

/** The engine's operations that the CLI (`status`, `renew`, `inspect`) reaches through the admin API. */
export interface CertificateControl {
  list(namespace?: string): Promise<object[]>;
  listIssuers(namespace?: string): Promise<object[]>;
  describe(namespace: string, name: string): Promise<object>;
  renew(namespace: string, name: string): Promise<void>;
  inspectSecret(namespace: string, name: string): Promise<object>;
  /** One ACME Order and its Challenges (`meshsign inspect order`). */
  inspectOrder(namespace: string, name: string): Promise<object>;
  /** DNS-01 values left behind after their Challenge (`meshsign status`). */
  listLeftoverDns01Records(namespace?: string): Promise<object[]>;
}

/**
 * meshsign's own admin API: Connect, gRPC and gRPC-Web (and so JSON over curl)
 * on one TLS port (HTTP/2 with HTTP/1.1 fallback), bound to loopback by
 * default, every call authenticated by the bearer token in
 * `<data-dir>/admin-token`. Off the CreateCertificate hot path; never returns
 * key material or tokens.
 */
export async function startAdminServer(options: {
  host: string;
  port: number;
  token: string;
  serving: ServingKeyPair;
  sources: AdminSources;
}): Promise<{ port: number; updateServing(pair: ServingKeyPair): void; close(): Promise<void> }> {
  const handler = connectNodeAdapter({
    routes: (router: ConnectRouter) => routes(router, options.sources),
    interceptors: [bearerAuth(options.token), safeErrors()],
    // Connect counts what it reads (length-prefixed envelopes and unsized bodies alike).
    readMaxBytes: ADMIN_MAX_BODY_BYTES,
  });
  const gate = headerGate(options.token, handler);
  const server: Http2SecureServer = createSecureServer(
    {
      cert: options.serving.certificateChainPem,
      key: options.serving.privateKeyPem,
      allowHTTP1: true,
      minVersion: "TLSv1.2",
      // A CLI makes one call at a time; nothing needs more streams than this.
      settings: { maxConcurrentStreams: ADMIN_MAX_CONCURRENT_STREAMS },
    },
    gate,
  );
  const port = await new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      const a = server.address();
      resolve(typeof a === "object" && a ? a.port : options.port);
    });
  });
  return {
    port,
    updateServing: (pair) => server.setSecureContext({ cert: pair.certificateChainPem, key: pair.privateKeyPem, minVersion: "TLSv1.2" }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // HTTP/2 sessions keep the server open; the admin API has no long calls worth waiting for.
        setTimeout(resolve, 1000).unref();
      }),
  };
}

/**
 * Largest admin request body. Admin calls carry a namespace and a name; 4 MiB
 * leaves room for any future call and keeps a flood of large bodies from
 * holding memory (Connect refuses more while reading, the gate refuses a
 * declared larger `content-length` before reading).
 */
export const ADMIN_MAX_BODY_BYTES = 4 << 20;
/** HTTP/2 streams a client may keep open on one admin connection. */
export const ADMIN_MAX_CONCURRENT_STREAMS = 16;
const UNAUTHENTICATED_MESSAGE = "admin API requires the bearer token from <data-dir>/admin-token";

function tokenCheck(token: string): (authorization: string | undefined) => boolean {
  const expected = createHash("sha256").update(token).digest();
  return (authorization) => {
    const header = authorization ?? "";
    const given = header.startsWith("Bearer ") ? header.slice(7).trim() : "";
    // Digests first: timingSafeEqual needs equal lengths, and the token's length stays secret.
    const digest = createHash("sha256").update(given).digest();
    return given !== "" && timingSafeEqual(digest, expected);
  };
}

/** Kept behind the header gate as a second check on every call Connect routes. */
function bearerAuth(token: string): Interceptor {
  const valid = tokenCheck(token);
  return (next) => async (req) => {
    if (!valid(req.header.get("authorization") ?? undefined)) throw new ConnectError(UNAUTHENTICATED_MESSAGE, Code.Unauthenticated);
    return next(req);
  };
}

type AnyRequest = IncomingMessage | Http2ServerRequest;
type AnyResponse = ServerResponse | Http2ServerResponse;

/**
 * Runs before Connect sees a request: a request without the admin token, or
 * declaring a body over {@link ADMIN_MAX_BODY_BYTES}, is answered from its
 * headers alone and its stream (HTTP/2) or connection (HTTP/1.1) is closed,
 * so not one byte of its body is read or buffered. (Connect reads the whole
 * body before interceptors run: a 150 MB unauthenticated body used to cost
 * ~280 MB of RSS and 11 s before its 401.)
 */
function headerGate(token: string, next: (req: AnyRequest, res: AnyResponse) => void): (req: AnyRequest, res: AnyResponse) => void {
  const valid = tokenCheck(token);
  return (req, res) => {
    const authorization = req.headers.authorization;
    if (!valid(typeof authorization === "string" ? authorization : undefined)) {
      refuse(req, res, Code.Unauthenticated, UNAUTHENTICATED_MESSAGE);
      return;
    }
    const declared = Number(req.headers["content-length"] ?? 0);
    if (!Number.isSafeInteger(declared) || declared > ADMIN_MAX_BODY_BYTES) {
      refuse(req, res, Code.ResourceExhausted, `admin request bodies are limited to ${ADMIN_MAX_BODY_BYTES} bytes`);
      return;
    }
    next(req, res);
  };
}

/**
 * Answers in the caller's protocol without reading the body: gRPC and
 * gRPC-Web get a trailers-only response (HTTP 200, `grpc-status` in the
 * headers), Connect and plain JSON an error body with the matching HTTP
 * status. Then the request stream is reset with NO_ERROR (RFC 9113 §8.1: a
 * complete response before the whole request) or the HTTP/1.1 connection
 * closed.
 */
function refuse(req: AnyRequest, res: AnyResponse, code: Code, message: string): void {
  const contentType = String(req.headers["content-type"] ?? "");
  const grpc = contentType.startsWith("application/grpc");
  const headers: Record<string, string> = grpc
    ? {
        "content-type": contentType.startsWith("application/grpc-web") ? "application/grpc-web+proto" : "application/grpc",
        "grpc-status": String(code),
        "grpc-message": encodeURIComponent(message),
      }
    : { "content-type": "application/json" };
  const status = grpc ? 200 : code === Code.Unauthenticated ? 401 : 413;
  const body = grpc ? "" : JSON.stringify({ code: code === Code.Unauthenticated ? "unauthenticated" : "resource_exhausted", message });
  if ("stream" in req) {
    res.writeHead(status, headers);
    res.end(body);
    req.stream.close(http2.NGHTTP2_NO_ERROR);
    return;
  }
  // HTTP/1.1: stop reading and answer with `connection: close`; node closes the connection once
  // the answer is written. A client still sending its body may then see a reset before it reads
  // the answer (node has no lingering close); reading its body to avoid that is what must not happen.
  req.socket.pause();
  res.writeHead(status, { ...headers, connection: "close" });
  res.end(body);
}

/** Admin errors use the same status mapping as the CSR service; internals stay in `cause`. */
function safeErrors(): Interceptor {
  return (next) => async (req) => {
    try {
      return await next(req);
    } catch (err) {
      if (err instanceof ConnectError) throw err;
      const e = toMeshsignError(err);
      throw new ConnectError(e.message, grpcStatusOf(e) as number as Code);
    }
  };
}

/** Struct fields are plain JSON objects in protobuf-es; drop Dates, undefined and functions. */
function struct(value: object): JsonObject {
  return JSON.parse(JSON.stringify(value)) as JsonObject;
}

function routes(router: ConnectRouter, s: AdminSources): void {
  const certs = (): CertificateControl => {
    if (!s.certificates) throw new MeshsignError("ERR_NOT_FOUND", "the Certificate engine is not running in this process");
    return s.certificates;
  };
  const ref = (r: { namespace: string; name: string } | undefined) => {
    if (!r?.namespace || !r.name) throw new ConnectError("namespace and name are required", Code.InvalidArgument);
    return r;
  };
  router.service(AdminService, {
    getVersion: () => ({ version: s.version, nodeVersion: process.version, mode: s.mode }),
    getHealth: () => {
      const checks: Record<string, boolean> = {};
      for (const c of s.checks()) checks[c.name] = c.ready();
      return { ready: Object.values(checks).every(Boolean), checks };
    },
    getRoots: () => {
      const pem = s.roots();
      const roots = splitPemBundle(pem).map((p) => {
        const c = new X509Certificate(p);
        return create(CertificateSummarySchema, {
          subject: c.subject.replaceAll("\n", ", "),
          serial: c.serialNumber,
          notBefore: timestampFromMs(Date.parse(c.validFrom)),
          notAfter: timestampFromMs(Date.parse(c.validTo)),
          sha256Fingerprint: c.fingerprint256,
        });
      });
      return { rootsPem: pem, roots, trustDomain: s.trustDomain };
    },
    listIssuances: (req) => ({
      issuances: s.issuances.recent(req.limit || 100).map((r) =>
        create(IssuanceSchema, {
          identity: r.identity,
          serial: r.serial,
          notAfter: timestampFromMs(r.notAfter),
          issuedAt: timestampFromMs(r.issuedAt),
          keyAlgorithm: r.keyAlgorithm,
        }),
      ),
    }),
    listCertificates: async (req) => ({ certificates: (await certs().list(req.namespace || undefined)).map(struct) }),
    listIssuers: async (req) => ({ issuers: (await certs().listIssuers(req.namespace || undefined)).map(struct) }),
    describeCertificate: async (req) => {
      const r = ref(req.certificate);
      return { description: struct(await certs().describe(r.namespace, r.name)) };
    },
    renewCertificate: async (req) => {
      const r = ref(req.certificate);
      await certs().renew(r.namespace, r.name);
      return {};
    },
    inspectSecret: async (req) => {
      const r = ref(req.secret);
      return { inspection: struct(await certs().inspectSecret(r.namespace, r.name)) };
    },
    inspectOrder: async (req) => {
      const r = ref(req.order);
      return { order: struct(await certs().inspectOrder(r.namespace, r.name)) };
    },
    listLeftoverDns01Records: async (req) => ({ records: (await certs().listLeftoverDns01Records(req.namespace || undefined)).map(struct) }),
  });
}


