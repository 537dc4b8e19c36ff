import { readdirSync, readFileSync } from "node:fs";
import { create, toBinary } from "@bufbuild/protobuf";
import { Metadata, type ServerUnaryCall, type ServiceError, status } from "@grpc/grpc-js";
import fc from "fast-check";
import { pino } from "pino";
import { Registry } from "prom-client";
import { beforeAll, describe, expect, it } from "vitest";
import { authenticateChain, JwksAuthenticator } from "../../src/authn/index.js";
import { createCertificateHandler } from "../../src/csr-service/handler.js";
import { CsrMetrics } from "../../src/csr-service/metrics.js";
import { createSvidPolicy } from "../../src/csr-service/policy.js";
import { decodeCertificateRequest } from "../../src/csr-service/service-definition.js";
import { MeshsignError } from "../../src/errors/index.js";
import {
  type IstioCertificateRequest,
  IstioCertificateRequestSchema,
  type IstioCertificateResponse,
} from "../../src/gen/istio/v1/auth/ca_pb.js";
import type { Issuer } from "../../src/issuers/issuer.js";
import { parseCsr, parseCsrDer } from "../../src/pki/csr.js";
import { buildCsrDer, generateKeySync } from "../../src/pki/keys.js";
import { encodePem } from "../../src/pki/pem.js";
import { ISSUER, jwksOf, kubeClaims, makeKey, NOW_SECONDS, sign } from "../authn/helpers.js";

/*
 * Fuzzing of the parsers of untrusted bytes on the CreateCertificate path,
 * through the real handler: protobuf request decode, the authorization header
 * and JWT/JWS, the CSR PEM and DER readers, the CSR authorization. The corpus
 * (test/fuzz/corpus) is replayed in full, then mutated from, in a bounded run.
 *
 * Two properties hold for every input: the answer is OK, INVALID_ARGUMENT or
 * UNAUTHENTICATED (never INTERNAL, UNKNOWN or a crash), and a certificate is
 * only ever signed for the identity the token proves.
 */

const CORPUS = new URL("./corpus/", import.meta.url);
const IDENTITY = "spiffe://cluster.local/ns/default/sa/demo";
/** Bounded in `npm test`; a longer campaign: `MESHSIGN_FUZZ_RUNS=50000 npx vitest run test/fuzz`. */
const FUZZ_RUNS = Number(process.env.MESHSIGN_FUZZ_RUNS ?? 400);
const ALLOWED = new Set<number>([status.OK, status.INVALID_ARGUMENT, status.UNAUTHENTICATED]);

function corpus(kind: "request" | "csr" | "token"): { name: string; bytes: Buffer }[] {
  const dir = new URL(`${kind}/`, CORPUS);
  return readdirSync(dir)
    .sort()
    .map((name) => ({ name, bytes: readFileSync(new URL(name, dir)) }));
}

let validToken: string;
let validCsrDer: Uint8Array;
let signed: string[];
let call: (body: Uint8Array, authorization: readonly string[]) => Promise<number>;

const body = (csr: string) =>
  toBinary(IstioCertificateRequestSchema, create(IstioCertificateRequestSchema, { csr }));

beforeAll(async () => {
  const key = await makeKey("ES256", "k1");
  validToken = await sign(key, kubeClaims("default", "demo"));
  const jwks = await JwksAuthenticator.create({
    source: { kind: "static", jwks: jwksOf(key) },
    issuer: ISSUER,
    trustDomain: "cluster.local",
    clock: () => NOW_SECONDS * 1000,
  });
  validCsrDer = buildCsrDer(generateKeySync({ type: "ec", curve: "P-256" }), { uris: [IDENTITY] });
  signed = [];
  const issuer: Issuer = {
    kind: "fake",
    status: () => ({ ready: true, reason: "Ready", message: "" }),
    sign: async (request) => {
      signed.push(request.template.uris?.[0] ?? "");
      return { status: "issued", chain: ["LEAF"] };
    },
  };
  const handler = createCertificateHandler({
    authenticate: (input) => authenticateChain([jwks], input),
    policy: createSvidPolicy({
      trustDomain: "cluster.local",
      maxDurationMs: 3_600_000,
      defaultDurationMs: 3_600_000,
      maxCsrBytes: 16 * 1024,
      keyTypes: ["rsa", "ecdsa-p256", "ecdsa-p384", "ed25519"],
      trustedNodeAccounts: [],
    }),
    issuer,
    roots: () => "ROOT",
    metrics: new CsrMetrics(new Registry()),
    log: pino({ level: "silent" }),
    clock: () => NOW_SECONDS * 1000,
  });
  call = (bytes, authorization) =>
    new Promise((resolve, reject) => {
      const metadata = new Metadata();
      for (const v of authorization) metadata.add("authorization", v);
      // What grpc-js does with the bytes of a request: the service definition's deserializer.
      const request = decodeCertificateRequest(Buffer.from(bytes));
      try {
        handler(
          { request, metadata } as unknown as ServerUnaryCall<
            IstioCertificateRequest,
            IstioCertificateResponse
          >,
          (err: Partial<ServiceError> | null) => resolve(err ? (err.code as number) : status.OK),
        );
      } catch (err) {
        reject(err);
      }
    });
});

/** The two properties, for one request. */
async function expectSafe(bytes: Uint8Array, authorization: readonly string[]): Promise<void> {
  const before = signed.length;
  const code = await call(bytes, authorization);
  expect(ALLOWED.has(code), `status ${status[code]}`).toBe(true);
  for (const identity of signed.slice(before)) expect(identity).toBe(IDENTITY);
}

/** Only MeshsignErrors may escape a parser. */
function parsesOrRefuses(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof MeshsignError)) throw err;
  }
}

describe("the corpus, replayed", () => {
  it("request bodies: each answered with an allowed status, with a valid and with no token", async () => {
    for (const { bytes } of corpus("request")) {
      await expectSafe(bytes, [`Bearer ${validToken}`]);
      await expectSafe(bytes, []);
    }
  });

  it("CSRs: the readers refuse with a MeshsignError, and the handler with INVALID_ARGUMENT or UNAUTHENTICATED", async () => {
    for (const { name, bytes } of corpus("csr")) {
      if (name.endsWith(".der")) parsesOrRefuses(() => parseCsrDer(bytes));
      const pem = name.endsWith(".der") ? encodePem("CERTIFICATE REQUEST", bytes) : bytes.toString("utf8");
      parsesOrRefuses(() => parseCsr(pem));
      await expectSafe(body(pem), [`Bearer ${validToken}`]);
    }
  });

  it("authorization values: refused as UNAUTHENTICATED, alone or before the valid token's own", async () => {
    const good = body(encodePem("CERTIFICATE REQUEST", validCsrDer));
    for (const { bytes } of corpus("token")) {
      const value = bytes.toString("utf8");
      expect(await call(good, [value])).toBe(status.UNAUTHENTICATED);
      await expectSafe(good, [value, `Bearer ${validToken}`]);
    }
  });

  it("the valid request the mutations start from is signed (the control)", async () => {
    expect(await call(body(encodePem("CERTIFICATE REQUEST", validCsrDer)), [`Bearer ${validToken}`])).toBe(
      status.OK,
    );
  });
});

/** A byte-level mutation: flip a bit, overwrite, insert, delete or truncate. */
const mutation = fc.oneof(
  fc.record({ op: fc.constant("flip" as const), at: fc.nat(), bit: fc.nat({ max: 7 }) }),
  fc.record({ op: fc.constant("set" as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({
    op: fc.constant("insert" as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
  }),
  fc.record({ op: fc.constant("delete" as const), at: fc.nat(), count: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ op: fc.constant("truncate" as const), at: fc.nat() }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function mutate(input: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  let b = Buffer.from(input);
  for (const m of mutations) {
    const at = b.length === 0 ? 0 : m.at % (b.length + 1);
    if (m.op === "flip" && b.length > 0) b[at % b.length] = (b[at % b.length] as number) ^ (1 << m.bit);
    if (m.op === "set" && b.length > 0) b[at % b.length] = m.value;
    if (m.op === "insert") b = Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
    if (m.op === "delete") b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.count)]);
    if (m.op === "truncate") b = b.subarray(0, at);
  }
  return b;
}

describe("mutations of the corpus and of a valid request (bounded run)", () => {
  it("request bodies, CSR DER and tokens: always an allowed status, certificates only for the token's identity", async () => {
    const requests = corpus("request").map((c) => c.bytes);
    const tokens = corpus("token").map((c) => c.bytes.toString("utf8"));
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("body", "csr", "token", "all"),
        fc.nat(),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        async (target, pick, mutations) => {
          const validBody = body(encodePem("CERTIFICATE REQUEST", validCsrDer));
          let bytes: Uint8Array = validBody;
          let authorization = [`Bearer ${validToken}`];
          if (target === "body" || target === "all") {
            const seeds = [validBody, ...requests];
            bytes = mutate(seeds[pick % seeds.length] as Uint8Array, mutations);
          }
          if (target === "csr" || target === "all") {
            bytes = body(encodePem("CERTIFICATE REQUEST", mutate(validCsrDer, mutations)));
          }
          if (target === "token" || target === "all") {
            const seeds = [`Bearer ${validToken}`, ...tokens];
            const seed = Buffer.from(seeds[pick % seeds.length] as string, "utf8");
            // Only printable ASCII can be a header value on the wire (grpc-js and HTTP/2 refuse the rest).
            authorization = [Buffer.from(mutate(seed, mutations)).toString("latin1").replace(/[^\x20-\x7e]/g, "")];
          }
          await expectSafe(bytes, authorization);
        },
      ),
      { numRuns: FUZZ_RUNS },
    );
  });
});
