import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { restoreRepeatedHeaders } from "../../src/csr-service/repeated-headers.js";
import { CREATE_CERTIFICATE_PATH } from "../../src/csr-service/service-definition.js";
import {
  IstioCertificateRequestSchema,
  IstioCertificateResponseSchema,
} from "../../src/gen/istio/v1/auth/ca_pb.js";
import { buildCsr, generateKeySync } from "../../src/pki/keys.js";
import { firstGrpcMessage, grpcMessage, rawH2Request } from "../lib/h2-raw-client.js";
import { type InProcessServer, startInProcessServer } from "../lib/inprocess-server.js";
import { RawCaClient } from "../lib/raw-client.js";
import { leafFacts } from "../lib/x509.js";

/*
 * Repeated `clusterid` and `authorization` header fields over the real wire:
 * grpc-go (istiod, istio-csr) keeps one metadata value per field, and Istio's
 * rules depend on it (ExtractClusterID: more than one value is no claim;
 * ExtractBearerToken: the first value with the "Bearer " prefix).
 */

const IDENTITY = "spiffe://cluster.local/ns/default/sa/demo";
let server: InProcessServer;
let raw: RawCaClient;
let csrPem: string;

beforeAll(async () => {
  server = await startInProcessServer();
  raw = new RawCaClient(server.address, server.rootsPem);
  csrPem = buildCsr(generateKeySync({ type: "ec", curve: "P-256" }), { uris: [IDENTITY] });
});

afterAll(async () => {
  raw?.close();
  await server?.close();
});

const token = () => server.devIssuer.mintToken({ namespace: "default", serviceAccount: "demo" });

describe("two clusterid header fields", () => {
  it.each([
    { name: "another cluster, then the local one", values: ["other-cluster", "Kubernetes"] },
    { name: "another cluster twice", values: ["other-cluster", "other-cluster"] },
    { name: "two different foreign clusters", values: ["east", "west"] },
  ])("count as no claim, as Istio's ExtractClusterID has it: $name", async ({ values }) => {
    const outcome = await raw.call({
      csr: csrPem,
      headers: [
        ["authorization", `Bearer ${await token()}`],
        ...values.map((v) => ["clusterid", v] as const),
      ],
    });
    expect(outcome).toMatchObject({ ok: true });
    if (outcome.ok) expect(leafFacts(outcome.chain[0] as string).uris).toEqual([IDENTITY]);
  });

  it("one field holding a comma is one claim, read literally (grpc-go does not split it)", async () => {
    const outcome = await raw.call({
      csr: csrPem,
      headers: [
        ["authorization", `Bearer ${await token()}`],
        ["clusterid", "other-cluster, Kubernetes"],
      ],
    });
    expect(outcome).toMatchObject({ ok: false, code: status.UNAUTHENTICATED });
    if (!outcome.ok) expect(outcome.details).toMatch(/claims to be in cluster "other-cluster, Kubernetes"/);
  });
});

describe("several authorization header fields", () => {
  async function call(authorization: readonly string[]) {
    const body = grpcMessage(
      toBinary(IstioCertificateRequestSchema, create(IstioCertificateRequestSchema, { csr: csrPem })),
    );
    const outcome = await rawH2Request({
      host: "localhost",
      port: server.port,
      ca: server.rootsPem,
      path: CREATE_CERTIFICATE_PATH,
      headers: authorization.map((v) => ["authorization", v] as const),
      body,
    });
    const message = firstGrpcMessage(outcome.data);
    return message ? fromBinary(IstioCertificateResponseSchema, message).certChain : undefined;
  }

  it("the hand-written HTTP/2 client gets a certificate with one Bearer field (the control)", async () => {
    const chain = await call([`Bearer ${await token()}`]);
    expect(chain).toBeDefined();
    expect(leafFacts(chain?.[0] as string).uris).toEqual([IDENTITY]);
  });

  it("Basic before Bearer: the Bearer one is used, as Istio's ExtractBearerToken does", async () => {
    const chain = await call([
      `Basic ${Buffer.from("demo:secret").toString("base64")}`,
      `Bearer ${await token()}`,
    ]);
    expect(chain).toBeDefined();
    expect(leafFacts(chain?.[0] as string).uris).toEqual([IDENTITY]);
  });

  it("Basic alone gets no certificate", async () => {
    expect(await call([`Basic ${Buffer.from("demo:secret").toString("base64")}`])).toBeUndefined();
  });

  it("a bad Bearer before a good one: the first Bearer value is the one judged, as in Istio", async () => {
    expect(await call(["Bearer not-a-jwt", `Bearer ${await token()}`])).toBeUndefined();
  });
});

describe("restoreRepeatedHeaders", () => {
  const cases: {
    name: string;
    raw: string[];
    parsed: Record<string, string>;
    expected: Record<string, string | string[]>;
  }[] = [
    {
      name: "puts two clusterid fields back as two values",
      raw: ["clusterid", "a", "clusterid", "b"],
      parsed: { clusterid: "a, b" },
      expected: { clusterid: ["a", "b"] },
    },
    {
      name: "puts back the authorization fields Node dropped, in order",
      raw: ["authorization", "Basic x", "te", "trailers", "authorization", "Bearer y"],
      parsed: { authorization: "Basic x", te: "trailers" },
      expected: { authorization: ["Basic x", "Bearer y"], te: "trailers" },
    },
    {
      name: "leaves single fields and other headers as Node parsed them",
      raw: ["clusterid", "a, b", "x-other", "1", "x-other", "2"],
      parsed: { clusterid: "a, b", "x-other": "1, 2" },
      expected: { clusterid: "a, b", "x-other": "1, 2" },
    },
  ];
  it.each(cases)("$name", ({ raw: rawHeaders, parsed, expected }) => {
    const headers = { ...parsed };
    restoreRepeatedHeaders(undefined as never, headers, 0, rawHeaders);
    expect(headers).toEqual(expected);
  });
});
