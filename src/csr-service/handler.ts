import { randomFillSync } from "node:crypto";
import type { handleUnaryCall, Metadata, ServerUnaryCall } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { AuthnInput, Caller } from "../authn/index.js";
import { MeshsignError } from "../errors/index.js";
import type { IstioCertificateRequest, IstioCertificateResponse } from "../gen/istio/v1/auth/ca_pb.js";
import type { Issuer } from "../issuers/issuer.js";
import { parseCertificate } from "../pki/certificate.js";
import { decodePemAll, splitPemBundle } from "../pki/pem.js";
import type { CertificateTemplate } from "../pki/template.js";
import { checkIssuedForWorkload } from "./check-issued.js";
import type { CsrMetrics } from "./metrics.js";
import { createResponse, requestDecodeError } from "./service-definition.js";
import { retryPushback, toGrpcError } from "./status.js";

/** One issued certificate, reported to the issuance log and metrics. Never keys or CSRs. */
export interface IssuedEvent {
  readonly identity: string;
  readonly serial: string;
  readonly notAfter: number;
  readonly issuedAt: number;
  readonly keyAlgorithm: string;
  /** The authenticator that accepted the caller ("jwks", "tokenreview", "client-cert"). */
  readonly authenticator: string;
  /** The peer's address as grpc-js reports it (host:port). */
  readonly peer: string;
}

/**
 * The request after authentication and authorization: what to issue, for whom.
 * Produced by the {@link CsrPolicy}; the handler never looks inside the CSR.
 */
export interface AuthorizedRequest {
  readonly identity: string;
  readonly template: CertificateTemplate;
  readonly keyAlgorithm: string;
}

/** Turns an authenticated caller and the raw request into what to sign, or throws. */
export type CsrPolicy = (input: {
  readonly caller: Caller;
  readonly csrPem: string;
  readonly validityDurationSeconds: bigint;
  readonly impersonatedIdentity: string | undefined;
  readonly now: number;
}) => AuthorizedRequest | Promise<AuthorizedRequest>;

export interface CsrServiceDeps {
  readonly authenticate: (input: AuthnInput) => Promise<Caller>;
  readonly policy: CsrPolicy;
  readonly issuer: Issuer;
  /** Concatenated PEM of the current mesh roots: the last element of every response. */
  readonly roots: () => string;
  /** Extracts the verified client chain (DER, leaf first) when mTLS presented one. */
  readonly peerCertificates?: (
    call: ServerUnaryCall<IstioCertificateRequest, IstioCertificateResponse>,
  ) => Uint8Array[] | undefined;
  readonly metrics: CsrMetrics;
  readonly log: Logger;
  readonly clock?: () => number;
  /**
   * Whether what the issuer returns is checked before answering (a remote
   * issuer such as Vault: key, identity, validity, chain to {@link roots}).
   */
  readonly checkIssued?: () => boolean;
  readonly onIssued?: (event: IssuedEvent) => void;
}

/**
 * CreateCertificate: authenticate the caller, authorize the CSR against that
 * identity, sign through the Issuer, answer `[leaf, intermediates..., roots]`.
 * Every failure is a MeshsignError mapped to a gRPC status in one place; the
 * server never crashes on input.
 */
export function createCertificateHandler(
  deps: CsrServiceDeps,
): handleUnaryCall<IstioCertificateRequest, IstioCertificateResponse> {
  const clock = deps.clock ?? Date.now;
  const randomSerial = serialSource();
  return (call, callback) => {
    const started = process.hrtime.bigint();
    handle(deps, clock, randomSerial, call).then(
      (response) => {
        observe(deps.metrics, started, "issued", "OK");
        callback(null, response);
      },
      (thrown: unknown) => {
        const { code, details, error } = toGrpcError(thrown);
        const outcome =
          code === 16 ? "unauthenticated" : code === 3 ? "invalid" : code === 8 ? "rate_limited" : "error";
        observe(deps.metrics, started, outcome, String(code));
        if (code === 16) {
          // The last authenticator tried is the token one (a client-cert refusal comes first and says little).
          const failures = error.detail.failures as { code: string }[] | undefined;
          deps.metrics.authnFailures.inc({ reason: failures?.at(-1)?.code ?? error.code });
        }
        // Rate-limit refusals come in storms: counted in the metrics, logged at debug only.
        const level = code === 8 ? "debug" : code === 16 || code === 3 ? "info" : "error";
        deps.log[level](
          {
            err: level === "error" ? error : undefined,
            code: error.code,
            detail: error.detail,
            grpcCode: code,
          },
          "CreateCertificate refused",
        );
        const trailer = retryPushback(error);
        callback({ code, details, ...(trailer ? { metadata: trailer } : {}) });
      },
    );
  };
}

function observe(metrics: CsrMetrics, started: bigint, outcome: string, grpcCode: string): void {
  metrics.requests.inc({ outcome, grpc_code: grpcCode });
  metrics.latency.observe({ outcome }, Number(process.hrtime.bigint() - started) / 1e9);
}

async function handle(
  deps: CsrServiceDeps,
  clock: () => number,
  randomSerial: () => Buffer,
  call: ServerUnaryCall<IstioCertificateRequest, IstioCertificateResponse>,
): Promise<IstioCertificateResponse> {
  const request = call.request;
  const undecodable = requestDecodeError(request);
  if (undecodable) throw undecodable;
  const caller = await deps.authenticate(authnInput(call.metadata, deps.peerCertificates?.(call)));
  const now = clock();
  const authorized = await deps.policy({
    caller,
    csrPem: request.csr,
    validityDurationSeconds: request.validityDuration,
    impersonatedIdentity: impersonatedIdentity(request),
    now,
  });
  const serial = randomSerial();
  const template = { ...authorized.template, serialNumber: serial };
  // Decided once: a remote issuer leaves the leaf to this check, so it must run for the answer it gets.
  const checkLeaf = deps.checkIssued?.() === true;
  const result = await deps.issuer.sign({
    requestId: serial.toString("hex"),
    csrPem: request.csr,
    template,
    ...(checkLeaf ? { leafCheckedByCaller: true } : {}),
  });
  if (result.status !== "issued") {
    throw new MeshsignError("ERR_ISSUER_PENDING", "the issuer has not signed yet; retry later", {
      retry: "transient",
      detail: { reason: result.reason },
    });
  }
  const [leaf, ...intermediates] = onePerElement(result.chain);
  if (leaf === undefined)
    throw new MeshsignError("ERR_CHAIN_INVALID", "failed to parse and verify signed certificate from issuer");
  // What was issued, for the record: the issuer may have cut the asked validity short (a CA at its
  // own expiry, a Vault role's max_ttl), and a certificate holds whole seconds.
  let notAfter = result.notAfter;
  if (checkLeaf) {
    try {
      notAfter = checkIssuedForWorkload({
        chain: [leaf, ...intermediates],
        template,
        identity: authorized.identity,
        rootsPem: deps.roots(),
        now: new Date(clock()),
      }).notAfter;
    } catch (err) {
      deps.metrics.issuedRefused.inc({ check: String((err as MeshsignError).detail.check ?? "parse") });
      throw err;
    }
  }
  notAfter ??= leafNotAfter(leaf) ?? authorized.template.notAfter;
  deps.metrics.issued.inc({ key_algorithm: authorized.keyAlgorithm });
  deps.onIssued?.({
    identity: authorized.identity,
    serial: serial.toString("hex"),
    notAfter: notAfter.getTime(),
    issuedAt: now,
    keyAlgorithm: authorized.keyAlgorithm,
    authenticator: caller.source,
    peer: call.getPeer(),
  });
  return createResponse([leaf, ...intermediates, deps.roots()]);
}

/**
 * The issuer's chain with one certificate per element, as istiod answers:
 * ztunnel parses every element before the roots as exactly one certificate,
 * and an issuer may hand back a concatenated PEM bundle. Elements holding one
 * block (the usual case) are passed through untouched.
 */
function onePerElement(chain: readonly string[]): string[] {
  return chain.flatMap((pem) =>
    pem.indexOf(PEM_BEGIN) !== pem.lastIndexOf(PEM_BEGIN) ? splitPemBundle(pem) : [pem],
  );
}

const PEM_BEGIN = "-----BEGIN ";

/**
 * The leaf's notAfter, for an issuer that does not report it (the in-process CA does), or undefined
 * when it cannot be read. Only the record needs it: an answer that is not checked (`checkIssued`
 * off) is passed on as istiod passes it, and the record then keeps the notAfter that was asked.
 */
function leafNotAfter(pem: string): Date | undefined {
  try {
    const [der] = decodePemAll(pem, "CERTIFICATE");
    return der === undefined ? undefined : parseCertificate(der, { lazyKey: true }).notAfter;
  } catch {
    return undefined;
  }
}

function authnInput(md: Metadata, peerCertificates: Uint8Array[] | undefined): AuthnInput {
  return {
    authorization: md.get("authorization").map(String),
    clusterId: md.get("clusterid").map(String),
    ...(peerCertificates ? { peerCertificates } : {}),
  };
}

/** ztunnel's `ImpersonatedIdentity` metadata; any other shape is refused. */
function impersonatedIdentity(request: IstioCertificateRequest): string | undefined {
  const value = request.metadata?.ImpersonatedIdentity;
  if (value === undefined || value === null || value === "") return undefined;
  if (typeof value !== "string") {
    throw new MeshsignError("ERR_METADATA_INVALID", "metadata.ImpersonatedIdentity must be a string");
  }
  return value;
}

const SERIAL_BYTES = 16;
/** Random bytes fetched from the CSPRNG at once: 256 serials per call instead of one call per request. */
const SERIAL_POOL_BYTES = 4096;

/**
 * Serial numbers of 128 random bits, positive and non-zero in their first byte
 * (RFC 5280 §4.1.2.2; CA/B Forum BR §7.1 wants >= 64 bits of CSPRNG output).
 * Known here so the log needs no parse of the leaf. Still the CSPRNG, read in
 * 4 KiB blocks; each serial is a copy, so no caller holds on to the block.
 */
function serialSource(): () => Buffer {
  const pool = Buffer.allocUnsafeSlow(SERIAL_POOL_BYTES);
  let offset = SERIAL_POOL_BYTES;
  return () => {
    if (offset + SERIAL_BYTES > SERIAL_POOL_BYTES) {
      randomFillSync(pool);
      offset = 0;
    }
    const b = Buffer.allocUnsafe(SERIAL_BYTES);
    pool.copy(b, 0, offset, offset + SERIAL_BYTES);
    offset += SERIAL_BYTES;
    b[0] = (b[0] ?? 0) & 0x7f || 0x01;
    return b;
  };
}
