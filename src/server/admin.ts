import { timingSafeEqual, createHash, X509Certificate } from "node:crypto";
import { createSecureServer, type Http2SecureServer } from "node:http2";
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
  describe(namespace: string, name: string): Promise<object>;
  renew(namespace: string, name: string): Promise<void>;
  inspectSecret(namespace: string, name: string): Promise<object>;
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
  });
  const server: Http2SecureServer = createSecureServer(
    { cert: options.serving.certificateChainPem, key: options.serving.privateKeyPem, allowHTTP1: true, minVersion: "TLSv1.2" },
    handler,
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

function bearerAuth(token: string): Interceptor {
  const expected = createHash("sha256").update(token).digest();
  return (next) => async (req) => {
    const header = req.header.get("authorization") ?? "";
    const given = header.startsWith("Bearer ") ? header.slice(7).trim() : "";
    const digest = createHash("sha256").update(given).digest();
    if (!given || !timingSafeEqual(digest, expected)) {
      throw new ConnectError("admin API requires the bearer token from <data-dir>/admin-token", Code.Unauthenticated);
    }
    return next(req);
  };
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
  });
}


