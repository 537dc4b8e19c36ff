import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DistinguishedNameError, parseDistinguishedName } from "../../src/pki/distinguished-name.js";
import { MeshsignError } from "../../src/errors/index.js";
import { readNameConstraints, readUtf8OtherNames } from "../../src/pki/extension-values.js";
import { parseCsrDer } from "../../src/pki/csr.js";
import { buildCsrDer } from "../../src/pki/keys.js";
import { key } from "./helpers.js";

const valid = parseCsrDer(
  buildCsrDer(key({ type: "ec", curve: "P-256" }, "ev-fuzz"), {
    subject: [[{ type: "2.5.4.3", value: "ca" }]],
    emailAddresses: ["a@example.org"],
    otherNames: [{ oid: "1.3.6.1.4.1.311.20.2.3", value: "u@example.org" }],
    nameConstraints: { critical: true, permitted: { dnsDomains: ["example.org"], ipRanges: ["10.0.0.0/8", "fd00::/8"] }, excluded: { emailAddresses: ["x.org"], uriDomains: [".x.org"] } },
  }),
);
const nc = valid.extensions.find((e) => e.oid === "2.5.29.30");
const san = valid.extensions.find((e) => e.oid === "2.5.29.17");

/** Passes when `fn` returns or throws ERR_CSR_DER; anything else (a TypeError, a RangeError) fails. */
function onlyDerErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof MeshsignError) || err.code !== "ERR_CSR_DER") throw new Error(`unexpected error: ${String(err)}`);
  }
}

describe("reading NameConstraints and otherNames from hostile bytes", () => {
  it("round-trips the valid values", () => {
    expect(readNameConstraints(valid.extensions)?.permitted?.ipRanges).toEqual(["10.0.0.0/8", "fd00::/8"]);
    expect(readUtf8OtherNames(valid.extensions)).toEqual([{ oid: "1.3.6.1.4.1.311.20.2.3", value: "u@example.org" }]);
  });

  it("only ever fails with ERR_CSR_DER on a mutated value", () => {
    fc.assert(
      fc.property(fc.nat(), fc.nat(255), fc.boolean(), (pos, byte, truncate) => {
        for (const ext of [nc, san]) {
          if (ext === undefined) throw new Error("fixture lacks the extension");
          const v = new Uint8Array(ext.value);
          v[pos % v.length] = byte;
          const value = truncate ? v.subarray(0, pos % v.length) : v;
          onlyDerErrors(() => readNameConstraints([{ ...ext, oid: "2.5.29.30", value }]));
          onlyDerErrors(() => readUtf8OtherNames([{ ...ext, oid: "2.5.29.17", value }]));
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("parses any string as an RFC 4514 name or refuses it with DistinguishedNameError", () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom("C", "N", "O", "U", "=", ",", "+", ";", "\\", "#", "0", "c", " ", "\"", "é", "1", ".") }), (s) => {
        try {
          const name = parseDistinguishedName(s);
          for (const rdn of name) expect(rdn.length).toBeGreaterThan(0);
        } catch (err) {
          if (!(err instanceof DistinguishedNameError)) throw err;
        }
      }),
      { numRuns: 3000 },
    );
  });
});
