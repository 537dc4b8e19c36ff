import { Metadata, type ServerUnaryCall, type ServiceError } from "@grpc/grpc-js";
import { pino } from "pino";
import { Registry } from "prom-client";
import { type Authenticator, authenticateChain } from "../../../src/authn/index.js";
import { type CsrServiceDeps, createCertificateHandler } from "../../../src/csr-service/handler.js";
import { CsrMetrics } from "../../../src/csr-service/metrics.js";
import {
  createSvidPolicy,
  DEFAULT_BACKDATE_MS,
  type SvidPolicyOptions,
} from "../../../src/csr-service/policy.js";
import type {
  IstioCertificateRequest,
  IstioCertificateResponse,
} from "../../../src/gen/istio/v1/auth/ca_pb.js";
import type { Issuer, SignRequest } from "../../../src/issuers/issuer.js";
import { POLICY_DEFAULTS } from "./csr-stack.js";

/** What the fake issuer saw: the identity and lifetime meshsign asked it to sign. */
export interface Signed {
  readonly identity: string | undefined;
  readonly durationMs: number;
}

/** The upstream tests' fake signer: records the request, then answers `answer()` or throws it. */
export function fakeIssuer(answer: () => string[] | Error, seen: Signed[]): Issuer {
  return {
    kind: "fake",
    status: () => ({ ready: true, reason: "Ready", message: "" }),
    sign: async (request: SignRequest) => {
      const t = request.template;
      seen.push({
        identity: t.uris?.[0],
        durationMs: t.notAfter.getTime() - t.notBefore.getTime() - DEFAULT_BACKDATE_MS,
      });
      const a = answer();
      if (a instanceof Error) throw a;
      return { status: "issued", chain: a };
    },
  };
}

/**
 * meshsign's CreateCertificate handler with the real authenticator chain and
 * SVID policy around the given fakes, called in memory: the level of the
 * upstream `Server.CreateCertificate` unit tests.
 */
export function handlerUnderTest(options: {
  readonly authenticators: readonly Authenticator[];
  readonly issuer: Issuer;
  readonly roots: string;
  readonly policy?: Partial<SvidPolicyOptions>;
  readonly peerCertificates?: Uint8Array[];
  readonly pods?: SvidPolicyOptions["pods"];
}) {
  const deps: CsrServiceDeps = {
    authenticate: (input) => authenticateChain(options.authenticators, input),
    policy: createSvidPolicy({
      ...POLICY_DEFAULTS,
      ...options.policy,
      ...(options.pods ? { pods: options.pods } : {}),
    }),
    issuer: options.issuer,
    roots: () => options.roots,
    peerCertificates: () => options.peerCertificates,
    metrics: new CsrMetrics(new Registry()),
    log: pino({ level: "silent" }),
  };
  const handler = createCertificateHandler(deps);
  return (
    request: { csr: string; validityDuration?: bigint; metadata?: Record<string, unknown> },
    headers: readonly (readonly [string, string])[] = [],
  ): Promise<{ ok: true; chain: string[] } | { ok: false; code: number; details: string }> =>
    new Promise((resolve) => {
      const metadata = new Metadata();
      for (const [k, v] of headers) metadata.add(k, v);
      const message = {
        csr: request.csr,
        validityDuration: request.validityDuration ?? 0n,
        metadata: request.metadata,
      } as unknown as IstioCertificateRequest;
      handler(
        { request: message, metadata } as unknown as ServerUnaryCall<
          IstioCertificateRequest,
          IstioCertificateResponse
        >,
        (err: Partial<ServiceError> | null, value?: IstioCertificateResponse | null) =>
          resolve(
            err
              ? { ok: false, code: err.code as number, details: err.details ?? "" }
              : { ok: true, chain: value?.certChain ?? [] },
          ),
      );
    });
}
