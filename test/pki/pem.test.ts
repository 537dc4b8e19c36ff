import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MeshsignError } from "../../src/errors/index.js";
import { decodePemBlocks, encodePem } from "../../src/pki/pem.js";

/**
 * The plain definition of a PEM body that decodePemBlocks must keep, whatever
 * its implementation (it runs on every CreateCertificate): strip whitespace,
 * then the whole body must match /^[A-Za-z0-9+/]*={0,2}$/ with a length that
 * is a multiple of 4.
 */
function referenceBody(body: string): Uint8Array | undefined {
  const stripped = body.replace(/[ \t\r\n]+/g, "");
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(stripped) || stripped.length % 4 !== 0) return undefined;
  return new Uint8Array(Buffer.from(stripped, "base64"));
}

function decodedBody(body: string): Uint8Array | undefined {
  try {
    const blocks = decodePemBlocks(`-----BEGIN X-----\n${body}\n-----END X-----\n`);
    expect(blocks).toHaveLength(1);
    return blocks[0]?.der;
  } catch (err) {
    expect(err).toBeInstanceOf(MeshsignError);
    expect((err as MeshsignError).code).toBe("ERR_CERT_INVALID");
    return undefined;
  }
}

describe("PEM bodies", () => {
  const cases: [string, string, number[] | undefined][] = [
    ["an empty body", "", []],
    ["one quantum", "AQID", [1, 2, 3]],
    ["two padding characters", "AQ==", [1]],
    ["one padding character", "AQI=", [1, 2]],
    ["CRLF line breaks and trailing spaces", "AQID \r\nBAUG\t\r\n", [1, 2, 3, 4, 5, 6]],
    ["whitespace between the padding characters", "AQ=\n=", [1]],
    ["non-zero bits after the last byte", "AR==", [1]],
    ["three padding characters", "A===", undefined],
    ["padding in the middle", "AQ==AQID", undefined],
    ["a length that is not a multiple of 4", "AQI", undefined],
    ["padding alone", "==", undefined],
    ["the URL-safe alphabet", "AQ-_", undefined],
    ["a form feed", "AQID\fBAUG", undefined],
    ["a non-ASCII character", "AQI\u00e9", undefined],
    ["a NUL character", "AQ\u0000D", undefined],
  ];
  it.each(cases)("decodes %s as the plain definition does", (_name, body, expected) => {
    const got = decodedBody(body);
    expect(got === undefined ? undefined : [...got]).toEqual(expected);
    expect(got === undefined ? undefined : [...got]).toEqual(
      ((r) => (r ? [...r] : undefined))(referenceBody(body)),
    );
  });

  it("decodes every body exactly as the plain definition does (property)", () => {
    const unit = fc.oneof(
      { weight: 8, arbitrary: fc.constantFrom(..."ABCabcxyz0129+/") },
      { weight: 2, arbitrary: fc.constantFrom(" ", "\t", "\r", "\n", "=") },
      { weight: 1, arbitrary: fc.constantFrom("-", "_", "\f", "\u00e9", "!", "\u0000", "\v") },
    );
    const fromBytes = fc
      .tuple(fc.uint8Array({ maxLength: 60 }), fc.nat(), fc.constantFrom(" ", "\r\n", "\n", "\t"))
      .map(([bytes, at, ws]) => {
        const b64 = Buffer.from(bytes).toString("base64");
        const i = at % (b64.length + 1);
        return `${b64.slice(0, i)}${ws}${b64.slice(i)}`;
      });
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit, maxLength: 40 }), fromBytes), (body) => {
        const got = decodedBody(body);
        const want = referenceBody(body);
        expect(got === undefined ? undefined : Buffer.from(got).toString("hex")).toBe(
          want === undefined ? undefined : Buffer.from(want).toString("hex"),
        );
      }),
      { numRuns: 5000 },
    );
  });

  it("gives each block its own bytes, not a view of a shared pool", () => {
    const pem =
      encodePem("CERTIFICATE", Uint8Array.from([7, 8, 9])) + encodePem("CERTIFICATE", Uint8Array.from([1]));
    const [a, b] = decodePemBlocks(pem);
    expect(a?.der.buffer.byteLength).toBe(3);
    expect(b?.der.buffer.byteLength).toBe(1);
    expect([...(a?.der ?? [])]).toEqual([7, 8, 9]);
  });
});
