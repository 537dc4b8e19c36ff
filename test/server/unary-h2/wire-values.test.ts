import { describe, expect, it } from "vitest";
import { isGrpcContentType } from "../../../src/server/unary-h2/lib/content-type.js";
import { encodeGrpcMessage } from "../../../src/server/unary-h2/lib/grpc-message.js";
import { parseGrpcTimeout } from "../../../src/server/unary-h2/lib/grpc-timeout.js";

describe("grpc-timeout", () => {
  it.each([
    ["1H", 3_600_000],
    ["2M", 120_000],
    ["10S", 10_000],
    ["250m", 250],
    ["1500u", 2],
    ["1n", 1],
    ["99999999m", 99_999_999],
  ])("%s is %d ms (sub-millisecond rounded up)", (value, ms) => {
    expect(parseGrpcTimeout(value)).toBe(ms);
  });

  it.each(["", "5", "m", "123456789S", "1.5S", "-1S", "1s", " 1S", "1S "])("%j is not one", (value) => {
    expect(parseGrpcTimeout(value)).toBeUndefined();
  });
});

describe("grpc-message", () => {
  it.each([
    ["plain ASCII", "token expired (ERR_TOKEN_EXPIRED)", "token expired (ERR_TOKEN_EXPIRED)"],
    ["a percent sign", "100%", "100%25"],
    ["a newline", "a\nb", "a%0Ab"],
    ["UTF-8", "é—", "%C3%A9%E2%80%94"],
  ])("%s is percent-encoded as gRPC requires", (_name, message, wire) => {
    expect(encodeGrpcMessage(message)).toBe(wire);
    expect(decodeURIComponent(wire)).toBe(message);
  });
});

describe("content-type", () => {
  it.each([
    ["application/grpc", true],
    ["application/grpc+proto", true],
    ["application/grpc;charset=utf-8", true],
    ["application/grpc-web", false],
    ["application/grpcx", false],
    ["text/plain", false],
    [undefined, false],
  ])("%s is gRPC: %s", (value, yes) => {
    expect(isGrpcContentType(value)).toBe(yes);
  });
});
