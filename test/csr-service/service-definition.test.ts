import { create, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { IstioCertificateResponseSchema } from "../../src/gen/istio/v1/auth/ca_pb.js";
import { encodeCertificateResponse, istioCertificateServiceDefinition } from "../../src/csr-service/service-definition.js";

const encodeWithProtobufEs = (certChain: string[]) =>
  Buffer.from(toBinary(IstioCertificateResponseSchema, create(IstioCertificateResponseSchema, { certChain })));

describe("encodeCertificateResponse", () => {
  it("covers every field of IstioCertificateResponse (a new field must be encoded here too)", () => {
    expect(IstioCertificateResponseSchema.fields.map((f) => [f.number, f.name, f.fieldKind, f.scalar])).toEqual([
      [1, "cert_chain", "list", 9 /* ScalarType.STRING */],
    ]);
  });

  it.each([
    ["an empty chain", []],
    ["one empty string", [""]],
    ["a 127-byte and a 128-byte element (varint boundary)", ["a".repeat(127), "b".repeat(128)]],
    ["a 16,384-byte element (3-byte varint)", ["c".repeat(16_384)]],
    ["multi-byte UTF-8", ["é", "日本語", "😀"]],
    ["a PEM chain", ["-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", "x\ny\n"]],
  ])("writes the same bytes as protobuf-es for %s", (_name, chain) => {
    expect(encodeCertificateResponse(create(IstioCertificateResponseSchema, { certChain: chain }))).toEqual(
      encodeWithProtobufEs(chain),
    );
  });

  it("writes the same bytes as protobuf-es for any chain of strings", () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: "binary", maxLength: 400 }), { maxLength: 6 }), (chain) => {
        expect(encodeCertificateResponse(create(IstioCertificateResponseSchema, { certChain: chain }))).toEqual(
          encodeWithProtobufEs(chain),
        );
      }),
      { numRuns: 500 },
    );
  });

  it("is the serializer the service definition gives grpc-js, and the client decodes it back", () => {
    const def = istioCertificateServiceDefinition.CreateCertificate;
    const chain = ["leaf", "intermediate", "root"];
    const bytes = def.responseSerialize(create(IstioCertificateResponseSchema, { certChain: chain }));
    expect(def.responseDeserialize(bytes).certChain).toEqual(chain);
  });
});
