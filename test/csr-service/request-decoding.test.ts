import { create, toBinary } from "@bufbuild/protobuf";
import { Client, credentials, Metadata, type ServiceError, status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CREATE_CERTIFICATE_PATH,
  decodeCertificateRequest,
  requestDecodeError,
} from "../../src/csr-service/service-definition.js";
import { IstioCertificateRequestSchema } from "../../src/gen/istio/v1/auth/ca_pb.js";
import { buildCsr, generateKeySync } from "../../src/pki/keys.js";
import { type InProcessServer, startInProcessServer } from "../lib/inprocess-server.js";

/*
 * Request bodies that are not an IstioCertificateRequest at all: the answer is
 * INVALID_ARGUMENT (istio-agent does not retry it), never INTERNAL, and the
 * server keeps serving.
 */

const IDENTITY = "spiffe://cluster.local/ns/default/sa/demo";
let server: InProcessServer;
let client: Client;
let csrPem: string;

beforeAll(async () => {
  server = await startInProcessServer();
  client = new Client(server.address, credentials.createSsl(Buffer.from(server.rootsPem)));
  csrPem = buildCsr(generateKeySync({ type: "ec", curve: "P-256" }), { uris: [IDENTITY] });
});

afterAll(async () => {
  client?.close();
  await server?.close();
});

/** Sends `body` as the request message, byte for byte. */
async function send(body: Uint8Array): Promise<{ code: number; details: string }> {
  const md = new Metadata();
  md.set(
    "authorization",
    `Bearer ${await server.devIssuer.mintToken({ namespace: "default", serviceAccount: "demo" })}`,
  );
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      CREATE_CERTIFICATE_PATH,
      (b: Buffer) => b,
      (b: Buffer) => b,
      Buffer.from(body),
      md,
      { deadline: Date.now() + 10_000 },
      (err: ServiceError | null) =>
        resolve(err ? { code: err.code, details: err.details } : { code: 0, details: "" }),
    );
  });
}

const encoded = (csr: string) =>
  toBinary(IstioCertificateRequestSchema, create(IstioCertificateRequestSchema, { csr }));

/** Field 1 (csr), length-delimited, with these raw bytes as the string. */
const csrField = (bytes: readonly number[]) => new Uint8Array([0x0a, bytes.length, ...bytes]);

describe("an undecodable request body", () => {
  const cases: { name: string; body: () => Uint8Array; message: RegExp }[] = [
    {
      name: "a csr field that is not UTF-8 (0xff 0xfe)",
      body: () => csrField([0xff, 0xfe]),
      message: /not valid UTF-8/,
    },
    {
      name: "a PEM CSR with one byte turned into a lone UTF-8 continuation byte",
      body: () => {
        const b = encoded(csrPem);
        b[b.length - 40] = 0x80;
        return b;
      },
      message: /not valid UTF-8/,
    },
    {
      name: "a truncated length-delimited field",
      body: () => new Uint8Array([0x0a, 0x05, 0x41]),
      message: /undecodable/,
    },
    {
      name: "a field with wire type 7 (does not exist)",
      body: () => new Uint8Array([0x0f, 0x00]),
      message: /undecodable/,
    },
    {
      name: "csr sent as a varint (wrong wire type)",
      body: () => new Uint8Array([0x08, 0x01]),
      message: /undecodable/,
    },
    {
      name: "a varint longer than ten bytes in validity_duration",
      body: () => new Uint8Array([0x18, ...Array(11).fill(0xff), 0x01]),
      message: /undecodable/,
    },
  ];

  it.each(cases)("is INVALID_ARGUMENT, not INTERNAL: $name", async ({ body, message }) => {
    const outcome = await send(body());
    expect(status[outcome.code]).toBe("INVALID_ARGUMENT");
    expect(outcome.details).toMatch(message);
    expect(outcome.details).toMatch(/ERR_REQUEST_MALFORMED/);
  });

  it("the same client gets a certificate for a well-formed body (the control)", async () => {
    expect(await send(encoded(csrPem))).toEqual({ code: 0, details: "" });
  });
});

describe("decodeCertificateRequest", () => {
  it("decodes a well-formed body and marks nothing", () => {
    const request = decodeCertificateRequest(Buffer.from(encoded("x")));
    expect(request.csr).toBe("x");
    expect(requestDecodeError(request)).toBeUndefined();
  });

  it("never throws; an undecodable body comes back empty with its reason", () => {
    const request = decodeCertificateRequest(Buffer.from([0x0a, 0x02, 0xff, 0xfe]));
    expect(request.csr).toBe("");
    expect(requestDecodeError(request)).toMatchObject({ code: "ERR_REQUEST_MALFORMED" });
    // The marker stays out of the message's enumerable fields (logs, JSON).
    expect(Object.keys(request)).not.toContain("undecodable");
  });
});
