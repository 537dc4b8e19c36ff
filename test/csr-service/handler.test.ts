import type { Metadata, ServerUnaryCall, ServiceError } from "@grpc/grpc-js";
import { Metadata as GrpcMetadata } from "@grpc/grpc-js";
import pino from "pino";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import type { Caller } from "../../src/authn/index.js";
import { createCertificateHandler, type IssuedEvent } from "../../src/csr-service/handler.js";
import { CsrMetrics } from "../../src/csr-service/metrics.js";
import type { IstioCertificateRequest, IstioCertificateResponse } from "../../src/gen/istio/v1/auth/ca_pb.js";
import { CaIssuer } from "../../src/issuers/ca/ca-issuer.js";
import type { Issuer, SignRequest } from "../../src/issuers/issuer.js";
import { decodePemAll, generateKeySync, parseCertificate, publicKeySpki } from "../../src/pki/index.js";
import { createRootCa } from "../../src/server/data-dir.js";

/*
 * The handler alone, with fakes around it: what it hands the issuer and the
 * issuance log. The real stack end to end is create-certificate.test.ts.
 */

const IDENTITY = "spiffe://cluster.local/ns/default/sa/demo";

const NOW = 1_750_000_000_000;

interface HarnessOptions {
  /** The issuer behind the handler; default a fake answering "LEAF" (and the notAfter it was asked). */
  readonly issuer?: Issuer;
  readonly publicKeySpki?: Uint8Array;
  /** How long the policy's template lasts; default one hour. */
  readonly durationMs?: number;
  readonly roots?: string;
  /** The issuer is remote: the handler checks its leaf against `roots`. */
  readonly remote?: boolean;
  readonly clock?: () => number;
}

function harness(options: HarnessOptions = {}) {
  const requests: SignRequest[] = [];
  const issued: IssuedEvent[] = [];
  const issuer: Issuer = options.issuer ?? {
    kind: "fake",
    status: () => ({ ready: true, reason: "Ready", message: "" }),
    sign: async (request) => {
      requests.push(request);
      return { status: "issued", chain: ["LEAF"], notAfter: request.template.notAfter };
    },
  };
  const caller: Caller = { identities: [IDENTITY], source: "jwks" };
  const handler = createCertificateHandler({
    authenticate: async () => caller,
    policy: ({ now }) => ({
      identity: IDENTITY,
      keyAlgorithm: "ecdsa-p256",
      template: {
        publicKeySpki: options.publicKeySpki ?? new Uint8Array([1]),
        isCA: false,
        keyUsage: ["digitalSignature"],
        extKeyUsage: ["serverAuth", "clientAuth"],
        uris: [IDENTITY],
        notBefore: new Date(now - 60_000),
        notAfter: new Date(now + (options.durationMs ?? 3_600_000)),
      },
    }),
    issuer,
    roots: () => options.roots ?? "ROOT",
    ...(options.remote === true ? { checkIssued: () => true } : {}),
    metrics: new CsrMetrics(new Registry()),
    log: pino({ level: "silent" }),
    clock: options.clock ?? (() => NOW),
    onIssued: (event) => issued.push(event),
  });
  const call = (): Promise<IstioCertificateResponse> =>
    new Promise((resolve, reject) => {
      const metadata: Metadata = new GrpcMetadata();
      metadata.set("authorization", "Bearer t");
      const request = {
        csr: "CSR",
        validityDuration: 0n,
        metadata: undefined,
      } as unknown as IstioCertificateRequest;
      handler(
        { request, metadata, getPeer: () => "127.0.0.1:50000" } as unknown as ServerUnaryCall<
          IstioCertificateRequest,
          IstioCertificateResponse
        >,
        (err: ServiceError | null | Partial<ServiceError>, value?: IstioCertificateResponse | null) =>
          err ? reject(err) : resolve(value as IstioCertificateResponse),
      );
    });
  return { call, requests, issued };
}

describe("the CreateCertificate handler", () => {
  it("answers the issuer's chain followed by the roots", async () => {
    const { call } = harness();
    expect((await call()).certChain).toEqual(["LEAF", "ROOT"]);
  });

  it("gives every certificate a distinct positive 128-bit serial, across several random blocks", async () => {
    const { call, requests, issued } = harness();
    // 700 serials span three 4 KiB blocks of the serial pool.
    for (let i = 0; i < 700; i++) await call();
    const serials = requests.map((r) => Buffer.from(r.template.serialNumber as Uint8Array));
    expect(serials).toHaveLength(700);
    for (const serial of serials) {
      expect(serial.length).toBe(16);
      // Positive (top bit clear) and minimal in DER (first byte not zero).
      expect(serial[0]).toBeGreaterThanOrEqual(1);
      expect(serial[0]).toBeLessThanOrEqual(0x7f);
    }
    expect(new Set(serials.map((s) => s.toString("hex"))).size).toBe(700);
    // The request id and the issuance log name the same serial the template carries.
    expect(requests.map((r) => r.requestId)).toEqual(serials.map((s) => s.toString("hex")));
    expect(issued.map((e) => e.serial)).toEqual(serials.map((s) => s.toString("hex")));
  });

  it("hands out serials that later requests do not change", async () => {
    const { call, requests } = harness();
    await call();
    const first = Buffer.from(requests[0]?.template.serialNumber as Uint8Array).toString("hex");
    for (let i = 0; i < 300; i++) await call();
    expect(Buffer.from(requests[0]?.template.serialNumber as Uint8Array).toString("hex")).toBe(first);
  });
});

describe("the issuance record (audit log line and history)", () => {
  const leafNotAfter = (pem: string | undefined) =>
    parseCertificate(decodePemAll(pem ?? "", "CERTIFICATE")[0] as Uint8Array).notAfter.getTime();

  async function ca(durationMs: number): Promise<{ issuer: CaIssuer; rootPem: string }> {
    const root = await createRootCa({ algorithm: "ecdsa-p256", durationMs, trustDomain: "cluster.local" });
    const issuer = await CaIssuer.create({ certificatePem: root.certificatePem, privateKeyPem: root.keyPem, origin: "test" });
    return { issuer, rootPem: root.certificatePem };
  }

  it("says the notAfter the certificate has when the CA's own expiry cut it short", async () => {
    const mesh = await ca(30 * 60_000);
    // A clock with milliseconds, as Date.now() has: the certificate holds whole seconds.
    const wall = Date.now();
    const now = wall - (wall % 1000) + 123;
    const { call, issued } = harness({
      issuer: mesh.issuer,
      publicKeySpki: publicKeySpki(generateKeySync({ type: "ec", curve: "P-256" })),
      durationMs: 24 * 3_600_000,
      clock: () => now,
    });
    const response = await call();
    const notAfter = leafNotAfter(response.certChain[0]);
    expect(notAfter).toBeLessThan(now + 31 * 60_000);
    expect(issued.map((e) => e.notAfter)).toEqual([notAfter]);
  });

  it("says the notAfter a remote issuer gave when it issued for less than asked (a Vault role's max_ttl)", async () => {
    const mesh = await ca(24 * 3_600_000);
    const key = generateKeySync({ type: "ec", curve: "P-256" });
    const remote: Issuer = {
      kind: "fake-vault",
      status: () => ({ ready: true, reason: "Ready", message: "" }),
      // Vault answers with the role's max_ttl (10 minutes) instead of the hour asked for.
      sign: (request) =>
        mesh.issuer.sign({ ...request, template: { ...request.template, notAfter: new Date(Date.now() + 10 * 60_000) } }),
    };
    const { call, issued } = harness({
      issuer: remote,
      remote: true,
      roots: mesh.rootPem,
      publicKeySpki: publicKeySpki(key),
      clock: Date.now,
    });
    const response = await call();
    const notAfter = leafNotAfter(response.certChain[0]);
    expect(notAfter).toBeLessThan(Date.now() + 11 * 60_000);
    expect(issued.map((e) => e.notAfter)).toEqual([notAfter]);
  });
});
